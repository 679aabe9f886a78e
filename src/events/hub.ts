// The change feed behind the UI's live updates: one LISTEN connection per server on gantry_changes
// (announced by triggers at commit, see migration 000091), fanned out to the event streams of each tenant.
// Started with the first subscriber; after the LISTEN connection was lost and came back, every
// subscriber gets a `resync` (changes may have been missed), so its page reloads everything.
// The same connection LISTENs on gantry_work (migration 000096): a tenant has work for agents; the agent
// protocol's waiting lease requests subscribe to it (a reconnect wakes them all, as work may have been missed).
import type { Logger } from '../core/logger.js';
import { Listener } from '../store/listener.js';

export const CHANGES_CHANNEL = 'gantry_changes';
export const WORK_CHANNEL = 'gantry_work';

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
  private readonly work = new Map<string, Set<() => void>>();

  constructor(private readonly o: { connectionString: string | undefined; logger: Logger }) {}

  /** Calls fn with each change of the tenant until the returned function is called. */
  async subscribe(tenantId: string, fn: Subscriber): Promise<() => void> {
    await this.start();
    return add(this.subs, tenantId, fn);
  }

  /** Calls fn each time the tenant may have work for agents (and after a reconnect) until the returned function is called. */
  async subscribeWork(tenantId: string, fn: () => void): Promise<() => void> {
    await this.start();
    return add(this.work, tenantId, fn);
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
        channels: [CHANGES_CHANNEL, WORK_CHANNEL],
        applicationName: 'gantry-changes-listen',
        logger: this.o.logger,
        onNotification: (n) => (n.channel === WORK_CHANNEL ? this.wake(n.payload) : this.deliver(n.payload)),
        onReconnect: () => {
          for (const set of this.subs.values()) for (const fn of set) fn({ kind: 'resync', id: null });
          for (const set of this.work.values()) for (const fn of set) fn();
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

  private wake(tenantId: string | undefined): void {
    const set = tenantId ? this.work.get(tenantId) : undefined;
    if (set) for (const fn of [...set]) fn();
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
    for (const set of this.work.values()) for (const fn of [...set]) fn();
    this.work.clear();
    await this.starting?.catch(() => {});
    await this.listener?.stop();
    this.listener = undefined;
    this.starting = undefined;
  }
}

function add<T>(map: Map<string, Set<T>>, tenantId: string, fn: T): () => void {
  let set = map.get(tenantId);
  if (!set) {
    set = new Set();
    map.set(tenantId, set);
  }
  set.add(fn);
  return () => {
    set.delete(fn);
    if (set.size === 0 && map.get(tenantId) === set) map.delete(tenantId);
  };
}
