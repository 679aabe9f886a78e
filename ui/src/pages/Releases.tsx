// Releases: newest first, filterable by status; links to detail, create and diff.
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import { StatusFilter } from '../components/ListFilters';
import { ActionButton, Badge, ErrorBox, Loading, RoleNote, Time } from '../components/ui';
import { useSession } from '../lib/auth';
import { Link, navigate, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const STATUSES = ['draft', 'ready', 'deployed', 'deprecated'] as const;

export function Releases() {
  useTitle('Releases');
  const [status, setStatus] = useState<(typeof STATUSES)[number] | ''>('');
  const state = useApi(
    () => unwrap(api.GET('/api/v1/releases', { params: { query: { limit: 200, ...(status ? { status } : {}) } } })),
    [status],
  );
  const [picked, setPicked] = useState<string[]>([]);
  const canWrite = useSession().hasRole('release_manager');
  const toggle = (name: string) => setPicked((p) => (p.includes(name) ? p.filter((x) => x !== name) : [...p.slice(-1), name]));

  return (
    <>
      <div className="spread">
        <h1>Releases</h1>
        <div className="row">
          <button
            type="button"
            disabled={picked.length !== 2}
            onClick={() => navigate(`/releases/diff?from=${encodeURIComponent(picked[0]!)}&to=${encodeURIComponent(picked[1]!)}`)}
          >
            Diff selected ({picked.length}/2)
          </button>
          {canWrite ? (
            <Link className="button primary" to="/releases/new">
              New release
            </Link>
          ) : null}
        </div>
      </div>
      <RoleNote roles={['release_manager']} what="Creating, editing and deleting releases" />
      <StatusFilter id="status-filter" statuses={STATUSES} value={status} onChange={setStatus} />
      <ErrorBox error={state.error} onRetry={state.reload} />
      {state.loading && !state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap cards">
          <table>
            <thead>
              <tr>
                <th scope="col">
                  <span className="sr-only">Select for diff</span>
                </th>
                <th scope="col">Release</th>
                <th scope="col">Status</th>
                <th scope="col">Components</th>
                <th scope="col">Source</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${r.name} for diff`}
                      checked={picked.includes(r.name)}
                      onChange={() => toggle(r.name)}
                    />
                  </td>
                  <td data-label="Release">
                    <Link to={`/releases/${r.name}`}>{r.displayName || r.name}</Link>
                    {r.displayName && r.displayName !== r.name ? <div className="small muted">{r.name}</div> : null}
                  </td>
                  <td data-label="Status">
                    <Badge status={r.status} />
                  </td>
                  <td className="small" data-label="Components">
                    {r.components.map((c) => `${c.component}${c.tag ? `:${c.tag}` : ''}`).join(', ')}
                  </td>
                  <td className="small" data-label="Source">
                    {r.sourceRef?.commitSha ? <code className="full-id">{r.sourceRef.commitSha}</code> : '—'}
                  </td>
                  <td data-label="Created">
                    <Time at={r.createdAt} />
                  </td>
                  <td>
                    {r.status === 'draft' && canWrite ? (
                      <div className="row">
                        <Link className="button" to={`/releases/${encodeURIComponent(r.name)}/edit`} aria-label={`Edit draft ${r.name}`}>
                          Edit
                        </Link>
                        <ActionButton
                          className="danger"
                          title={`Delete draft ${r.name}`}
                          onAction={async () => {
                            if (!window.confirm(`Delete draft ${r.name}?`)) return;
                            await unwrap(api.DELETE('/api/v1/releases/{ref}', { params: { path: { ref: r.id } } }));
                            await state.reload();
                          }}
                        >
                          Delete
                        </ActionButton>
                      </div>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.data.items.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No releases.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}
