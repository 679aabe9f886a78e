// Notifications: reading the outbox and its delivery log, and re-sending a notification.
import type { z } from 'zod';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { afterOf, toPage } from '../http/pagination.js';
import { outboxWakeups } from '../integrations/notify.js';
import { afterCommit, type Tx } from '../store/db.js';
import type { notificationListQuery } from './model.js';

interface Row {
  id: string;
  event_id: string;
  event_type: string;
  subject: string;
  data: Record<string, unknown>;
  occurred_at: Date;
  channel_kind: 'webhook' | 'plugin';
  channel: string;
  integration_id: string | null;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  next_attempt_at: Date | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const out = (r: Row) => ({
  id: r.id,
  eventId: r.event_id,
  event: r.event_type,
  subject: r.subject,
  data: r.data,
  occurredAt: r.occurred_at.toISOString(),
  channelKind: r.channel_kind,
  channel: r.channel,
  integrationId: r.integration_id,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
  lastError: r.last_error,
  deliveredAt: iso(r.delivered_at),
  createdAt: r.created_at.toISOString(),
});

const COLUMNS = `id, event_id, event_type, subject, data, occurred_at, channel_kind, channel, integration_id, status, attempts,
  next_attempt_at, last_error, delivered_at, created_at`;

export async function listNotifications(tx: Tx, q: z.infer<typeof notificationListQuery>) {
  const r = await tx.query<Row>(
    `SELECT ${COLUMNS} FROM notifications
      WHERE ($1::uuid IS NULL OR id < $1::uuid) AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR event_type = $3)
        AND ($4::text IS NULL OR subject = $4) AND ($5::text IS NULL OR channel = $5)
      ORDER BY id DESC LIMIT $6`,
    [afterOf(q.cursor) ?? null, q.status ?? null, q.event ?? null, q.subject ?? null, q.channel ?? null, q.limit + 1],
  );
  return toPage(r.rows, q.limit, (x) => [x.id], out);
}

export async function getNotification(tx: Tx, id: string) {
  const r = await tx.query<Row>(`SELECT ${COLUMNS} FROM notifications WHERE id = $1`, [id]);
  if (!r.rows[0]) throw new NotFoundError('Notification', id);
  const a = await tx.query<{
    attempt: number;
    started_at: Date;
    finished_at: Date;
    ok: boolean;
    http_status: number | null;
    error: string | null;
  }>('SELECT attempt, started_at, finished_at, ok, http_status, error FROM notification_attempts WHERE notification_id = $1 ORDER BY id', [
    id,
  ]);
  return {
    ...out(r.rows[0]),
    deliveries: a.rows.map((x) => ({
      attempt: x.attempt,
      startedAt: x.started_at.toISOString(),
      finishedAt: x.finished_at.toISOString(),
      ok: x.ok,
      httpStatus: x.http_status,
      error: x.error,
    })),
  };
}

/**
 * Queues a dead (or delivered) notification again, due now, with a fresh count of attempts. Its id, and
 * so its Idempotency-Key, stays the same: a receiver that already handled it recognises it.
 */
export async function resendNotification(tx: Tx, id: string) {
  const r = await tx.query<{ status: string }>('SELECT status FROM notifications WHERE id = $1 FOR UPDATE', [id]);
  if (!r.rows[0]) throw new NotFoundError('Notification', id);
  if (r.rows[0].status === 'pending') {
    throw new ConflictError(
      `Notification ${id} is still pending (queued or retrying); it is re-sent only once it is dead or delivered.`,
      'notification_pending',
    );
  }
  await tx.query(
    `UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = NULL, claimed_until = NULL, delivered_at = NULL WHERE id = $1`,
    [id],
  );
  afterCommit(tx, () => outboxWakeups.emit('queued'));
  return getNotification(tx, id);
}
