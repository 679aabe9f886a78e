// Create a release from components: per component choose a tag (from its synced versions), a channel,
// a digest, or the latest of its default channel; optional source reference.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { ComponentVersion } from '../api/types';
import { ErrorBox, Loading } from '../components/ui';
import { Link, navigate, useTitle } from '../lib/router';
import { allPages, useApi } from '../lib/useApi';

type By = 'latest' | 'tag' | 'channel' | 'digest';
interface Row {
  key: number;
  component: string;
  by: By;
  value: string;
}

function VersionPicker({
  component,
  value,
  onChange,
  id,
}: {
  component: string;
  value: string;
  onChange: (v: string) => void;
  id: string;
}) {
  const state = useApi(
    () => unwrap(api.GET('/api/v1/components/{ref}/versions', { params: { path: { ref: component }, query: { limit: 100 } } })),
    [component],
    { enabled: Boolean(component) },
  );
  const versions: ComponentVersion[] = state.data?.items ?? [];
  return (
    <>
      <input id={id} list={`${id}-list`} value={value} onChange={(e) => onChange(e.target.value)} placeholder="1.2.0" required />
      <datalist id={`${id}-list`}>
        {versions.map((v) => (
          <option key={v.id} value={v.tag}>
            {v.semver ?? ''} {v.channel ?? ''} {v.digest.slice(0, 19)}
          </option>
        ))}
      </datalist>
    </>
  );
}

export function ReleaseNew() {
  useTitle('New release');
  const components = useApi(
    () => allPages((cursor) => unwrap(api.GET('/api/v1/components', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
    [],
  );
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [rows, setRows] = useState<Row[]>([{ key: 1, component: '', by: 'tag', value: '' }]);
  const [src, setSrc] = useState({ repository: '', commitSha: '', branch: '', ciRunUrl: '' });
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const update = (key: number, patch: Partial<Row>) => setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const sourceRef = Object.fromEntries(Object.entries(src).filter(([, v]) => v.trim() !== ''));
    try {
      const created = await unwrap(
        api.POST('/api/v1/releases', {
          body: {
            name,
            ...(displayName ? { displayName } : {}),
            components: rows.map((r) => ({ component: r.component, ...(r.by === 'latest' ? {} : { [r.by]: r.value.trim() }) })),
            ...(Object.keys(sourceRef).length ? { sourceRef } : {}),
          },
        }),
      );
      navigate(`/releases/${created.name}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (components.error) return <ErrorBox error={components.error} />;
  const list = components.data;
  if (!list) return <Loading />;
  return (
    <>
      <p className="small">
        <Link to="/releases">Releases</Link> /
      </p>
      <h1>New release</h1>
      {list.length === 0 ? (
        <div className="alert warn">
          No components yet: add them under <Link to="/admin/components">Admin → Components</Link>.
        </div>
      ) : null}
      <form onSubmit={submit} className="panel">
        <div className="grid2">
          <div className="field">
            <label htmlFor="rel-name">Name</label>
            <input id="rel-name" value={name} onChange={(e) => setName(e.target.value)} required placeholder="2026.11.25-1" />
          </div>
          <div className="field">
            <label htmlFor="rel-display">Display name (optional)</label>
            <input id="rel-display" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
          </div>
        </div>
        <fieldset>
          <legend>Components</legend>
          {rows.map((r, i) => (
            <div key={r.key} className="row" style={{ alignItems: 'flex-end' }}>
              <div>
                <label htmlFor={`c-${r.key}`}>Component {i + 1}</label>
                <select id={`c-${r.key}`} value={r.component} onChange={(e) => update(r.key, { component: e.target.value })} required>
                  <option value="" disabled>
                    choose…
                  </option>
                  {list.map((c) => (
                    <option key={c.id} value={c.name}>
                      {c.name}
                    </option>
                  ))}
                </select>
              </div>
              <div>
                <label htmlFor={`by-${r.key}`}>Choose by</label>
                <select id={`by-${r.key}`} value={r.by} onChange={(e) => update(r.key, { by: e.target.value as By, value: '' })}>
                  <option value="tag">tag</option>
                  <option value="channel">latest of a channel</option>
                  <option value="digest">digest</option>
                  <option value="latest">latest of the default channel</option>
                </select>
              </div>
              {r.by === 'latest' ? null : (
                <div>
                  <label htmlFor={`v-${r.key}`}>{r.by === 'tag' ? 'Tag' : r.by === 'channel' ? 'Channel' : 'Digest'}</label>
                  {r.by === 'tag' && r.component ? (
                    <VersionPicker
                      id={`v-${r.key}`}
                      component={r.component}
                      value={r.value}
                      onChange={(v) => update(r.key, { value: v })}
                    />
                  ) : (
                    <input
                      id={`v-${r.key}`}
                      value={r.value}
                      onChange={(e) => update(r.key, { value: e.target.value })}
                      required
                      placeholder={r.by === 'channel' ? 'stable' : 'sha256:…'}
                    />
                  )}
                </div>
              )}
              {rows.length > 1 ? (
                <button
                  type="button"
                  aria-label={`Remove component ${i + 1}`}
                  onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}
                >
                  Remove
                </button>
              ) : null}
            </div>
          ))}
          <button
            type="button"
            style={{ marginTop: '0.5rem' }}
            onClick={() => setRows((rs) => [...rs, { key: Math.max(...rs.map((x) => x.key)) + 1, component: '', by: 'tag', value: '' }])}
          >
            Add component
          </button>
        </fieldset>
        <fieldset>
          <legend>Source (optional)</legend>
          <div className="grid2">
            {(
              [
                ['repository', 'Repository'],
                ['branch', 'Branch'],
                ['commitSha', 'Commit'],
                ['ciRunUrl', 'CI run URL'],
              ] as const
            ).map(([k, label]) => (
              <div key={k}>
                <label htmlFor={`src-${k}`}>{label}</label>
                <input id={`src-${k}`} value={src[k]} onChange={(e) => setSrc({ ...src, [k]: e.target.value })} style={{ width: '100%' }} />
              </div>
            ))}
          </div>
        </fieldset>
        <ErrorBox error={error} title="Could not create the release" />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create draft'}
        </button>
        <p className="hint">A draft chooses versions; “Make ready” on its page pins every digest at once.</p>
      </form>
    </>
  );
}
