// Admin → tokens: create (the secret is shown once), list, revoke.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client';
import { ActionButton, Badge, ErrorBox, Loading, Time } from '../../components/ui';
import { useSession } from '../../lib/auth';
import { useTitle } from '../../lib/router';
import { allPages, useApi } from '../../lib/useApi';

export function AdminTokens() {
  useTitle('Tokens');
  const state = useApi(
    () => allPages((cursor) => unwrap(api.GET('/api/v1/tokens', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
    [],
  );
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [secret, setSecret] = useState<string>();
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const created = await unwrap(api.POST('/api/v1/tokens', { body: { name, ...(days ? { expiresInDays: Number(days) } : {}) } }));
      setSecret(created.secret);
      setName('');
      await state.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h1>API tokens</h1>
      {useSession().hasRole('admin') ? null : (
        <p className="alert info small" data-testid="role-note">
          You see and manage your own tokens; an admin sees and revokes everyone's.
        </p>
      )}
      <form className="panel row" onSubmit={submit} style={{ alignItems: 'flex-end' }} aria-label="New token">
        <div>
          <label htmlFor="tok-name">Name</label>
          <input id="tok-name" value={name} onChange={(e) => setName(e.target.value)} required placeholder="ci" />
        </div>
        <div>
          <label htmlFor="tok-days">Expires in days</label>
          <input
            id="tok-days"
            type="number"
            min={1}
            value={days}
            onChange={(e) => setDays(e.target.value)}
            placeholder="never"
            style={{ width: '8rem' }}
          />
        </div>
        <button type="submit" className="primary">
          Create token
        </button>
      </form>
      {secret ? (
        <div className="alert ok" role="status">
          Copy this token now; it is not shown again: <code data-testid="new-token">{secret}</code>
        </div>
      ) : null}
      <ErrorBox error={error} title="Not created" />
      <ErrorBox error={state.error} onRetry={state.reload} />
      {!state.data && !state.error ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">User</th>
                <th scope="col">Prefix</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>{t.username}</td>
                  <td>
                    <code>{t.prefix}…</code>
                  </td>
                  <td>
                    <Time at={t.lastUsedAt} />
                  </td>
                  <td>{t.revokedAt ? <Badge status="cancelled" label="revoked" /> : <Time at={t.expiresAt} />}</td>
                  <td>
                    {t.revokedAt ? null : (
                      <ActionButton
                        className="danger"
                        onAction={async () => {
                          await unwrap(api.DELETE('/api/v1/tokens/{id}', { params: { path: { id: t.id } } }));
                          await state.reload();
                        }}
                      >
                        Revoke
                      </ActionButton>
                    )}
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
