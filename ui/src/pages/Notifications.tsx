// Notifications: the outbox, one row per event and channel, with its delivery state; dead letters can be
// re-sent (same Idempotency-Key, so a receiver that already has it ignores the repeat).
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import { StatusFilter } from '../components/ListFilters';
import { ActionButton, Badge, ErrorBox, Loading, Time } from '../components/ui';
import { useSession } from '../lib/auth';
import { useTitle } from '../lib/router';
import { allPages, useApi } from '../lib/useApi';

const STATUSES = ['pending', 'delivered', 'dead'] as const;
type Status = (typeof STATUSES)[number];

export function Notifications() {
  useTitle('Notifications');
  const { hasRole } = useSession();
  const [status, setStatus] = useState<Status | ''>('');
  const state = useApi(
    () =>
      allPages((cursor) =>
        unwrap(
          api.GET('/api/v1/notifications', {
            params: { query: { limit: 500, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) } },
          }),
        ),
      ),
    [status],
    { pollMs: 5000 },
  );
  const resend = async (id: string) => {
    await unwrap(api.POST('/api/v1/notifications/{id}/resend', { params: { path: { id } } }));
    await state.reload();
  };
  return (
    <>
      <h1>Notifications</h1>
      <p className="hint">
        Each event is delivered to every channel that subscribes to it, at least once and in order per promotion or deployment, with an
        Idempotency-Key header that stays the same across retries. A notification that failed every attempt is dead; re-send it once the
        channel works again.
      </p>
      <div className="row">
        <StatusFilter id="n-status" statuses={STATUSES} value={status} onChange={setStatus} />
      </div>
      <ErrorBox error={state.error} onRetry={state.reload} />
      {!state.data && !state.error ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Subject</th>
                <th scope="col">Channel</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col">Occurred</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((n) => (
                <tr key={n.id}>
                  <td>{n.event}</td>
                  <td className="small">
                    <code>{n.subject}</code>
                  </td>
                  <td>{n.channel}</td>
                  <td>
                    <Badge status={n.status === 'dead' ? 'failed' : n.status === 'delivered' ? 'succeeded' : 'pending'} label={n.status} />
                  </td>
                  <td>{n.attempts}</td>
                  <td className="small">{n.lastError ?? '—'}</td>
                  <td>
                    <Time at={n.occurredAt} />
                  </td>
                  <td>
                    {n.status !== 'pending' && hasRole('release_manager') ? (
                      <ActionButton onAction={() => resend(n.id)}>Re-send</ActionButton>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.data.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No notifications{status ? ` with status ${status}` : ''}.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}
