// Create or edit a draft release: per component choose a tag (from its synced versions; the server checks
// any other tag against the registry), a channel, a digest, or the latest of its default channel; optional
// source reference. A draft can also be deleted here.
import { type FormEvent, useEffect, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { ComponentVersion, Release } from '../api/types';
import { ActionButton, ErrorBox, Loading, RoleNote } from '../components/ui';
import { useSession } from '../lib/auth';
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
  const unknown = Boolean(value.trim()) && state.data !== undefined && !versions.some((v) => v.tag === value.trim());
  return (
    <>
      <input
        id={id}
        list={`${id}-list`}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder="1.2.0"
        required
        aria-describedby={unknown ? `${id}-unknown` : undefined}
      />
      {unknown ? (
        <p className="hint" id={`${id}-unknown`} data-testid="tag-unknown">
          Not among the synced versions of {component}; saving asks the registry and refuses a tag it does not have.
        </p>
      ) : null}
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

function rowsOf(r: Release): Row[] {
  return r.components.map((c, i) => ({ key: i + 1, component: c.component, by: c.selector.by as By, value: c.selector.value }));
}

export function ReleaseNew({ edit }: { edit?: string } = {}) {
  useTitle(edit ? `Edit ${edit}` : 'New release');
  const canWrite = useSession().hasRole('release_manager');
  const existing = useApi(() => unwrap(api.GET('/api/v1/releases/{ref}', { params: { path: { ref: edit ?? '' } } })), [edit], {
    enabled: Boolean(edit),
  });
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
  const loaded = existing.data;
  useEffect(() => {
    if (!loaded) return;
    setName(loaded.name);
    setDisplayName(loaded.displayName);
    setRows(rowsOf(loaded));
    setSrc({
      repository: loaded.sourceRef?.repository ?? '',
      commitSha: loaded.sourceRef?.commitSha ?? '',
      branch: loaded.sourceRef?.branch ?? '',
      ciRunUrl: loaded.sourceRef?.ciRunUrl ?? '',
    });
  }, [loaded]);
  const update = (key: number, patch: Partial<Row>) => setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const sourceRef = Object.fromEntries(Object.entries(src).filter(([, v]) => v.trim() !== ''));
    const body = {
      name,
      ...(displayName ? { displayName } : {}),
      components: rows.map((r) => ({ component: r.component, ...(r.by === 'latest' ? {} : { [r.by]: r.value.trim() }) })),
      ...(Object.keys(sourceRef).length ? { sourceRef } : {}),
    };
    try {
      const saved = loaded
        ? await unwrap(api.PATCH('/api/v1/releases/{ref}', { params: { path: { ref: loaded.id } }, body }))
        : await unwrap(api.POST('/api/v1/releases', { body }));
      navigate(`/releases/${saved.name}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (components.error) return <ErrorBox error={components.error} onRetry={components.reload} />;
  if (existing.error) return <ErrorBox error={existing.error} onRetry={existing.reload} title={`Could not load release ${edit}`} />;
  const list = components.data;
  if (!list || (edit && !loaded)) return <Loading />;
  const title = loaded ? `Edit draft ${loaded.name}` : 'New release';
  if (!canWrite) {
    return (
      <>
        <h1>{title}</h1>
        <RoleNote roles={['release_manager']} what="Creating and editing releases" />
      </>
    );
  }
  if (loaded && loaded.status !== 'draft') {
    return (
      <>
        <h1>{title}</h1>
        <p className="alert info">
          Release {loaded.name} is {loaded.status}: a release is immutable once ready. <Link to="/releases/new">Create a new release</Link>.
        </p>
      </>
    );
  }
  return (
    <>
      <p className="small">
        <Link to="/releases">Releases</Link> /
      </p>
      <div className="spread">
        <h1>{title}</h1>
        {loaded ? (
          <ActionButton
            className="danger"
            onAction={async () => {
              if (!window.confirm(`Delete draft ${loaded.name}?`)) return;
              await unwrap(api.DELETE('/api/v1/releases/{ref}', { params: { path: { ref: loaded.id } } }));
              navigate('/releases');
            }}
          >
            Delete draft
          </ActionButton>
        ) : null}
      </div>
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
        <ErrorBox error={error} title={loaded ? 'Could not save the draft' : 'Could not create the release'} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : loaded ? 'Save draft' : 'Create draft'}
        </button>
        <p className="hint">A draft chooses versions; “Make ready” on its page pins every digest at once.</p>
      </form>
    </>
  );
}
