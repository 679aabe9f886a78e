// The change feed behind the UI's live updates: one LISTEN connection per server on gantry_changes
// (announced by triggers at commit, see migration 000091), fanned out to the event streams of each tenant.
// Started with the first subscriber; after the LISTEN connection was lost and came back, every
// subscriber gets a `resync` (changes may have been missed), so its page reloads everything.
import type { Logger } from '../core/logger.js';
import { Listener } from '../store/listener.js';

export const CHANGES_CHANNEL = 'gantry_changes';

export interface Change {
  /** The kind of record: promotion, approval, deployment, deployment_task, target, agent, release, … or resync. */
  kind: string;
  id: string | null;
}

type Subscriber = (change: Change) => void;

export class ChangeHub {
  private listener: Listener | undefined;
  private starting: Promise<void> | undefined;
  private readonly subs = new Map<string, Set<Subscriber>>();

  constructor(private readonly o: { connectionString: string | undefined; logger: Logger }) {}

  /** Calls fn with each change of the tenant until the returned function is called. */
  async subscribe(tenantId: string, fn: Subscriber): Promise<() => void> {
    await this.start();
    let set = this.subs.get(tenantId);
    if (!set) {
      set = new Set();
      this.subs.set(tenantId, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.subs.get(tenantId) === set) this.subs.delete(tenantId);
    };
  }

  /** Streams open now, for logs and tests. */
  get subscribers(): number {
    let n = 0;
    for (const s of this.subs.values()) n += s.size;
    return n;
  }

  private start(): Promise<void> {
    if (!this.o.connectionString) return Promise.reject(new Error('the change feed needs the database connection string'));
    this.starting ??= (async () => {
      const listener = new Listener({
        connectionString: this.o.connectionString!,
        channels: [CHANGES_CHANNEL],
        applicationName: 'gantry-changes-listen',
        logger: this.o.logger,
        onNotification: (n) => this.deliver(n.payload),
        onReconnect: () => {
          for (const set of this.subs.values()) for (const fn of set) fn({ kind: 'resync', id: null });
        },
      });
      await listener.start();
      this.listener = listener;
    })().catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private deliver(payload: string | undefined): void {
    if (!payload) return;
    let msg: { t?: unknown; k?: unknown; id?: unknown };
    try {
      msg = JSON.parse(payload);
    } catch {
      return;
    }
    if (typeof msg.t !== 'string' || typeof msg.k !== 'string') return;
    const set = this.subs.get(msg.t);
    if (!set) return;
    const change: Change = { kind: msg.k, id: typeof msg.id === 'string' ? msg.id : null };
    for (const fn of set) fn(change);
  }

  async close(): Promise<void> {
    this.subs.clear();
    await this.starting?.catch(() => {});
    await this.listener?.stop();
    this.listener = undefined;
    this.starting = undefined;
  }
}
