// The agent process (`gantry agent run`): registers once with a join token (credential stored 0600 in its
// state dir), heartbeats, leases tasks, runs them with its executors, streams logs, reports outcomes, and
// observes its targets for drift checks. Outbound HTTP(S) only; talks to the server and nothing else of it.
// Each lease carries a fencing token: a refused log batch (the lease was taken over) aborts the executor
// and nothing is reported. Reports are saved to the state dir first and retried until acknowledged
// (reports.ts); a re-leased task first observes its target and only reports when the work is already done.
// Against a server that offers them (heartbeat `features`), the agent waits for work with a long poll
// instead of polling, starts the tasks of one lease answer with one request, and sends its reports (with
// their last log lines) in batches; against an older server it speaks the first protocol.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AgentTask } from '../protocol/deployment.js';
import type { TrafficChange } from '../protocol/traffic.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { AgentClient, AgentHttpError, type AgentTls, isTransient } from './client.js';
import { proveConvergence } from './convergence.js';
import { NoopExecutor } from './executors/noop.js';
import { type ExecResult, type Executor, type ObserveTarget, TaskFailure, type TaskLog } from './executors/types.js';
import { checkDockerSocket, checkStateDir, explainSocketError } from './preflight.js';
import { type BatchResult, ReportOutbox } from './reports.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  /** The server URL, or several (replicas) separated by commas. */
  server: string;
  joinToken?: string | undefined;
  name: string;
  stateDir: string;
  /** Target types to serve; with noop, every listed type is served by the noop executor. */
  executors: string[];
  noop: boolean;
  concurrency: number;
  log: (msg: string) => void;
  /** A CA to trust and/or a client certificate for mutual TLS (loadAgentTls). */
  tls?: AgentTls | undefined;
  /** Where the noop executor records what each target "runs" (default: the state dir). */
  noopDir?: string | undefined;
  /** Ignore what the server offers beyond the first protocol: poll, and start and report one task at a time. */
  firstProtocol?: boolean | undefined;
  /** Retry delays of start-up requests, task polls and report delivery (tests inject the random). */
  backoff?: BackoffOptions | undefined;
}

interface Stored {
  server: string;
  agentId: string;
  tenantId: string;
  name: string;
  credential: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long a starting agent waits for a server to answer before it gives up (see untilAnswered). */
const STARTUP_RETRY_MS = 5 * 60_000;
/** Answers that mean this agent may never act again: it stops instead of retrying. */
const REVOKED_CODES = new Set(['agent_revoked', 'agent_certificate_revoked']);
/** The longest pause between task polls while no server answers (the poll interval is the shortest). */
const POLL_BACKOFF_CAP_MS = 10_000;
/** How long stop() waits for a report request already in flight (the client gives up on a request after 30 s). */
const STOP_REQUEST_WAIT_MS = 30_000;
/** How long a lease request may wait for work on the server (long poll), under the client's 30 s timeout. */
const LEASE_WAIT_SECONDS = 20;

export function credentialFile(stateDir: string): string {
  return path.join(stateDir, 'agent.json');
}

/** Writes the credential with mode 0600 (and the directory 0700): nobody else on the host may read it. */
export async function storeCredential(stateDir: string, s: Stored): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = credentialFile(stateDir);
  await writeFile(file, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

export class Agent {
  private client: AgentClient;
  private stored: Stored | undefined;
  private readonly sessionId = randomBytes(12).toString('hex');
  private readonly executors = new Map<string, Executor>();
  private readonly inflight = new Set<Promise<void>>();
  private running = false;
  private heartbeatSeconds = 10;
  private pollSeconds = 2;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** What the server offers beyond the first protocol (heartbeat answer): lease_wait, task_batches. */
  private features = new Set<string>();
  /** Ends a waiting lease request when the agent stops. */
  private readonly stopping = new AbortController();
  private readonly outbox: ReportOutbox;
  /** What the start-up check learnt of the host's engine (its version goes into heartbeats). */
  private engines: Record<string, string> = {};
  private onRevoked: (why: string) => void = () => {};
  /** Settles when the server says this agent (or its certificate) was revoked; the agent has stopped by then. */
  readonly revoked = new Promise<string>((resolve) => {
    this.onRevoked = resolve;
  });

  constructor(private readonly opts: AgentOptions) {
    this.client = new AgentClient(opts.server, undefined, opts.tls);
    if (this.client.proxy) opts.log(`proxy settings for the server connection: ${this.client.proxy}`);
    this.outbox = new ReportOutbox({
      dir: path.join(opts.stateDir, 'reports'),
      post: (apiPath, body) => this.client.post(apiPath, body),
      postBatch: (reports) =>
        this.features.has('task_batches')
          ? this.client
              .post<{ results: BatchResult[] }>(`/agents/${this.stored!.agentId}/tasks/report`, {
                reports: reports.map((r) => ({ taskId: r.taskId, lines: r.lines, report: r.report })),
              })
              .then((a) => a.results)
          : undefined,
      log: opts.log,
      backoff: opts.backoff,
    });
    for (const type of opts.executors) {
      if (opts.noop) this.executors.set(type, new NoopExecutor(opts.noopDir ?? opts.stateDir));
      else if (type !== 'docker_host' && type !== 'compose_host')
        throw new Error(`the agent has no executor for "${type}" (docker_host, compose_host; ssh_host runs on the server)`);
    }
  }

  get agentId(): string | undefined {
    return this.stored?.agentId;
  }

  /** Loads the stored credential, or registers with the join token and stores it. */
  async identify(): Promise<void> {
    try {
      this.stored = JSON.parse(await readFile(credentialFile(this.opts.stateDir), 'utf8')) as Stored;
    } catch {
      if (!this.opts.joinToken)
        throw new Error(`no credential in ${credentialFile(this.opts.stateDir)}; pass --join-token (gantry agent token create)`);
      const r = await this.client.post<Stored & { heartbeatInterval: number; taskPollInterval: number }>(
        '/agents/register',
        { name: this.opts.name, version: AGENT_VERSION, capabilities: { executors: this.opts.executors } },
        { 'x-agent-token': this.opts.joinToken },
      );
      this.stored = { server: this.opts.server, agentId: r.agentId, tenantId: r.tenantId, name: r.name, credential: r.credential };
      await storeCredential(this.opts.stateDir, this.stored);
      this.opts.log(`registered as ${r.name} (${r.agentId}); credential stored in ${credentialFile(this.opts.stateDir)}`);
    }
    this.client.setCredential(this.stored.credential);
  }

  /** Replaces the credential with a fresh one; the old one stops working at once. */
  async rotate(): Promise<void> {
    await this.identify();
    const r = await this.client.post<{ credential: string }>(`/agents/${this.stored!.agentId}/rotate`, {});
    this.stored = { ...this.stored!, credential: r.credential };
    await storeCredential(this.opts.stateDir, this.stored);
    this.client.setCredential(r.credential);
  }

  /**
   * Runs a start-up request until a server answers it: a replica that is restarting, a load balancer with
   * no replica behind it or a database failing over (503) is waited out with jittered backoff (full
   * jitter under a ceiling of 0.5 s doubling to 30 s; the client moves to the next configured server after
   * each failure). A refusal (401, 400…) or STARTUP_RETRY_MS without an answer ends the start with the error.
   */
  private async untilAnswered<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + STARTUP_RETRY_MS;
    const backoff = new Backoff(this.opts.backoff);
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err) || Date.now() >= deadline) throw err;
        const wait = backoff.next();
        this.opts.log(`${what} failed: ${(err as Error).message}; retrying in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait);
      }
    }
  }

  /** Checks the host before anything connects: state dir writable, Docker socket usable by this user. */
  async preflight(): Promise<void> {
    await this.loadExecutors();
    await checkStateDir(this.opts.stateDir);
    const dockerTypes = this.opts.executors.filter((t) => t === 'docker_host' || t === 'compose_host');
    if (this.opts.noop || dockerTypes.length === 0) return;
    const engine = await checkDockerSocket();
    if (engine.version) this.engines = { docker: engine.version };
    if (engine.warning) this.opts.log(`${engine.warning}; tasks on targets using it fail until it answers`);
  }

  /** Loads the Docker and Compose executors when used (a noop agent never loads the Docker client: less memory). */
  private async loadExecutors(): Promise<void> {
    for (const type of this.opts.executors) {
      if (this.executors.has(type)) continue;
      if (type === 'docker_host') this.executors.set(type, new (await import('./executors/docker.js')).DockerExecutor(this.opts.stateDir));
      else if (type === 'compose_host') this.executors.set(type, new (await import('./executors/compose.js')).ComposeExecutor());
    }
  }

  async start(): Promise<void> {
    await this.preflight();
    await this.untilAnswered('registration', () => this.identify());
    this.running = true;
    // First: a new session returns the tasks a crashed predecessor held.
    await this.untilAnswered('first heartbeat', () => this.heartbeat());
    await this.outbox.load(); // then the reports it saved and could not deliver, before any new lease
    const beat = () => {
      this.heartbeatTimer = setTimeout(() => {
        void this.heartbeat()
          .catch((err: unknown) => {
            this.opts.log(`heartbeat failed: ${(err as Error).message}`);
            this.stopIfRevoked(err);
          })
          .finally(() => {
            if (this.running) beat();
          });
      }, this.heartbeatSeconds * 1000);
    };
    beat();
    void this.pollLoop();
  }

  /**
   * Stops leasing and waits (bounded by timeoutMs) for the tasks in flight to finish and their reports to be
   * delivered; undelivered ones stay on disk. A report request already on its way is then waited for (up to
   * STOP_REQUEST_WAIT_MS), so nothing is sent after stop() returns.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.running = false;
    this.stopping.abort();
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    await Promise.race([Promise.allSettled([...this.inflight]), sleep(timeoutMs)]);
    await this.outbox.drain(Math.max(0, deadline - Date.now()));
    // A report request still in flight ends before stop() does (bounded by a client timeout's worth):
    // a stopped agent sends nothing more.
    await this.outbox.stop(STOP_REQUEST_WAIT_MS);
  }

  /** A revoked agent stops leasing, heartbeating and sending reports (they can never land). */
  private stopIfRevoked(err: unknown): void {
    if (!(err instanceof AgentHttpError) || !REVOKED_CODES.has(err.code) || !this.running) return;
    this.running = false;
    this.stopping.abort();
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    void this.outbox.stop();
    this.onRevoked(`the server refused this agent: ${err.message} (${err.code})`);
  }

  /** Reports saved and not yet acknowledged by a server. */
  get pendingReports(): number {
    return this.outbox.size;
  }

  private async heartbeat(): Promise<void> {
    const id = this.stored!.agentId;
    const engines: Record<string, string> = { ...this.engines };
    for (const e of new Set(this.executors.values())) Object.assign(engines, await e.info().catch(() => ({})));
    const r = await this.client.post<{
      heartbeatInterval: number;
      taskPollInterval: number;
      features?: string[];
      observe: ObserveTarget[];
    }>(`/agents/${id}/heartbeat`, {
      sessionId: this.sessionId,
      version: AGENT_VERSION,
      capabilities: { executors: this.opts.executors, engines, noop: this.opts.noop, actions: ['deploy', 'remove', 'route'] },
      resources: {
        loadavg: os.loadavg()[0],
        rssBytes: process.memoryUsage().rss,
        freeMemBytes: os.freemem(),
        inflight: this.inflight.size,
      },
    });
    this.heartbeatSeconds = r.heartbeatInterval;
    this.pollSeconds = r.taskPollInterval;
    this.features = new Set(this.opts.firstProtocol ? [] : (r.features ?? []));
    if (r.observe.length) await this.observe(r.observe);
  }

  private async observe(targets: ObserveTarget[]): Promise<void> {
    const observations = [];
    for (const t of targets) {
      const e = this.executors.get(t.type);
      if (e) observations.push(await e.observe(t));
    }
    if (observations.length) await this.client.post(`/agents/${this.stored!.agentId}/observations`, { observations });
  }

  private async pollLoop(): Promise<void> {
    // While no server answers, polls spread out (jittered, up to POLL_BACKOFF_CAP_MS) instead of arriving in step.
    const backoff = new Backoff({ ...this.opts.backoff, capMs: Math.max(this.opts.backoff?.baseMs ?? 500, POLL_BACKOFF_CAP_MS) });
    while (this.running) {
      const free = this.opts.concurrency - this.inflight.size;
      let got = 0;
      let unanswered = false;
      // Saved reports go first: a task is not leased again while its outcome may still land.
      const longPoll = this.features.has('lease_wait');
      const asked = Date.now();
      if (free > 0 && this.outbox.size === 0) {
        try {
          const r = await this.client.post<{ tasks: AgentTask[]; traffic?: TrafficChange[] }>(
            `/agents/${this.stored!.agentId}/tasks/lease`,
            { max: free, ...(longPoll ? { wait: LEASE_WAIT_SECONDS } : {}) },
            {},
            this.stopping.signal,
          );
          got = r.tasks.length;
          backoff.reset();
          const started = got && this.features.has('task_batches') ? await this.startAll(r.tasks) : undefined;
          for (const t of r.tasks) {
            if (started && !started.has(t.taskId)) continue;
            const p = this.runTask(t, started !== undefined).finally(() => this.inflight.delete(p));
            this.inflight.add(p);
          }
          for (const c of r.traffic ?? []) {
            const p = this.runTrafficChange(c).finally(() => this.inflight.delete(p));
            this.inflight.add(p);
          }
        } catch (err) {
          if (!this.running) break;
          this.opts.log(`lease failed: ${(err as Error).message}`);
          unanswered = isTransient(err);
          this.stopIfRevoked(err);
        }
      }
      if (unanswered) await sleep(Math.max(this.pollSeconds * 1000, backoff.next()));
      // Reports on their way: lease as soon as they land.
      else if (free > 0 && this.outbox.size > 0) await sleep(50);
      else if (got === 0 && longPoll) {
        // The server waited for work; an answer sooner than the poll interval (it was closing) is not retried at once.
        await sleep(Math.max(0, this.pollSeconds * 1000 - (Date.now() - asked)));
      } else if (got === 0 || free - got <= 0) await sleep(got === 0 ? this.pollSeconds * 1000 : 50);
    }
  }

  /**
   * Marks the tasks of one lease answer running with one request (committed before any executor touches
   * its target); returns the tasks the server started. A task it refused (taken over meanwhile) is dropped.
   */
  private async startAll(tasks: AgentTask[]): Promise<Set<string>> {
    const started = new Set<string>();
    try {
      const r = await this.client.post<{ results: BatchResult[] }>(`/agents/${this.stored!.agentId}/tasks/start`, {
        tasks: tasks.map((t) => ({ taskId: t.taskId, attempt: t.attempt, fencingToken: t.fencingToken })),
      });
      for (const x of r.results) {
        if (x.ok) started.add(x.taskId);
        else this.opts.log(`task ${x.taskId}: ${x.detail ?? x.code ?? 'not started'}`);
      }
    } catch (err) {
      // As when one task's start fails: nothing runs; the leases end and the tasks are leased again.
      this.opts.log(`starting ${tasks.length} task(s) failed: ${(err as Error).message}`);
      this.stopIfRevoked(err);
    }
    return started;
  }

  /** Applies a leased traffic change on this host's router and reports it (a lost report is re-leased after its lease). */
  private async runTrafficChange(change: TrafficChange): Promise<void> {
    // Loaded on the first traffic change: an agent without a router never loads the routers (nor zod).
    const { applyTrafficChange } = await import('./traffic-runner.js');
    const result = await applyTrafficChange(change);
    for (const line of result.log) this.opts.log(line);
    try {
      await this.client.post(`/agents/${this.stored!.agentId}/traffic/${change.id}/report`, { attempt: change.attempt, ...result });
    } catch (err) {
      this.opts.log(`traffic change ${change.id}: report failed (${(err as Error).message}); it is leased again when its lease ends`);
    }
  }

  /** Runs one task: start unless the lease's batch start did (committed before touching the target), execute with streamed logs, save and send the report. */
  private async runTask(task: AgentTask, started = false): Promise<void> {
    const base = `/agents/${this.stored!.agentId}/tasks/${task.taskId}`;
    const lease = { attempt: task.attempt, fencingToken: task.fencingToken };
    const pending: { seq: number; at: string; line: string }[] = [];
    let seq = 0;
    const log = (line: string) => pending.push({ seq: seq++, at: new Date().toISOString(), line });
    const abort = new AbortController();
    const flush = async () => {
      const lines = pending.splice(0, pending.length);
      try {
        await this.client.post(`${base}/logs`, { ...lease, lines });
      } catch (err) {
        // Taken over (lease_superseded), ended (lease_lost), or this agent was revoked (its tasks went back
        // to the queue): stop touching the target, report nothing.
        if (err instanceof AgentHttpError && (err.status === 409 || REVOKED_CODES.has(err.code))) {
          if (!abort.signal.aborted) this.opts.log(`task ${task.taskId}: ${err.message} Stopping it.`);
          abort.abort(err);
          this.stopIfRevoked(err);
        } else pending.unshift(...lines); // resent next time; (attempt, seq) makes that idempotent
      }
    };
    // Flushing renews the lease (the task's heartbeat), so it also runs when there is nothing to say.
    const timer = setInterval(() => void flush(), 1000);
    try {
      if (!started) await this.client.post(`${base}/start`, lease);
      log(
        `attempt ${task.attempt} on ${os.hostname()} (agent ${this.opts.name}, fencing token ${task.fencingToken}): ${task.mode} ${task.release.name} to ${task.target.name}`,
      );
      const executor = this.executors.get(task.target.type);
      let result: ExecResult | null = null;
      try {
        if (!executor) throw new TaskFailure(`this agent has no executor for ${task.target.type}`);
        if (task.attempt > 1 || this.outbox.has(task.taskId)) result = await this.observeFirst(executor, task, log, abort.signal);
        result ??= await executor.execute(task, log, abort.signal);
      } catch (err) {
        result = { status: 'failed', error: (err as Error).message, artifacts: [], observed: [] };
      }
      // Success means observed: every component runs its pinned digest, healthy (or, for a removal, is gone).
      result = proveConvergence(task, result, { now: new Date(), dryRun: executor instanceof NoopExecutor });
      if (result.status === 'failed' && result.error) result = { ...result, error: explainSocketError(result.error) };
      if (abort.signal.aborted) return;
      log(result.status === 'succeeded' ? 'succeeded' : `failed: ${result.error}`);
      clearInterval(timer);
      const lines = pending.splice(0, pending.length);
      await this.outbox.add({
        taskId: task.taskId,
        fencingToken: task.fencingToken,
        logsPath: `${base}/logs`,
        reportPath: `${base}/report`,
        lines,
        report: { ...lease, ...result },
        savedAt: new Date().toISOString(),
      });
    } catch (err) {
      if (err instanceof AgentHttpError && err.status === 409) this.opts.log(`task ${task.taskId}: ${err.message}`);
      else this.opts.log(`task ${task.taskId} failed to run: ${(err as Error).message}`);
    } finally {
      clearInterval(timer);
    }
  }

  /** Observe before acting: a re-leased task whose target already runs it, healthy, is reported done untouched. */
  private async observeFirst(executor: Executor, task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult | null> {
    // A removal is idempotent and "already done" would mean "nothing left": it always runs.
    if (!executor.alreadyDone || task.action === 'remove') return null;
    log(`attempt ${task.attempt}: observing ${task.target.name} before acting (an earlier attempt may have finished)`);
    try {
      const done = await executor.alreadyDone(task, log, signal);
      // "Already done" must be proven like any success; otherwise the task runs.
      const proof = done && proveConvergence(task, done, { now: new Date(), dryRun: executor instanceof NoopExecutor });
      if (proof && proof.status !== 'succeeded') {
        log(`${task.target.name} may already run the release, but ${proof.error}: deploying`);
        return null;
      }
      if (done) {
        log(`${task.target.name} already runs ${task.components.map((c) => `${c.name}@${c.digest}`).join(', ')}, healthy: nothing to do`);
        return done;
      }
      log(`${task.target.name} does not run the release yet: deploying`);
    } catch (err) {
      log(`observing ${task.target.name} failed (${(err as Error).message}): deploying`);
    }
    return null;
  }
}
