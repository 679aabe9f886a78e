// Admin → secrets: the tenant's secret store. Values are write-only: the form sends one and the page
// never holds or shows a stored value, only each secret's name, version and when and by whom it changed.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client';
import { ActionButton, ErrorBox, Loading, RoleNote, Time } from '../../components/ui';
import { useSession } from '../../lib/auth';
import { useTitle } from '../../lib/router';
import { allPages, useApi } from '../../lib/useApi';

export function AdminSecrets() {
  useTitle('Secrets');
  // Listing secrets is for admins too; others see the note and no request is made.
  const canEdit = useSession().hasRole('admin');
  const state = useApi(
    () => allPages((cursor) => unwrap(api.GET('/api/v1/secrets', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
    [],
    { enabled: canEdit },
  );
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [saved, setSaved] = useState<string>();
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setSaved(undefined);
    // The value leaves the page's state as it is sent, whatever the answer (retype it after an error).
    const sent = value;
    setValue('');
    try {
      const meta = await unwrap(api.PUT('/api/v1/secrets/{name}', { params: { path: { name } }, body: { value: sent } }));
      setSaved(`Saved secret ${meta.name} (version ${meta.version}); reference it as secret:${meta.name}.`);
      setName('');
      await state.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h1>Secrets</h1>
      <RoleNote roles={['admin']} what="Listing, setting and deleting secrets" />
      <p className="muted">
        Stored encrypted; a value can be replaced or deleted but never read back. Use one in an integration as{' '}
        <code>secret:&lt;name&gt;</code>.
      </p>
      {canEdit ? (
        <form className="panel row" onSubmit={submit} style={{ alignItems: 'flex-end' }} aria-label="Set secret" autoComplete="off">
          <div>
            <label htmlFor="sec-name">Name</label>
            <input id="sec-name" value={name} onChange={(e) => setName(e.target.value)} required placeholder="registry-auth" />
          </div>
          <div>
            <label htmlFor="sec-value">Value</label>
            <input
              id="sec-value"
              type="password"
              autoComplete="new-password"
              value={value}
              onChange={(e) => setValue(e.target.value)}
              required
              placeholder="user:password"
            />
          </div>
          <button type="submit" className="primary">
            Save secret
          </button>
        </form>
      ) : null}
      {saved ? (
        <div className="alert ok" role="status">
          {saved}
        </div>
      ) : null}
      <ErrorBox error={error} title="Not saved" />
      <ErrorBox error={state.error} onRetry={state.reload} />
      {canEdit && !state.data && !state.error ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Version</th>
                <th scope="col">Updated</th>
                <th scope="col">By</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((s) => (
                <tr key={s.name}>
                  <td>
                    <code>{s.name}</code>
                  </td>
                  <td>{s.version}</td>
                  <td>
                    <Time at={s.updatedAt} />
                  </td>
                  <td>{s.updatedBy ?? '—'}</td>
                  <td>
                    <Time at={s.createdAt} />
                  </td>
                  <td>
                    {canEdit ? (
                      <ActionButton
                        className="danger"
                        onAction={async () => {
                          await unwrap(api.DELETE('/api/v1/secrets/{name}', { params: { path: { name: s.name } } }));
                          await state.reload();
                        }}
                      >
                        Delete
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
