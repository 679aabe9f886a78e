// Releases: newest first, filterable by status; links to detail, create and diff.
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import { Badge, ErrorBox, Loading, Time } from '../components/ui';
import { Link, navigate, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const STATUSES = ['', 'draft', 'ready', 'deployed', 'deprecated'] as const;

export function Releases() {
  useTitle('Releases');
  const [status, setStatus] = useState<(typeof STATUSES)[number]>('');
  const state = useApi(
    () => unwrap(api.GET('/api/v1/releases', { params: { query: { limit: 200, ...(status ? { status } : {}) } } })),
    [status],
  );
  const [picked, setPicked] = useState<string[]>([]);
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
          <Link className="button primary" to="/releases/new">
            New release
          </Link>
        </div>
      </div>
      <div className="field">
        <label htmlFor="status-filter">Status</label>
        <select id="status-filter" value={status} onChange={(e) => setStatus(e.target.value as (typeof STATUSES)[number])}>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s || 'any'}
            </option>
          ))}
        </select>
      </div>
      <ErrorBox error={state.error} />
      {state.loading && !state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
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
                  <td>
                    <Link to={`/releases/${r.name}`}>{r.displayName || r.name}</Link>
                    {r.displayName && r.displayName !== r.name ? <div className="small muted">{r.name}</div> : null}
                  </td>
                  <td>
                    <Badge status={r.status} />
                  </td>
                  <td className="small">{r.components.map((c) => `${c.component}${c.tag ? `:${c.tag}` : ''}`).join(', ')}</td>
                  <td className="small">{r.sourceRef?.commitSha ? <code>{r.sourceRef.commitSha.slice(0, 10)}</code> : '—'}</td>
                  <td>
                    <Time at={r.createdAt} />
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
