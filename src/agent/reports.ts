// Durable task reports: a finished task's last log lines and report are written to the agent's state dir
// (write, fsync, rename) before they are sent, then sent until a server acknowledges them, with jittered
// exponential backoff, across server outages and agent restarts (a new process sends them before it
// leases anything). The server gives a re-sent report the answer it gave the first; a refusal (the lease
// was taken over, the task ended, the report is invalid) drops the report, since it can never land.
// When the server takes batches, the reports ready at once go in one request (each with its last log
// lines), each answered on its own; reports that become ready while a batch is in flight go in the next.
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { TaskReport } from '../protocol/deployment.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { AgentHttpError, isTransient } from './client.js';

export interface PendingReport {
  taskId: string;
  fencingToken: number;
  /** Protocol paths (under /api/v1) of the task's log and report routes. */
  logsPath: string;
  reportPath: string;
  /** Log lines not yet acknowledged (sent first; idempotent per attempt and seq). */
  lines: { seq: number; at: string; line: string }[];
  report: TaskReport;
  savedAt: string;
}

/** The server's answer for one task of a batch: acknowledged, or refused with the problem a single request would have got. */
export interface BatchResult {
  taskId: string;
  ok: boolean;
  status?: number;
  code?: string;
  detail?: string;
}

/** At most this many reports, and about this many bytes, per batch (the server's body limit is 1 MiB). */
const BATCH_MAX = 100;
const BATCH_BYTES = 512 * 1024;

export interface ReportOutboxOptions {
  /** The directory the reports live in (<state dir>/reports). */
  dir: string;
  post: (apiPath: string, body: unknown) => Promise<unknown>;
  /** Sends several reports with their lines in one request; undefined when the server takes no batches. */
  postBatch?: (reports: PendingReport[]) => Promise<BatchResult[]> | undefined;
  log: (msg: string) => void;
  /** The retry delays (jittered exponential backoff, the agent's one helper for it). */
  backoff?: BackoffOptions | undefined;
}

const fileOf = (r: { taskId: string; fencingToken: number }) => `${r.taskId}.${r.fencingToken}.json`;

/** Writes a file so that a crash leaves either the old content or the new one: temp file, fsync, rename, fsync the directory. */
export async function writeDurable(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } catch {
    // some file systems cannot fsync a directory; the rename is still atomic
  } finally {
    await dir.close();
  }
}

export class ReportOutbox {
  private readonly pending = new Map<string, PendingReport>();
  private pump: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly backoff: Backoff;

  constructor(private readonly o: ReportOutboxOptions) {
    this.backoff = new Backoff(o.backoff);
  }

  get size(): number {
    return this.pending.size;
  }

  has(taskId: string): boolean {
    return [...this.pending.values()].some((r) => r.taskId === taskId);
  }

  /** Reads the reports a previous process left (a torn temp file is discarded) and starts sending them. */
  async load(): Promise<number> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.o.dir)) {
      const file = path.join(this.o.dir, name);
      if (name.endsWith('.tmp')) {
        await rm(file, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        this.pending.set(name, JSON.parse(await readFile(file, 'utf8')) as PendingReport);
      } catch (err) {
        this.o.log(`cannot read the saved report ${file} (${(err as Error).message}); left in place`);
      }
    }
    if (this.pending.size) this.o.log(`${this.pending.size} report(s) saved by an earlier run; sending them first`);
    this.kick();
    return this.pending.size;
  }

  /** Saves the report to disk, then sends it (in the background, until acknowledged or refused). */
  async add(r: PendingReport): Promise<void> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    await writeDurable(path.join(this.o.dir, fileOf(r)), `${JSON.stringify(r)}\n`);
    this.pending.set(fileOf(r), r);
    this.kick();
  }

  /** Waits until every report is acknowledged or refused, or the timeout passes; true when none is left. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size && Date.now() < deadline) {
      this.kick();
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.pending.size === 0;
  }

  /**
   * Stops sending; what is unsent stays on disk for the next start. Resolves once a request already in flight
   * has ended (or after `waitMs`), so nothing is sent after it resolves.
   */
  async stop(waitMs = 0): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (this.pump && waitMs > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.pump, new Promise<void>((r) => (t = setTimeout(r, waitMs)))]);
      clearTimeout(t);
    }
  }

  private kick(): void {
    if (this.pump || this.stopped) return;
    this.pump = this.run().finally(() => {
      this.pump = undefined;
      if (this.pending.size && !this.stopped) this.kick();
    });
  }

  private async run(): Promise<void> {
    this.backoff.reset();
    while (!this.stopped && this.pending.size) {
      const retry = (await this.sendBatch()) ?? (await this.sendEach());
      if (retry && !this.stopped) {
        const wait = this.backoff.next();
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /** Whether a failure of this request may pass (anything but the server's explicit refusal); logs why it is kept. */
  private keep(r: PendingReport, err: unknown): boolean {
    // 401: the credential was rotated under this process; the restarted agent reads the new one and sends it.
    const unauthorized = err instanceof AgentHttpError && err.status === 401;
    // Anything but the server's explicit answer may pass: only a 4xx problem document drops a report.
    if (!(err instanceof AgentHttpError) || isTransient(err) || unauthorized) {
      this.o.log(
        `task ${r.taskId}: report not delivered yet (${(err as Error).message})${unauthorized ? ' (credential refused: restart the agent after rotating it)' : ''}; retrying`,
      );
      return true;
    }
    return false;
  }

  private async settle(name: string, r: PendingReport, refusal?: string): Promise<void> {
    if (refusal === undefined) this.o.log(`task ${r.taskId}: report acknowledged (${r.report.status})`);
    // The server will never take it: the lease was taken over (409), the task ended, or the report is invalid.
    else this.o.log(`task ${r.taskId}: report refused (${refusal}); dropped`);
    this.pending.delete(name);
    await rm(path.join(this.o.dir, name), { force: true });
  }

  /**
   * Sends the reports ready now in one request; true to retry later, undefined when the server takes no
   * batches or refused this one as a whole (then they go one by one, each answered on its own).
   */
  private async sendBatch(): Promise<boolean | undefined> {
    if (this.stopped) return false;
    const chunk: [string, PendingReport][] = [];
    const tasks = new Set<string>();
    let bytes = 0;
    for (const [name, r] of this.pending) {
      const size = JSON.stringify(r).length;
      if (chunk.length && (chunk.length >= BATCH_MAX || bytes + size > BATCH_BYTES)) break;
      if (tasks.has(r.taskId)) continue; // two saved reports of one task (two leases) never share a batch
      tasks.add(r.taskId);
      chunk.push([name, r]);
      bytes += size;
    }
    let results: BatchResult[] | undefined;
    try {
      results = await this.o.postBatch?.(chunk.map(([, r]) => r));
    } catch (err) {
      if (this.keep(chunk[0]![1], err)) return true;
      return undefined;
    }
    if (!results) return undefined;
    const byTask = new Map(results.map((x) => [x.taskId, x]));
    let retry = false;
    for (const [name, r] of chunk) {
      const x = byTask.get(r.taskId);
      if (x?.ok) await this.settle(name, r);
      else if (x && x.status !== undefined && !isTransient(new AgentHttpError(x.status, x.code ?? '', x.detail ?? '')))
        await this.settle(name, r, `${x.detail ?? 'refused'} (${x.code ?? x.status})`);
      else retry = true;
    }
    if (!retry) this.backoff.reset();
    return retry;
  }

  /** Sends the reports one at a time (logs, then report); true to retry later. */
  private async sendEach(): Promise<boolean> {
    for (const [name, r] of [...this.pending]) {
      if (this.stopped) return false;
      try {
        if (r.lines.length) await this.o.post(r.logsPath, { attempt: r.report.attempt, fencingToken: r.fencingToken, lines: r.lines });
        // A stop while the log lines were on their way: the report waits on disk for the next start.
        if (this.stopped) return false;
        await this.o.post(r.reportPath, r.report);
        this.backoff.reset();
        await this.settle(name, r);
      } catch (err) {
        if (this.keep(r, err)) return true;
        await this.settle(name, r, (err as Error).message);
      }
    }
    return false;
  }
}
