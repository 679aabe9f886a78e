// Agents: status, last heartbeat, version and capabilities.
import { api, unwrap } from '../api/client';
import { FullId, When } from '../components/format';
import { JoinToken } from '../components/JoinToken';
import { Badge, ErrorBox, Json, Loading } from '../components/ui';
import { listTargets } from '../lib/data';
import { Link, useTitle } from '../lib/router';
import { allPages, useApi } from '../lib/useApi';

export function Agents() {
  useTitle('Agents');
  const state = useApi(
    () => allPages((cursor) => unwrap(api.GET('/api/v1/agents', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
    [],
    { pollMs: 10_000 },
  );
  return (
    <>
      <h1>Agents</h1>
      <p className="hint">
        Agents register with a one-time join token (<code>gantry agent run --join-token …</code>) and heartbeat; they are online while
        heartbeats arrive in time.
      </p>
      <JoinToken />
      <ErrorBox error={state.error} />
      {!state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Status</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Version</th>
                <th scope="col">Capabilities</th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((a) => (
                <tr key={a.id}>
                  <td>
                    <Link to={`/agents/${a.id}`}>{a.name}</Link>
                  </td>
                  <td>
                    <Badge status={a.revokedAt ? 'cancelled' : a.status} label={a.revokedAt ? 'revoked' : a.status} />
                  </td>
                  <td>
                    <When at={a.lastHeartbeat} />
                  </td>
                  <td>{a.version}</td>
                  <td className="small">{Object.keys(a.capabilities).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.data.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No agents registered.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}

export function AgentDetail({ ref_ }: { ref_: string }) {
  const state = useApi(
    async () => {
      const [agent, targets] = await Promise.all([
        unwrap(api.GET('/api/v1/agents/{ref}', { params: { path: { ref: ref_ } } })),
        listTargets(),
      ]);
      // The targets whose latest successful deployment this agent ran: it serves and observes them.
      return { agent, serves: targets.filter((t) => t.servedBy?.kind === 'agent' && t.servedBy.id === agent.id) };
    },
    [ref_],
    { pollMs: 10_000 },
  );
  useTitle(`Agent ${state.data?.agent.name ?? ''}`);
  if (state.error) return <ErrorBox error={state.error} />;
  if (!state.data) return <Loading />;
  const { agent: a, serves } = state.data;
  return (
    <>
      <p className="small">
        <Link to="/agents">Agents</Link> /
      </p>
      <h1>
        {a.name} <Badge status={a.status} />
      </h1>
      <div className="panel">
        <dl className="kv">
          <dt>Id</dt>
          <dd>
            <FullId id={a.id} />
          </dd>
          <dt>Version</dt>
          <dd>{a.version}</dd>
          <dt>Last heartbeat</dt>
          <dd>
            <When at={a.lastHeartbeat} />
          </dd>
          <dt>Registered</dt>
          <dd>
            <When at={a.createdAt} />
          </dd>
          {a.revokedAt ? (
            <>
              <dt>Revoked</dt>
              <dd>
                <When at={a.revokedAt} />
              </dd>
            </>
          ) : null}
        </dl>
      </div>
      <h2>Targets it serves</h2>
      {serves.length === 0 ? <p className="muted">None yet: an agent serves the targets whose latest deployment it ran.</p> : null}
      {serves.length ? (
        <ul className="plain" data-testid="agent-serves">
          {serves.map((t) => (
            <li key={t.id}>
              <Link to={`/targets/${t.id}`}>{t.name}</Link> <span className="muted small">{t.environmentName}</span>{' '}
              {t.currentRelease ? <Link to={`/releases/${t.currentRelease.name}`}>{t.currentRelease.name}</Link> : null}{' '}
              {t.observation.state === 'unobservable' ? <Badge status="unknown" label="unobservable" /> : null}
            </li>
          ))}
        </ul>
      ) : null}
      <h2>Capabilities</h2>
      <Json value={a.capabilities} />
    </>
  );
}
