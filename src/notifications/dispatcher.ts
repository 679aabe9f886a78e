// Delivers the notification outbox, out of band of every deployment and decision. Each server runs one
// dispatcher; they share the rows: a claim (FOR UPDATE SKIP LOCKED) counts the attempt and holds the row
// for one attempt's timeout, so two servers never deliver one notification at once, and a server that
// dies mid-delivery leaves a claim that runs out and another server retries. Per (channel, subject) only
// the oldest pending notification is claimable, so a later event never overtakes an earlier one that is
// still retrying. Failures back off exponentially with jitter; after maxAttempts the row is a dead letter.
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { denyingOutbound, type Outbound } from '../http/outbound.js';
import { setHealth } from '../integrations/health.js';
import { type NotificationEvent, type NotificationEventType, outboxWakeups, payload } from '../integrations/notify.js';
import { resolveCredential } from '../integrations/secrets.js';
import type { PluginHost } from '../plugins/host.js';
import { deliverToPluginChannel } from '../plugins/notify.js';
import { type Db, withSystem, withTenant } from '../store/db.js';
import { type SendOutcome, sendWebhook } from './send.js';
import { backoffMs, type NotificationSettings } from './settings.js';

export interface DispatcherOptions {
  db: Db;
  clock: Clock;
  settings: NotificationSettings;
  /** Delivers plugin channels; without one, plugin rows are left to a server that has it. */
  plugins?: PluginHost | undefined;
  logger?: Logger | undefined;
  random?: () => number;
  /** The door webhook deliveries go through; without one, every tenant URL is refused. */
  outbound?: Outbound | undefined;
}

interface Claimed {
  id: string;
  tenant_id: string;
  event_id: string;
  event_type: string;
  data: Record<string, unknown>;
  occurred_at: Date;
  channel_kind: 'webhook' | 'plugin';
  integration_id: string | null;
  channel: string;
  attempts: number;
}

export class NotificationDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = true;
  private wake: (() => void) | undefined;
  private readonly onWakeup = () => this.wake?.();

  constructor(private readonly o: DispatcherOptions) {}

  private door(): Outbound {
    this.o.outbound ??= denyingOutbound();
    return this.o.outbound;
  }

  private kinds(): string[] {
    return this.o.plugins ? ['webhook', 'plugin'] : ['webhook'];
  }

  /** Claims up to `max` due notifications, counting an attempt on each and holding it for one attempt's time. */
  async claim(max: number): Promise<Claimed[]> {
    const now = this.o.clock.now();
    // One attempt's time plus a margin for recording its outcome; a claim past that is a dead server's.
    const hold = new Date(now.getTime() + this.o.settings.timeoutMs + 10_000);
    return withSystem(this.o.db, async (tx) => {
      const r = await tx.query<Claimed>(
        `WITH c AS (
           SELECT n.id FROM notifications n
            WHERE n.status = 'pending' AND n.channel_kind = ANY($4::text[])
              AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= $1)
              AND (n.claimed_until IS NULL OR n.claimed_until <= $1)
              AND NOT EXISTS (SELECT 1 FROM notifications e
                               WHERE e.tenant_id = n.tenant_id AND e.channel_key = n.channel_key AND e.subject = n.subject
                                 AND e.status = 'pending' AND e.seq < n.seq)
            ORDER BY n.seq LIMIT $3 FOR UPDATE SKIP LOCKED)
         UPDATE notifications n SET attempts = n.attempts + 1, claimed_until = $2
           FROM c WHERE n.id = c.id
         RETURNING n.id, n.tenant_id, n.event_id, n.event_type, n.data, n.occurred_at, n.channel_kind, n.integration_id, n.channel, n.attempts`,
        [now, hold, max, this.kinds()],
      );
      return r.rows;
    });
  }

  /**
   * Makes one delivery attempt of a claimed row and records it: always in the log, and in the row's
   * status only while the claim is still this attempt's (a claim that ran out and was taken over by
   * another server belongs to that server now).
   */
  async deliver(n: Claimed): Promise<void> {
    const started = this.o.clock.now();
    const event: NotificationEvent = { type: n.event_type as NotificationEventType, data: n.data };
    let outcome: SendOutcome;
    try {
      outcome = n.channel_kind === 'webhook' ? await this.webhook(n, event) : await this.plugin(n, event);
    } catch (err) {
      outcome = { ok: false, error: (err as Error).message, retryable: true };
    }
    const finished = this.o.clock.now();
    const dead = !outcome.ok && (!outcome.retryable || n.attempts >= this.o.settings.maxAttempts);
    const next = new Date(finished.getTime() + backoffMs(this.o.settings, n.attempts, this.o.random));
    await withSystem(this.o.db, async (tx) => {
      await tx.query(
        `INSERT INTO notification_attempts (tenant_id, notification_id, attempt, started_at, finished_at, ok, http_status, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [n.tenant_id, n.id, n.attempts, started, finished, outcome.ok, outcome.status ?? null, outcome.error?.slice(0, 2000) ?? null],
      );
      await tx.query(
        `UPDATE notifications SET claimed_until = NULL,
                status = $2, delivered_at = CASE WHEN $2 = 'delivered' THEN $3::timestamptz END,
                next_attempt_at = CASE WHEN $2 = 'pending' THEN $4::timestamptz END,
                last_error = $5
          WHERE id = $1 AND attempts = $6`,
        [
          n.id,
          outcome.ok ? 'delivered' : dead ? 'dead' : 'pending',
          finished,
          next,
          outcome.ok ? null : (outcome.error ?? 'failed'),
          n.attempts,
        ],
      );
    });
    if (!outcome.ok) {
      this.o.logger?.warn(
        { notification: n.id, channel: n.channel, event: n.event_type, attempt: n.attempts, dead, err: outcome.error },
        dead ? 'notification is a dead letter' : 'notification not delivered; will retry',
      );
    }
  }

  private async webhook(n: Claimed, event: NotificationEvent): Promise<SendOutcome> {
    const integrationId = n.integration_id!;
    const { hook, tenantName } = await withTenant(this.o.db, n.tenant_id, async (tx) => {
      const t = await tx.query<{ name: string }>('SELECT name FROM tenants WHERE id = $1', [n.tenant_id]);
      const h = await tx.query<{ name: string; config: { url: string; format?: string }; credential_ref: string | null }>(
        'SELECT name, config, credential_ref FROM integrations WHERE id = $1',
        [integrationId],
      );
      return { hook: h.rows[0], tenantName: t.rows[0]?.name ?? n.tenant_id };
    });
    if (!hook) return { ok: false, error: `integration ${n.channel} no longer exists`, retryable: false };
    let url = hook.config.url;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'gantry-notify/0.1.0',
      // Stable across retries and resends: a receiver that remembers it handles each notification once.
      'idempotency-key': n.id,
      'x-gantry-event': n.event_type,
      'x-gantry-delivery-attempt': String(n.attempts),
    };
    let out: SendOutcome;
    try {
      // The credential is either the webhook URL itself (Slack-style secret URLs) or a bearer token.
      if (hook.credential_ref) {
        const secret = await resolveCredential(hook.credential_ref, { db: this.o.db, tenantId: n.tenant_id, fetch: this.door().fetch });
        if (/^https?:\/\//.test(secret)) url = secret;
        else headers.authorization = `Bearer ${secret}`;
      }
      const target = url === hook.config.url ? url : 'the URL from its credentialRef';
      const body = JSON.stringify(
        payload(hook.config.format ?? 'generic', n.tenant_id, tenantName, n.occurred_at, event, { id: n.id, eventId: n.event_id }),
      );
      out = await sendWebhook(this.door(), url, headers, body, this.o.settings.timeoutMs, target);
    } catch (err) {
      // A credential that cannot be resolved now may be fixed before the next attempt.
      out = { ok: false, error: (err as Error).message, retryable: true };
    }
    const health = out.ok
      ? { healthy: true, message: `delivered ${n.event_type}` }
      : { healthy: false, message: `${n.event_type} not delivered: ${out.error}` };
    await withTenant(this.o.db, n.tenant_id, (tx) => setHealth(tx, integrationId, health, this.o.clock.now())).catch(() => {});
    return out;
  }

  private async plugin(n: Claimed, event: NotificationEvent): Promise<SendOutcome> {
    const slash = n.channel.lastIndexOf('/');
    const host = this.o.plugins!;
    const timeout = new Promise<SendOutcome>((resolve) => {
      const t = setTimeout(
        () =>
          resolve({
            ok: false,
            error: `plugin channel ${n.channel} gave no answer within ${this.o.settings.timeoutMs} ms`,
            retryable: true,
          }),
        this.o.settings.timeoutMs,
      );
      t.unref();
    });
    const call = deliverToPluginChannel(host, n.tenant_id, n.channel.slice(0, slash), n.channel.slice(slash + 1), event, n.occurred_at, {
      id: n.id,
    }).then((d): SendOutcome => (d.ok ? { ok: true, retryable: false } : { ok: false, error: d.error ?? 'failed', retryable: true }));
    return Promise.race([call, timeout]);
  }

  /** One round: claims what is due (up to the free concurrency) and starts delivering it; returns how many. */
  async tick(): Promise<number> {
    const free = this.o.settings.concurrency - this.inFlight.size;
    if (free <= 0) return 0;
    const claimed = await this.claim(free);
    for (const n of claimed) {
      const p: Promise<void> = this.deliver(n)
        .catch((err: unknown) => this.o.logger?.error({ notification: n.id, err: (err as Error).message }, 'recording a delivery failed'))
        .finally(() => {
          this.inFlight.delete(p);
          this.wake?.();
        });
      this.inFlight.add(p);
    }
    return claimed.length;
  }

  /** Delivers until nothing is due now (tests; a notification waiting for its backoff is not due). */
  async drain(): Promise<void> {
    for (;;) {
      const n = await this.tick();
      if (n === 0 && this.inFlight.size === 0) return;
      if (n === 0) await Promise.race([...this.inFlight]);
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    outboxWakeups.on('queued', this.onWakeup);
    const run = async () => {
      while (!this.stopped) {
        try {
          await this.tick();
        } catch (err) {
          this.o.logger?.error({ err: (err as Error).message }, 'notification dispatch failed');
        }
        if (this.stopped) break;
        await new Promise<void>((resolve) => {
          this.timer = setTimeout(resolve, this.o.settings.pollMs);
          this.wake = () => {
            if (this.timer) clearTimeout(this.timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    };
    this.loop = run();
  }

  /** Stops claiming and waits for the deliveries in flight (their outcome is recorded). */
  async stop(): Promise<void> {
    this.stopped = true;
    outboxWakeups.off('queued', this.onWakeup);
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }
}
