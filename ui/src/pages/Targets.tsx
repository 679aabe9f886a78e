// Targets: health, current digest, drift against the environment's release; detail with connection and labels.
import { useMemo, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { DriftRow, Release } from '../api/types';
import { NewTarget } from '../components/NewTarget';
import { ActionButton, Badge, Digest, ErrorBox, Json, Loading, Time } from '../components/ui';
import { useSession } from '../lib/auth';
import { listDrift, listEnvironments, listPromotions, listReleases, listTargets } from '../lib/data';
import { Link, useLocation, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

/** The release each environment last deployed (by promotion), for drift. */
async function releasesByEnv(): Promise<Map<string, Release>> {
  const [promotions, releases] = await Promise.all([listPromotions({ status: 'deployed' }), listReleases()]);
  const out = new Map<string, Release>();
  for (const p of [...promotions].sort((a, b) => a.updatedAt.localeCompare(b.updatedAt))) {
    const r = releases.find((x) => x.id === p.releaseId);
    if (r) out.set(p.targetEnvironmentId, r);
  }
  return out;
}

export function Targets() {
  useTitle('Targets');
  const { query } = useLocation();
  const [env, setEnv] = useState(query.get('environment') ?? '');
  const [filter, setFilter] = useState('');
  const state = useApi(async () => {
    const [envs, targets, running, drift] = await Promise.all([
      listEnvironments(),
      listTargets(env || undefined),
      releasesByEnv(),
      listDrift(env || undefined).catch(() => undefined),
    ]);
    return { envs, targets, running, drift };
  }, [env]);
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return (state.data?.targets ?? []).filter((t) => !f || t.name.includes(f) || Object.values(t.labels).some((v) => v.includes(f)));
  }, [state.data, filter]);

  return (
    <>
      <h1>Targets</h1>
      {state.data ? <NewTarget envs={state.data.envs} onCreated={state.reload} /> : null}
      <div className="row">
        <div className="field">
          <label htmlFor="t-env">Environment</label>
          <select id="t-env" value={env} onChange={(e) => setEnv(e.target.value)}>
            <option value="">all</option>
            {state.data?.envs.map((e) => (
              <option key={e.id} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="t-filter">Filter by name or label</label>
          <input id="t-filter" type="search" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </div>
      </div>
      <ErrorBox error={state.error} />
      {!state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Target</th>
                <th scope="col">Environment</th>
                <th scope="col">Type</th>
                <th scope="col">Health</th>
                <th scope="col">Current digest</th>
                <th scope="col">Drift</th>
                <th scope="col">Labels</th>
              </tr>
            </thead>
            <tbody>
              {rows.slice(0, 500).map((t) => {
                const drift = Boolean(state.data?.drift?.get(t.id)?.driftDetected);
                return (
                  <tr key={t.id}>
                    <td>
                      <Link to={`/targets/${t.id}`}>{t.name}</Link>
                    </td>
                    <td>{t.environmentName}</td>
                    <td className="small">{t.targetType}</td>
                    <td>
                      <Badge status={t.healthStatus} />
                    </td>
                    <td>
                      <Digest value={t.currentDigest} />
                    </td>
                    <td>{drift ? <Badge status="drift" label="drift" /> : <span className="muted">—</span>}</td>
                    <td className="small">
                      {Object.entries(t.labels)
                        .map(([k, v]) => `${k}=${v}`)
                        .join(', ')}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {rows.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No targets.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}

export function TargetDetail({ ref_ }: { ref_: string }) {
  const state = useApi(async () => {
    const target = await unwrap(api.GET('/api/v1/targets/{ref}', { params: { path: { ref: ref_ } } }));
    const [running, drift] = await Promise.all([releasesByEnv(), listDrift(target.environmentName).catch(() => undefined)]);
    return { target, release: running.get(target.environmentId), verdict: drift?.get(target.id) };
  }, [ref_]);
  useTitle(`Target ${state.data?.target.name ?? ''}`);
  if (state.error) return <ErrorBox error={state.error} />;
  if (!state.data) return <Loading />;
  const { target: t, release, verdict } = state.data;
  const drift = Boolean(verdict?.driftDetected);
  return (
    <>
      <p className="small">
        <Link to="/targets">Targets</Link> /
      </p>
      <h1>
        {t.name} <Badge status={t.healthStatus} /> {drift ? <Badge status="drift" label="drift" /> : null}
      </h1>
      <div className="grid2">
        <div className="panel">
          <dl className="kv">
            <dt>Environment</dt>
            <dd>{t.environmentName}</dd>
            <dt>Type</dt>
            <dd>{t.targetType}</dd>
            <dt>Current digest</dt>
            <dd>
              <Digest value={t.currentDigest} full />
            </dd>
            <dt>Updated</dt>
            <dd>
              <Time at={t.updatedAt} />
            </dd>
          </dl>
        </div>
        <div className="panel">
          <h2 style={{ marginTop: 0 }}>Drift</h2>
          {verdict ? <DriftDetail verdict={verdict} environment={t.environmentName} onChecked={state.reload} /> : null}
          {release ? (
            <>
              <p>
                Gantry last deployed release <Link to={`/releases/${release.name}`}>{release.name}</Link> for {t.environmentName}, with
                digests:
              </p>
              <ul className="plain">
                {release.components.map((c) => (
                  <li key={c.componentId}>
                    {c.component} <Digest value={c.digest} full />
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p className="muted">No release recorded for this environment yet.</p>
          )}
        </div>
      </div>
      <h2>Connection</h2>
      <Json value={t.connection} />
      <h2>Labels</h2>
      <Json value={t.labels} />
    </>
  );
}

function DriftDetail({ verdict, environment, onChecked }: { verdict: DriftRow; environment: string; onChecked: () => Promise<void> }) {
  const { hasRole } = useSession();
  return (
    <div data-testid="drift-detail">
      <p>
        {verdict.driftDetected ? <Badge status="drift" label="drift detected" /> : <Badge status="succeeded" label="no drift" />} last
        checked <Time at={verdict.checkedAt} />
        {verdict.stickerHash ? (
          <>
            {' '}
            · sticker <Digest value={verdict.stickerHash} />
          </>
        ) : null}
      </p>
      {verdict.drift.length ? (
        <table>
          <caption className="sr-only">Drift details</caption>
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">What</th>
              <th scope="col">Expected</th>
              <th scope="col">Actual</th>
            </tr>
          </thead>
          <tbody>
            {verdict.drift.map((d) => (
              <tr key={`${d.component}-${d.field}`}>
                <td>{d.component ?? '—'}</td>
                <td>{d.field}</td>
                <td>
                  <Digest value={d.expected} />
                </td>
                <td>
                  <Digest value={d.actual} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {hasRole('release_manager', 'deployer') ? (
        <ActionButton
          onAction={async () => {
            await unwrap(api.POST('/api/v1/drift/check', { body: { environment } }));
            await onChecked();
          }}
        >
          Check drift at the next heartbeat
        </ActionButton>
      ) : null}
    </div>
  );
}
