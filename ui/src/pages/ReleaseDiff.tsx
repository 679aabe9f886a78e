// Diff two releases: per component added / removed / changed (tag, semver, digest) / unchanged.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import { Badge, Digest, ErrorBox, Loading } from '../components/ui';
import { listReleases } from '../lib/data';
import { Link, navigate, useLocation, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

export function ReleaseDiffPage() {
  useTitle('Release diff');
  const { query } = useLocation();
  const from = query.get('from') ?? '';
  const to = query.get('to') ?? '';
  const releases = useApi(() => listReleases(), []);
  const diff = useApi(
    () => unwrap(api.GET('/api/v1/releases/{ref}/diff/{other}', { params: { path: { ref: from, other: to } } })),
    [from, to],
    {
      enabled: Boolean(from && to),
    },
  );
  const [a, setA] = useState(from);
  const [b, setB] = useState(to);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/releases/diff?from=${encodeURIComponent(a)}&to=${encodeURIComponent(b)}`);
  };
  return (
    <>
      <p className="small">
        <Link to="/releases">Releases</Link> /
      </p>
      <h1>Compare releases</h1>
      <form className="row panel" onSubmit={submit} style={{ alignItems: 'flex-end' }}>
        {(
          [
            ['from', a, setA],
            ['to', b, setB],
          ] as const
        ).map(([label, value, set]) => (
          <div key={label}>
            <label htmlFor={`diff-${label}`}>{label === 'from' ? 'From' : 'To'}</label>
            <select id={`diff-${label}`} value={value} onChange={(e) => set(e.target.value)} required>
              <option value="" disabled>
                choose…
              </option>
              {releases.data?.map((r) => (
                <option key={r.id} value={r.name}>
                  {r.name} ({r.status})
                </option>
              ))}
            </select>
          </div>
        ))}
        <button type="submit" className="primary">
          Compare
        </button>
      </form>
      <ErrorBox error={diff.error} onRetry={diff.reload} />
      {from && to && diff.loading ? <Loading /> : null}
      {diff.data && from && to ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">
              Changes from {diff.data.from.name} to {diff.data.to.name}
            </caption>
            <thead>
              <tr>
                <th scope="col">Component</th>
                <th scope="col">Change</th>
                <th scope="col">{diff.data.from.name}</th>
                <th scope="col">{diff.data.to.name}</th>
              </tr>
            </thead>
            <tbody>
              {diff.data.components.map((c) => (
                <tr key={c.componentId}>
                  <td>{c.component}</td>
                  <td>
                    <Badge
                      status={
                        c.change === 'unchanged'
                          ? 'skipped'
                          : c.change === 'removed'
                            ? 'failed'
                            : c.change === 'added'
                              ? 'succeeded'
                              : 'pending'
                      }
                      label={c.change === 'changed' ? `changed: ${c.fields.join(', ')}` : c.change}
                    />
                  </td>
                  {[c.from, c.to].map((v, i) => (
                    <td key={i === 0 ? 'from' : 'to'}>
                      {v ? (
                        <>
                          {v.tag ?? '—'} {v.semver ? <span className="muted">({v.semver})</span> : null}
                          <br />
                          <Digest value={v.digest} />
                        </>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
