// A LISTEN connection that survives the database: on error or end it reconnects with backoff, LISTENs
// again and calls onReconnect, so its owner polls for what was notified while it was away.
import pg from 'pg';
import type { Logger } from '../core/logger.js';

export interface ListenerOptions {
  connectionString: string;
  channels: string[];
  applicationName: string;
  logger: Logger;
  onNotification(n: pg.Notification): void;
  /** After a reconnect (not the first connect): notifications may have been missed, so look for work. */
  onReconnect(): void;
  /** First delay before reconnecting; doubles up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export class Listener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Reconnects done since start (for tests and logs). */
  reconnects = 0;

  constructor(private readonly o: ListenerOptions) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Connects and LISTENs; throws if the database does not answer now (the server does not start without it). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.o.connectionString, application_name: this.o.applicationName });
    // Registered before connect: an 'error' without a listener would be an uncaught exception.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => this.o.onNotification(n));
    try {
      await client.connect();
      for (const ch of this.o.channels) await client.query(`LISTEN ${ch}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw err;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners('end');
    void client.end().catch(() => {});
    this.o.logger.warn({ err: err?.message ?? 'connection ended' }, `${this.o.applicationName}: LISTEN connection lost; reconnecting`);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.retry) return;
    const initial = this.o.initialDelayMs ?? 250;
    const delay = Math.min(this.o.maxDelayMs ?? 10_000, initial * 2 ** this.failures);
    // Jitter, so replicas do not all knock at the same moment after a restart.
    const wait = delay / 2 + Math.random() * (delay / 2);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect().then(
        () => {
          if (this.stopped || !this.client) return;
          this.failures = 0;
          this.reconnects++;
          this.o.logger.info({ reconnects: this.reconnects }, `${this.o.applicationName}: LISTEN connection restored`);
          this.o.onReconnect();
        },
        (e: unknown) => {
          this.failures++;
          this.o.logger.warn({ err: e instanceof Error ? e.message : String(e) }, `${this.o.applicationName}: reconnect failed; retrying`);
          this.schedule();
        },
      );
    }, wait);
  }
}
