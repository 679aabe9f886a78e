// Admin → users: create with roles, change roles, remove; and make a token for a new user.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client';
import type { User } from '../../api/types';
import { ActionButton, ErrorBox, Loading, RoleNote, Time } from '../../components/ui';
import { useSession } from '../../lib/auth';
import { useTitle } from '../../lib/router';
import { allPages, useApi } from '../../lib/useApi';

const ROLES = ['admin', 'release_manager', 'approver', 'deployer', 'viewer'] as const;
type Role = (typeof ROLES)[number];

function RolePicker({ value, onChange, idPrefix }: { value: Role[]; onChange: (r: Role[]) => void; idPrefix: string }) {
  return (
    <fieldset className="row" style={{ margin: 0 }}>
      <legend className="small">Roles</legend>
      {ROLES.map((r) => (
        <label key={r} htmlFor={`${idPrefix}-${r}`} style={{ margin: 0, fontWeight: 400 }}>
          <input
            id={`${idPrefix}-${r}`}
            type="checkbox"
            checked={value.includes(r)}
            onChange={(e) => onChange(e.target.checked ? [...value, r] : value.filter((x) => x !== r))}
          />{' '}
          {r}
        </label>
      ))}
    </fieldset>
  );
}

function UserRow({ u, onChanged, canEdit }: { u: User; onChanged: () => Promise<void>; canEdit: boolean }) {
  const [roles, setRoles] = useState<Role[]>(u.roles);
  const [secret, setSecret] = useState<string>();
  const dirty = roles.slice().sort().join() !== u.roles.slice().sort().join();
  return (
    <tr>
      <td>
        <strong>{u.username}</strong>
        <div className="small muted">{u.displayName}</div>
        {secret ? (
          <div className="alert ok small">
            token (shown once): <code>{secret}</code>
          </div>
        ) : null}
      </td>
      <td>{canEdit ? <RolePicker value={roles} onChange={setRoles} idPrefix={`u-${u.id}`} /> : u.roles.join(', ')}</td>
      <td>
        <Time at={u.createdAt} />
      </td>
      <td>
        {canEdit ? (
          <div className="row">
            <ActionButton
              disabled={!dirty || roles.length === 0}
              onAction={async () => {
                await unwrap(api.PATCH('/api/v1/users/{id}', { params: { path: { id: u.id } }, body: { roles } }));
                await onChanged();
              }}
            >
              Save roles
            </ActionButton>
            <ActionButton
              onAction={async () => {
                const t = await unwrap(api.POST('/api/v1/tokens', { body: { name: `ui-${Date.now()}`, userId: u.id } }));
                setSecret(t.secret);
              }}
            >
              New token
            </ActionButton>
            <ActionButton
              className="danger"
              onAction={async () => {
                if (!window.confirm(`Remove ${u.username}?`)) return;
                await unwrap(api.DELETE('/api/v1/users/{id}', { params: { path: { id: u.id } } }));
                await onChanged();
              }}
            >
              Remove
            </ActionButton>
          </div>
        ) : null}
      </td>
    </tr>
  );
}

export function AdminUsers() {
  useTitle('Users');
  const state = useApi(
    () => allPages((cursor) => unwrap(api.GET('/api/v1/users', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }))),
    [],
  );
  const [username, setUsername] = useState('');
  const [roles, setRoles] = useState<Role[]>(['viewer']);
  const [error, setError] = useState<unknown>();
  const canEdit = useSession().hasRole('admin');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await unwrap(api.POST('/api/v1/users', { body: { username, roles } }));
      setUsername('');
      await state.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h1>Users</h1>
      <RoleNote roles={['admin']} what="Adding users, changing roles and removing users" />
      {canEdit ? (
        <form className="panel" onSubmit={submit} aria-label="New user">
          <div className="row" style={{ alignItems: 'flex-end' }}>
            <div>
              <label htmlFor="user-name">Username</label>
              <input id="user-name" value={username} onChange={(e) => setUsername(e.target.value)} required />
            </div>
            <RolePicker value={roles} onChange={setRoles} idPrefix="new-user" />
            <button type="submit" className="primary" disabled={roles.length === 0}>
              Add user
            </button>
          </div>
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
                <th scope="col">User</th>
                <th scope="col">Roles</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((u) => (
                <UserRow key={`${u.id}-${u.roles.join()}`} u={u} onChanged={state.reload} canEdit={canEdit} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
