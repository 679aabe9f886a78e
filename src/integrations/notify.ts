// Notification events on promotions and deployments, and how they enter the outbox: notify() writes one
// row per channel that wants the event (notification_webhook integrations, filtered by each one's
// `events`, and plugin notification channels) in the caller's transaction, so an event is announced
// if and only if its change commits. Delivery is src/notifications/dispatcher.ts, out of band.
import { EventEmitter } from 'node:events';
import { afterCommit, type Tx } from '../store/db.js';

/** Commits in this process that queued notifications wake the local dispatchers at once (other servers poll). */
export const outboxWakeups = new EventEmitter();
outboxWakeups.setMaxListeners(0);

export const NOTIFICATION_EVENTS = [
  'promotion.requested',
  'promotion.approved',
  'promotion.plan_changed',
  'promotion.rejected',
  'promotion.deployed',
  'promotion.failed',
  'deployment.succeeded',
  'deployment.failed',
  'deployment.rolled_back',
  'config.applied',
] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENTS)[number];

export interface NotificationEvent {
  type: NotificationEventType;
  /** What happened, for the receiver: ids and names (release, environment, promotion, actor, reason…). Never secrets. */
  data: Record<string, unknown>;
}

/** True when an integration's `events` (exact names or prefixes ending in "*") include this event; no list = all. */
export function wants(events: unknown, type: string): boolean {
  if (!Array.isArray(events)) return true;
  return events.some((e) => typeof e === 'string' && (e === type || e === '*' || (e.endsWith('*') && type.startsWith(e.slice(0, -1)))));
}

/** A one-line summary for chat channels. */
export function summary(tenantName: string, event: NotificationEvent): string {
  const d = event.data;
  const pick = (k: string) => (typeof d[k] === 'string' || typeof d[k] === 'number' ? String(d[k]) : undefined);
  const release = pick('releaseName') ?? pick('release') ?? pick('releaseId');
  const env = pick('environmentName') ?? pick('environment') ?? pick('environmentId');
  const actor = pick('actor') ?? pick('by');
  const reason = pick('reason');
  const parts = [
    `[${tenantName}] ${event.type.replace('.', ' ').replace('_', ' ')}`,
    release ? `release ${release}` : undefined,
    env ? `→ ${env}` : undefined,
    actor ? `by ${actor}` : undefined,
    reason ? `— ${reason}` : undefined,
  ];
  return parts.filter(Boolean).join(' ');
}

/** The body a webhook receives; `ids` (the notification, its event) let a generic receiver deduplicate. */
export function payload(
  format: string,
  tenantId: string,
  tenantName: string,
  at: Date,
  event: NotificationEvent,
  ids?: { id: string; eventId: string },
): Record<string, unknown> {
  if (format === 'slack') {
    const text = summary(tenantName, event);
    return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
  }
  return { ...(ids ?? {}), event: event.type, tenantId, tenant: tenantName, occurredAt: at.toISOString(), data: event.data };
}

/** What an event is about, for ordering: events of one subject reach each channel in the order they happened. */
export function subjectOf(event: NotificationEvent): string {
  const d = event.data;
  if (typeof d.promotionId === 'string') return `promotion:${d.promotionId}`;
  if (typeof d.jobId === 'string') return `deployment:${d.jobId}`;
  return `tenant`;
}

/**
 * Writes `event` to the outbox in `tx` (one row per channel of the tenant that wants it) and returns how
 * many deliveries it queued. Costs one INSERT: a channel that is down or slow never delays the caller.
 */
export async function notify(tx: Tx, tenantId: string, event: NotificationEvent, at: Date): Promise<number> {
  const r = await tx.query<{ n: number }>('SELECT gantry_enqueue_notification($1, $2, $3, $4, $5) AS n', [
    tenantId,
    event.type,
    subjectOf(event),
    JSON.stringify(event.data),
    at,
  ]);
  const n = r.rows[0]?.n ?? 0;
  if (n > 0) afterCommit(tx, () => outboxWakeups.emit('queued'));
  return n;
}
