// Admin → environments: create, edit (order, approvals, separation of duties, freeze windows), delete.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client';
import type { Environment, FreezeWindow } from '../../api/types';
import { FreezeEditor } from '../../components/FreezeEditor';
import { When } from '../../components/format';
import { ActionButton, Badge, ErrorBox, Loading, RoleNote } from '../../components/ui';
import { useSession } from '../../lib/auth';
import { listEnvironments } from '../../lib/data';
import { useTitle } from '../../lib/router';
import { useApi } from '../../lib/useApi';

interface Draft {
  name: string;
  displayName: string;
  orderIndex: string;
  requiredApprovals: number;
  requireSod: boolean;
  freezeWindows: FreezeWindow[];
}

const empty: Draft = { name: '', displayName: '', orderIndex: '', requiredApprovals: 0, requireSod: false, freezeWindows: [] };

function EnvForm({ initial, onSaved, onCancel }: { initial: Environment | undefined; onSaved: () => void; onCancel: () => void }) {
  const [d, setD] = useState<Draft>(
    initial
      ? {
          name: initial.name,
          displayName: initial.displayName,
          orderIndex: String(initial.orderIndex),
          requiredApprovals: initial.requiredApprovals,
          requireSod: initial.requireSod,
          freezeWindows: initial.freezeWindows,
        }
      : empty,
  );
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const body = {
      name: d.name,
      ...(d.displayName ? { displayName: d.displayName } : {}),
      ...(d.orderIndex !== '' ? { orderIndex: Number(d.orderIndex) } : {}),
      requiredApprovals: d.requiredApprovals,
      requireSod: d.requireSod,
      freezeWindows: d.freezeWindows,
    };
    try {
      if (initial) await unwrap(api.PATCH('/api/v1/environments/{ref}', { params: { path: { ref: initial.id } }, body }));
      else await unwrap(api.POST('/api/v1/environments', { body }));
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-label={initial ? `Edit ${initial.name}` : 'New environment'}>
      <h2 style={{ marginTop: 0 }}>{initial ? `Edit ${initial.name}` : 'New environment'}</h2>
      <div className="row">
        <div>
          <label htmlFor="env-name">Name</label>
          <input id="env-name" value={d.name} onChange={(e) => setD({ ...d, name: e.target.value })} required placeholder="staging" />
        </div>
        <div>
          <label htmlFor="env-display">Display name</label>
          <input id="env-display" value={d.displayName} onChange={(e) => setD({ ...d, displayName: e.target.value })} />
        </div>
        <div>
          <label htmlFor="env-order">Order</label>
          <input
            id="env-order"
            type="number"
            min={0}
            value={d.orderIndex}
            placeholder="last"
            style={{ width: '6rem' }}
            onChange={(e) => setD({ ...d, orderIndex: e.target.value })}
          />
        </div>
        <div>
          <label htmlFor="env-approvals">Required approvals</label>
          <input
            id="env-approvals"
            type="number"
            min={0}
            max={100}
            value={d.requiredApprovals}
            style={{ width: '6rem' }}
            onChange={(e) => setD({ ...d, requiredApprovals: Number(e.target.value) })}
          />
        </div>
        <div>
          <label htmlFor="env-sod">
            <input id="env-sod" type="checkbox" checked={d.requireSod} onChange={(e) => setD({ ...d, requireSod: e.target.checked })} />{' '}
            Separation of duties
          </label>
        </div>
      </div>
      <FreezeEditor value={d.freezeWindows} onChange={(freezeWindows) => setD({ ...d, freezeWindows })} />
      <ErrorBox error={error} title="Not saved" />
      <div className="row">
        <button type="submit" className="primary">
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function AdminEnvironments() {
  useTitle('Environments');
  const state = useApi(listEnvironments, []);
  const [editing, setEditing] = useState<Environment | 'new'>();
  const canEdit = useSession().hasRole('admin');
  return (
    <>
      <div className="spread">
        <h1>Environments</h1>
        {canEdit ? (
          <button type="button" className="primary" onClick={() => setEditing('new')}>
            New environment
          </button>
        ) : null}
      </div>
      <RoleNote roles={['admin']} what="Creating, changing and deleting environments" />
      {editing ? (
        <EnvForm
          key={editing === 'new' ? 'new' : editing.id}
          initial={editing === 'new' ? undefined : editing}
          onCancel={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            void state.reload();
          }}
        />
      ) : null}
      <ErrorBox error={state.error} onRetry={state.reload} />
      {!state.data && !state.error ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">Environment</th>
                <th scope="col">Approvals</th>
                <th scope="col">Freeze windows</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((e) => (
                <tr key={e.id}>
                  <td>{e.orderIndex}</td>
                  <td>
                    <strong>{e.displayName || e.name}</strong> <span className="muted small">{e.name}</span>
                  </td>
                  <td>
                    {e.requiredApprovals} {e.requireSod ? <Badge status="info" label="SoD" /> : null}
                  </td>
                  <td className="small" data-label="Freeze windows">
                    {e.freezeWindows.map((w) => w.name).join(', ') || '—'}
                    {e.freeze.until ? (
                      <div>
                        <Badge status="frozen" label="frozen" /> until <When at={e.freeze.until} />
                      </div>
                    ) : null}
                  </td>
                  <td>
                    {canEdit ? (
                      <div className="row">
                        <button type="button" onClick={() => setEditing(e)} aria-label={`Edit ${e.name}`}>
                          Edit
                        </button>
                        <ActionButton
                          className="danger"
                          onAction={async () => {
                            if (!window.confirm(`Delete environment ${e.name}?`)) return;
                            await unwrap(api.DELETE('/api/v1/environments/{ref}', { params: { path: { ref: e.id } } }));
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
        </div>
      ) : null}
    </>
  );
}
