// Admin → components: the images releases pin; create, sync versions from the registry, see versions.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client';
import { ActionButton, Badge, Digest, ErrorBox, Loading, RoleNote, Time } from '../../components/ui';
import { useSession } from '../../lib/auth';
import { useTitle } from '../../lib/router';
import { allPages, useApi } from '../../lib/useApi';

function Versions({ component }: { component: string }) {
  const state = useApi(
    () => unwrap(api.GET('/api/v1/components/{ref}/versions', { params: { path: { ref: component }, query: { limit: 50 } } })),
    [component],
  );
  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} />;
  if (!state.data) return <Loading />;
  if (state.data.items.length === 0) return <p className="muted small">No versions yet: sync from the registry.</p>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="sr-only">Versions of {component}</caption>
        <thead>
          <tr>
            <th scope="col">Tag</th>
            <th scope="col">Semver</th>
            <th scope="col">Channel</th>
            <th scope="col">Digest</th>
          </tr>
        </thead>
        <tbody>
          {state.data.items.map((v) => (
            <tr key={v.id}>
              <td>{v.tag}</td>
              <td>{v.semver ?? '—'}</td>
              <td>{v.channel ?? '—'}</td>
              <td>
                <Digest value={v.digest} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AdminComponents() {
  useTitle('Components');
  const state = useApi(async () => {
    const [components, integrations] = await Promise.all([
      allPages((cursor) => unwrap(api.GET('/api/v1/components', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
      allPages((cursor) => unwrap(api.GET('/api/v1/integrations', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
    ]);
    return { components, integrations };
  }, []);
  const [form, setForm] = useState({ name: '', imageRepository: '', registryIntegrationId: '', defaultChannel: '' });
  const [error, setError] = useState<unknown>();
  const [open, setOpen] = useState<string>();
  const canEdit = useSession().hasRole('release_manager');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await unwrap(
        api.POST('/api/v1/components', {
          body: {
            name: form.name,
            imageRepository: form.imageRepository,
            ...(form.registryIntegrationId ? { registryIntegrationId: form.registryIntegrationId } : {}),
            ...(form.defaultChannel ? { defaultChannel: form.defaultChannel } : {}),
          },
        }),
      );
      setForm({ name: '', imageRepository: '', registryIntegrationId: '', defaultChannel: '' });
      await state.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h1>Components</h1>
      <RoleNote roles={['release_manager']} what="Adding and syncing components" />
      {canEdit ? (
        <form className="panel row" onSubmit={submit} style={{ alignItems: 'flex-end' }} aria-label="New component">
          <div>
            <label htmlFor="comp-name">Name</label>
            <input
              id="comp-name"
              value={form.name}
              onChange={(e) => setForm({ ...form, name: e.target.value })}
              required
              placeholder="web"
            />
          </div>
          <div>
            <label htmlFor="comp-image">Image repository</label>
            <input
              id="comp-image"
              value={form.imageRepository}
              size={36}
              onChange={(e) => setForm({ ...form, imageRepository: e.target.value })}
              required
              placeholder="registry.example.com/shop/web"
            />
          </div>
          <div>
            <label htmlFor="comp-registry">Registry</label>
            <select
              id="comp-registry"
              value={form.registryIntegrationId}
              onChange={(e) => setForm({ ...form, registryIntegrationId: e.target.value })}
            >
              <option value="">none</option>
              {state.data?.integrations
                .filter((i) => i.typeId === 'oci_registry')
                .map((i) => (
                  <option key={i.id} value={i.id}>
                    {i.name}
                  </option>
                ))}
            </select>
          </div>
          <div>
            <label htmlFor="comp-channel">Default channel</label>
            <input
              id="comp-channel"
              value={form.defaultChannel}
              placeholder="stable"
              size={10}
              onChange={(e) => setForm({ ...form, defaultChannel: e.target.value })}
            />
          </div>
          <button type="submit" className="primary">
            Add component
          </button>
        </form>
      ) : null}
      <ErrorBox error={error} title="Not created" />
      <ErrorBox error={state.error} onRetry={state.reload} />
      {!state.data && !state.error ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Component</th>
                <th scope="col">Image</th>
                <th scope="col">Versioning</th>
                <th scope="col">Last sync</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.components.map((c) => (
                <tr key={c.id}>
                  <td>
                    <strong>{c.name}</strong>
                    {open === c.name ? <Versions component={c.name} /> : null}
                  </td>
                  <td className="small">
                    <code>{c.imageRepository}</code>
                  </td>
                  <td className="small">
                    {c.versioningStrategy.type} · {c.defaultChannel}
                  </td>
                  <td>
                    <Time at={c.lastSyncedAt} /> {c.syncError ? <Badge status="failed" label={c.syncError} /> : null}
                  </td>
                  <td>
                    <div className="row">
                      <button type="button" aria-expanded={open === c.name} onClick={() => setOpen(open === c.name ? undefined : c.name)}>
                        Versions
                      </button>
                      {canEdit ? (
                        <ActionButton
                          onAction={async () => {
                            await unwrap(api.POST('/api/v1/components/{ref}/sync-versions', { params: { path: { ref: c.id } } }));
                            await state.reload();
                          }}
                        >
                          Sync
                        </ActionButton>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
