// Notifications on promotion and deployment events through notification_webhook integrations (generic
// JSON or Slack-compatible payloads, filtered by each integration's `events`) and through the sinks
// registered for the database (plugin notification channels, src/plugins/notify.ts). Delivery happens
// after the caller has returned and never fails it: errors become the integration's health, or are
// logged by the sink as that delivery's failure.
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { denyingOutbound, type Outbound, OutboundRefusedError } from '../http/outbound.js';
import { type Db, withTenant } from '../store/db.js';
import { setHealth } from './health.js';
import { resolveCredential } from './secrets.js';

export const NOTIFICATION_EVENTS = [
  'promotion.requested',
  'promotion.approved',
  'promotion.rejected',
  'promotion.deployed',
  'promotion.failed',
  'deployment.succeeded',
  'deployment.failed',
  'deployment.rolled_back',
] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENTS)[number];

export interface NotificationEvent {
  type: NotificationEventType;
  /** What happened, for the receiver: ids and names (release, environment, promotion, actor, reason…). Never secrets. */
  data: Record<string, unknown>;
}

export interface NotifyDeps {
  db: Db;
  clock?: Clock;
  logger?: Logger;
  /** The door deliveries go through; without one, private and loopback addresses are refused. */
  outbound?: Outbound | undefined;
}

const TIMEOUT_MS = 10_000;
const RETRIES_MS = [1_000, 5_000];
const inFlight = new Set<Promise<void>>();

/**
 * Another way out for events besides notification_webhook integrations: the plugin host registers one
 * for its database so plugin notification channels receive every event (src/plugins/notify.ts). A sink
 * handles its own failures; one that throws anyway is only logged here.
 */
export type NotificationSink = (tenantId: string, event: NotificationEvent, at: Date) => Promise<void>;
const sinks = new WeakMap<Db, Set<NotificationSink>>();

/** Registers a sink for events of tenants in `db`; returns the function that removes it. */
export function addNotificationSink(db: Db, sink: NotificationSink): () => void {
  let set = sinks.get(db);
  if (!set) {
    set = new Set();
    sinks.set(db, set);
  }
  set.add(sink);
  return () => {
    sinks.get(db)?.delete(sink);
  };
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

export function payload(format: string, tenantId: string, tenantName: string, at: Date, event: NotificationEvent): Record<string, unknown> {
  if (format === 'slack') {
    const text = summary(tenantName, event);
    return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
  }
  return { event: event.type, tenantId, tenant: tenantName, occurredAt: at.toISOString(), data: event.data };
}

interface Hook {
  id: string;
  name: string;
  config: { url: string; format?: string; events?: unknown };
  credential_ref: string | null;
}

async function deliver(
  deps: NotifyDeps,
  tenantId: string,
  tenantName: string,
  hook: Hook,
  event: NotificationEvent,
  at: Date,
): Promise<void> {
  let url = hook.config.url;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'gantry-notify/0.1.0' };
  // The credential is either the webhook URL itself (Slack-style secret URLs) or a bearer token.
  const door = deps.outbound ?? denyingOutbound();
  if (hook.credential_ref) {
    const secret = await resolveCredential(hook.credential_ref, { db: deps.db, tenantId, fetch: door.fetch });
    if (/^https?:\/\//.test(secret)) url = secret;
    else headers.authorization = `Bearer ${secret}`;
  }
  const target = url === hook.config.url ? url : 'the URL from its credentialRef';
  const body = JSON.stringify(payload(hook.config.format ?? 'generic', tenantId, tenantName, at, event));
  let last = '';
  for (let attempt = 0; attempt <= RETRIES_MS.length; attempt++) {
    try {
      const res = await door.fetch(url, { method: 'POST', headers, body, timeoutMs: TIMEOUT_MS });
      await res.body?.cancel().catch(() => {});
      if (res.ok) return;
      last = `${target} answered HTTP ${res.status}`;
      if (res.status < 500 && res.status !== 429) break;
    } catch (err) {
      if (err instanceof OutboundRefusedError) {
        last = err.message;
        break;
      }
      const e = err as { name?: string; cause?: { code?: string } };
      last = `${target} could not be reached (${e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? 'connection failed')})`;
    }
    const wait = RETRIES_MS[attempt];
    if (wait !== undefined) await new Promise((r) => setTimeout(r, wait));
  }
  throw new Error(`${event.type} not delivered: ${last}`);
}

async function run(deps: NotifyDeps, tenantId: string, event: NotificationEvent): Promise<void> {
  const at = (deps.clock ?? systemClock).now();
  // Each way out on its own: a webhook lookup that fails does not keep the event from plugin channels.
  const outcomes = await Promise.allSettled([
    webhooks(deps, tenantId, event, at),
    ...[...(sinks.get(deps.db) ?? [])].map((sink) => sink(tenantId, event, at)),
  ]);
  for (const o of outcomes) {
    if (o.status === 'rejected') deps.logger?.warn({ event: event.type, err: (o.reason as Error).message }, 'notifications failed');
  }
}

async function webhooks(deps: NotifyDeps, tenantId: string, event: NotificationEvent, at: Date): Promise<void> {
  const clock = deps.clock ?? systemClock;
  const { hooks, tenantName } = await withTenant(deps.db, tenantId, async (tx) => {
    const t = await tx.query<{ name: string }>('SELECT name FROM tenants WHERE id = $1', [tenantId]);
    const h = await tx.query<Hook>(
      `SELECT id, name, config, credential_ref FROM integrations WHERE type_id = 'notification_webhook' ORDER BY id`,
    );
    return { hooks: h.rows, tenantName: t.rows[0]?.name ?? tenantId };
  });
  await Promise.all(
    hooks
      .filter((h) => wants(h.config.events, event.type))
      .map(async (h) => {
        let failure: Error | undefined;
        try {
          await deliver(deps, tenantId, tenantName, h, event, at);
        } catch (err) {
          failure = err as Error;
          deps.logger?.warn({ integration: h.name, event: event.type, err: failure.message }, 'notification not delivered');
        }
        await withTenant(deps.db, tenantId, (tx) =>
          setHealth(
            tx,
            h.id,
            failure ? { healthy: false, message: failure.message } : { healthy: true, message: `delivered ${event.type}` },
            clock.now(),
          ),
        ).catch(() => {});
      }),
  );
}

/**
 * Sends `event` to every notification_webhook integration of the tenant that wants it, and to every
 * registered sink (the notification channels of the tenant's plugin instances). Call it after
 * the transaction that made the change has committed: it returns at once, delivers in the background
 * (webhooks retry twice), and never throws; a failed delivery marks that integration unhealthy with the reason
 * (a plugin channel's failure is logged by src/plugins/notify.ts).
 */
export function notify(deps: NotifyDeps, tenantId: string, event: NotificationEvent): void {
  const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
    .then(() => run(deps, tenantId, event))
    .catch((err: unknown) => deps.logger?.warn({ event: event.type, err: (err as Error).message }, 'notifications failed'))
    .finally(() => inFlight.delete(p));
  inFlight.add(p);
}

/** Waits for deliveries in flight (tests, and the server's shutdown). */
export async function flushNotifications(): Promise<void> {
  while (inFlight.size > 0) await Promise.all([...inFlight]);
}
