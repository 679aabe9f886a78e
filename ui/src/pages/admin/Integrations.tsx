// Admin → integrations: registries and other systems, with a credentialRef (never a secret) and health.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client';
import { ActionButton, Badge, ErrorBox, Loading, RoleNote, Time } from '../../components/ui';
import { useSession } from '../../lib/auth';
import { useTitle } from '../../lib/router';
import { allPages, useApi } from '../../lib/useApi';

export function AdminIntegrations() {
  useTitle('Integrations');
  const state = useApi(
    () =>
      allPages((cursor) => unwrap(api.GET('/api/v1/integrations', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
    [],
  );
  const [form, setForm] = useState({
    name: '',
    typeId: 'oci_registry',
    config: '{"url": "http://127.0.0.1:5000", "insecure": true}',
    credentialRef: '',
  });
  const [error, setError] = useState<unknown>();
  const canEdit = useSession().hasRole('admin');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const config = form.config.trim() ? (JSON.parse(form.config) as Record<string, unknown>) : undefined;
      await unwrap(
        api.POST('/api/v1/integrations', {
          body: {
            name: form.name,
            typeId: form.typeId,
            ...(config ? { config } : {}),
            ...(form.credentialRef ? { credentialRef: form.credentialRef } : {}),
          } as never,
        }),
      );
      setForm({ ...form, name: '' });
      await state.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h1>Integrations</h1>
      <RoleNote roles={['admin']} what="Adding and checking integrations" />
      {canEdit ? (
        <form className="panel" onSubmit={submit} aria-label="New integration">
          <div className="row" style={{ alignItems: 'flex-end' }}>
            <div>
              <label htmlFor="int-name">Name</label>
              <input id="int-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />
            </div>
            <div>
              <label htmlFor="int-type">Type</label>
              <input id="int-type" value={form.typeId} onChange={(e) => setForm({ ...form, typeId: e.target.value })} required />
            </div>
            <div>
              <label htmlFor="int-cred">Credential reference</label>
              <input
                id="int-cred"
                value={form.credentialRef}
                placeholder="env:REGISTRY_CREDENTIALS"
                onChange={(e) => setForm({ ...form, credentialRef: e.target.value })}
              />
            </div>
          </div>
          <label htmlFor="int-config">Config (JSON)</label>
          <textarea id="int-config" value={form.config} onChange={(e) => setForm({ ...form, config: e.target.value })} className="mono" />
          <p className="hint">
            Secrets are never stored here: the credential reference names an environment variable or file the server reads.
          </p>
          <button type="submit" className="primary">
            Add integration
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
                <th scope="col">Integration</th>
                <th scope="col">Type</th>
                <th scope="col">Health</th>
                <th scope="col">Checked</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((i) => (
                <tr key={i.id}>
                  <td>
                    <strong>{i.name}</strong>
                    <div className="small muted">{i.credentialRef ? `credential ${i.credentialRef}` : 'no credential'}</div>
                  </td>
                  <td>{i.typeId}</td>
                  <td>
                    <Badge status={i.healthStatus} />
                    {i.healthMessage ? <div className="small muted">{i.healthMessage}</div> : null}
                  </td>
                  <td>
                    <Time at={i.lastCheckedAt} />
                  </td>
                  <td>
                    {canEdit ? (
                      <ActionButton
                        onAction={async () => {
                          await unwrap(api.POST('/api/v1/integrations/{ref}/check', { params: { path: { ref: i.id } } }));
                          await state.reload();
                        }}
                      >
                        Check
                      </ActionButton>
                    ) : null}
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
