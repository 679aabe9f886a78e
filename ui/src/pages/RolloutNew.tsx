// Start an A/B release or a canary: the variations (release and where the router reaches it), the router on
// a target, the stages, header and sticky splits, and for a canary the Prometheus analysis. The server
// validates the whole spec; its problem details are shown as they come.
import { type FormEvent, useState } from 'react';
import type { Rollout } from '../api/types';
import { ErrorBox, Loading, RoleNote } from '../components/ui';
import { useSession } from '../lib/auth';
import { listEnvironments, listReleases, listTargets } from '../lib/data';
import { startRollout } from '../lib/rollouts';
import { navigate, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

/** "10.0.0.1:8080, 10.0.0.2:8080" → servers. */
export function parseServers(text: string): { host: string; port: number }[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.lastIndexOf(':');
      return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
    });
}

const words = (text: string) => text.split(/\s+/).filter(Boolean);

export function RolloutNew() {
  useTitle('New rollout');
  const canWrite = useSession().hasRole('release_manager', 'deployer');
  const lists = useApi(async () => ({ envs: await listEnvironments(), targets: await listTargets(), releases: await listReleases() }), []);
  const [f, setF] = useState({
    name: '',
    kind: 'ab' as 'ab' | 'canary',
    environment: '',
    routerTarget: '',
    routerType: 'nginx',
    path: '',
    socket: '',
    validate: '',
    reload: '',
    stableName: 'a',
    stableRelease: '',
    stableServers: '',
    candidateName: 'b',
    candidateRelease: '',
    candidateServers: '',
    weights: '10, 50, 100',
    hold: '60',
    approval: true,
    header: '',
    headerValue: '',
    cookie: '',
    promUrl: '',
    window: '1m',
    metricQuery:
      'sum(rate(haproxy_server_http_responses_total{proxy="gantry_${route}",server=~"${variation}_[0-9]+",code="5xx"}[${window}])) / sum(rate(haproxy_server_http_responses_total{proxy="gantry_${route}",server=~"${variation}_[0-9]+"}[${window}]))',
    metricMax: '0.01',
    reason: '',
  });
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  if (!canWrite) return <RoleNote roles={['release_manager', 'deployer']} what="start a rollout" />;
  if (!lists.data) return lists.error ? <ErrorBox error={lists.error} onRetry={lists.reload} /> : <Loading />;
  const { envs, targets, releases } = lists.data;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const weights = f.weights
        .split(',')
        .map((w) => w.trim())
        .filter(Boolean)
        .map(Number);
      const body = {
        name: f.name,
        kind: f.kind,
        environment: f.environment,
        routerTarget: f.routerTarget,
        router: {
          type: f.routerType,
          ...(f.path ? { path: f.path } : {}),
          ...(f.socket ? { socket: f.socket } : {}),
          ...(f.validate ? { validateCommand: words(f.validate) } : {}),
          ...(f.reload ? { reloadCommand: words(f.reload) } : {}),
        },
        variations: [
          { name: f.stableName, release: f.stableRelease, servers: parseServers(f.stableServers) },
          { name: f.candidateName, release: f.candidateRelease, servers: parseServers(f.candidateServers) },
        ],
        stages: weights.map((weight) => ({ weight, holdSeconds: Number(f.hold), approval: f.approval })),
        ...(f.header ? { header: { name: f.header, value: f.headerValue, variation: f.candidateName } } : {}),
        ...(f.cookie ? { sticky: { cookie: f.cookie } } : {}),
        ...(f.kind === 'canary' || f.promUrl
          ? {
              analysis: {
                source: { type: 'prometheus', url: f.promUrl },
                window: f.window,
                metrics: [{ name: 'error-rate', query: f.metricQuery, max: Number(f.metricMax) }],
              },
            }
          : {}),
        reason: f.reason,
      };
      const r: Rollout = await startRollout(body);
      navigate(`/rollouts/${r.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} aria-label="New rollout">
      <h1>New rollout</h1>
      <p className="muted">
        The stable variation serves everything at the start; the candidate gets each stage's share. Details: docs/progressive-delivery.md.
      </p>
      <div className="row">
        <div className="field">
          <label htmlFor="ro-name">Name</label>
          <input id="ro-name" value={f.name} onChange={set('name')} required placeholder="checkout-canary" />
        </div>
        <div className="field">
          <label htmlFor="ro-kind">Kind</label>
          <select
            id="ro-kind"
            value={f.kind}
            onChange={(e) => {
              const kind = e.target.value as 'ab' | 'canary';
              setF({ ...f, kind, weights: kind === 'canary' ? '5, 25, 50, 100' : '10, 50, 100', approval: kind === 'ab' });
            }}
          >
            <option value="ab">A/B release</option>
            <option value="canary">canary (judged by metrics)</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="ro-env">Environment</label>
          <select id="ro-env" value={f.environment} onChange={set('environment')} required>
            <option value="">choose…</option>
            {envs.map((e) => (
              <option key={e.id} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <fieldset>
        <legend>Variations</legend>
        {(['stable', 'candidate'] as const).map((v) => (
          <div className="row" key={v}>
            <div className="field">
              <label htmlFor={`ro-${v}-name`}>{v === 'stable' ? 'Stable' : 'Candidate'} name</label>
              <input id={`ro-${v}-name`} value={f[`${v}Name`]} onChange={set(`${v}Name`)} required />
            </div>
            <div className="field">
              <label htmlFor={`ro-${v}-release`}>{v === 'stable' ? 'Stable' : 'Candidate'} release</label>
              <select id={`ro-${v}-release`} value={f[`${v}Release`]} onChange={set(`${v}Release`)} required>
                <option value="">choose…</option>
                {releases.map((r) => (
                  <option key={r.id} value={r.name}>
                    {r.name}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={`ro-${v}-servers`}>{v === 'stable' ? 'Stable' : 'Candidate'} servers (host:port, comma-separated)</label>
              <input id={`ro-${v}-servers`} value={f[`${v}Servers`]} onChange={set(`${v}Servers`)} required placeholder="10.0.1.11:8080" />
            </div>
          </div>
        ))}
      </fieldset>
      <fieldset>
        <legend>Router</legend>
        <div className="row">
          <div className="field">
            <label htmlFor="ro-target">Router target (its agent applies the split)</label>
            <select id="ro-target" value={f.routerTarget} onChange={set('routerTarget')} required>
              <option value="">choose…</option>
              {targets.map((t) => (
                <option key={t.id} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="ro-rtype">Router type</label>
            <select id="ro-rtype" value={f.routerType} onChange={set('routerType')}>
              <option value="nginx">nginx (split file)</option>
              <option value="haproxy">HAProxy (runtime API)</option>
              <option value="exec">exec (a router program)</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="ro-path">{f.routerType === 'haproxy' ? 'Backend file' : 'Split file'}</label>
            <input id="ro-path" value={f.path} onChange={set('path')} placeholder="/etc/nginx/gantry/checkout.split.json" />
          </div>
          {f.routerType === 'haproxy' ? (
            <div className="field">
              <label htmlFor="ro-socket">Runtime API socket</label>
              <input id="ro-socket" value={f.socket} onChange={set('socket')} placeholder="/run/haproxy/admin.sock" />
            </div>
          ) : null}
        </div>
        <div className="row">
          <div className="field">
            <label htmlFor="ro-validate">Validate command (optional)</label>
            <input id="ro-validate" value={f.validate} onChange={set('validate')} placeholder="haproxy -c -f /etc/haproxy/haproxy.cfg" />
          </div>
          <div className="field">
            <label htmlFor="ro-reload">Reload command (optional)</label>
            <input id="ro-reload" value={f.reload} onChange={set('reload')} placeholder="systemctl reload haproxy" />
          </div>
        </div>
      </fieldset>
      <fieldset>
        <legend>Stages</legend>
        <div className="row">
          <div className="field">
            <label htmlFor="ro-weights">Candidate's share per stage (%)</label>
            <input id="ro-weights" value={f.weights} onChange={set('weights')} required />
          </div>
          <div className="field">
            <label htmlFor="ro-hold">Hold per stage (seconds)</label>
            <input id="ro-hold" type="number" min={0} value={f.hold} onChange={set('hold')} required />
          </div>
          <div className="field">
            <label htmlFor="ro-approval">
              <input id="ro-approval" type="checkbox" checked={f.approval} onChange={(e) => setF({ ...f, approval: e.target.checked })} />{' '}
              Wait for an approval at each stage
            </label>
          </div>
        </div>
        <div className="row">
          <div className="field">
            <label htmlFor="ro-header">Header that sends a request to the candidate (optional)</label>
            <input id="ro-header" value={f.header} onChange={set('header')} placeholder="X-Variation" />
          </div>
          <div className="field">
            <label htmlFor="ro-header-value">…when it equals</label>
            <input id="ro-header-value" value={f.headerValue} onChange={set('headerValue')} />
          </div>
          <div className="field">
            <label htmlFor="ro-cookie">Sticky cookie (optional)</label>
            <input id="ro-cookie" value={f.cookie} onChange={set('cookie')} placeholder="variation" />
          </div>
        </div>
      </fieldset>
      {f.kind === 'canary' ? (
        <fieldset>
          <legend>Analysis (Prometheus)</legend>
          <div className="row">
            <div className="field">
              <label htmlFor="ro-prom">Prometheus URL</label>
              <input id="ro-prom" value={f.promUrl} onChange={set('promUrl')} required placeholder="http://prometheus:9090" />
            </div>
            <div className="field">
              <label htmlFor="ro-window">Window</label>
              <input id="ro-window" value={f.window} onChange={set('window')} required />
            </div>
            <div className="field">
              <label htmlFor="ro-max">Error rate at most</label>
              <input id="ro-max" value={f.metricMax} onChange={set('metricMax')} required />
            </div>
          </div>
          <div className="field">
            <label htmlFor="ro-query">
              Error-rate query (PromQL; ${'{variation}'}, ${'{route}'}, ${'{window}'} are filled in)
            </label>
            <textarea id="ro-query" value={f.metricQuery} onChange={set('metricQuery')} rows={3} />
          </div>
        </fieldset>
      ) : null}
      <div className="field">
        <label htmlFor="ro-reason">Reason (recorded in the evidence)</label>
        <input id="ro-reason" value={f.reason} onChange={set('reason')} />
      </div>
      <ErrorBox error={error} title="The server refused the rollout" />
      <button type="submit" disabled={busy} aria-busy={busy}>
        Start rollout
      </button>
    </form>
  );
}
