// The workflow scheduler: claims runnable steps with FOR UPDATE SKIP LOCKED and a lease, executes them,
// and commits each outcome with the run row locked. LISTEN/NOTIFY wakes idle schedulers; a periodic
// sweep re-queues steps whose lease expired (their server died) and wakes timers.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { type Db, isTransientDbError, type Tx, withSystem } from '../store/db.js';
import { Listener } from '../store/listener.js';
import { type ClaimedStep, claimSteps, finishOneNodeRunsAndClaim, isOneNodeFinish } from './claim.js';
import { type Completion, commitOutcomes, type Outcome } from './completion.js';
import { evalCondition, expressionsIn, resolveConfig } from './expressions.js';
import type { StepContext, StepRegistry } from './registry.js';
import type { RunRow, StepRow, TemplateRow } from './rows.js';
import { CANCEL_CHANNEL, exprContext, insertStep, latestSteps, lockRun, type RunFinished, STEPS_CHANNEL } from './transitions.js';

export interface EngineOptions {
  db: Db;
  connectionString: string;
  registry: StepRegistry;
  logger: Logger;
  clock?: Clock;
  /** Steps executed at once by this server. */
  concurrency?: number;
  leaseSeconds?: number;
  /** How often to look for due timers and expired leases, and to poll when no NOTIFY arrives. */
  pollMs?: number;
  instanceId?: string;
}

/** Claim queries in flight at once per engine. */
const CLAIMERS = 3;
/** Completion transactions in flight at once per engine (runs are locked in id order, so they cannot deadlock). */
const FLUSHERS = 3;

type RunRef = Pick<RunRow, 'id' | 'tenant_id' | 'template_id' | 'inputs'>;

interface Pending extends Completion {
  done: () => void;
  failed: (err: unknown) => void;
}

export class Engine {
  readonly instanceId: string;
  private readonly db: Db;
  private readonly opts: Required<Pick<EngineOptions, 'concurrency' | 'leaseSeconds' | 'pollMs'>> & EngineOptions;
  private readonly clock: Clock;
  private readonly templates = new Map<string, TemplateRow>();
  private readonly inflight = new Map<string, { runId: string; abort: AbortController }>();
  private readonly completions: Pending[] = [];
  private flushing = 0;
  private flushScheduled = false;
  private listener: Listener | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private claimsOutstanding = 0;
  private reserved = 0;
  private sweeping = false;
  private lastSweep = 0;
  /** Emits 'run:finished' (RunFinished) after the commit that ended a run. */
  readonly events = new EventEmitter<{ 'run:finished': [RunFinished] }>();
  /** Steps this engine executed (for metrics and tests). */
  executed = 0;

  get inflightCount(): number {
    return this.inflight.size;
  }

  constructor(opts: EngineOptions) {
    this.opts = { concurrency: 10, leaseSeconds: 30, pollMs: 500, ...opts };
    this.db = opts.db;
    this.clock = opts.clock ?? systemClock;
    this.instanceId = opts.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  async start(): Promise<void> {
    this.running = true;
    // Polling goes on while the LISTEN connection is down; after it is back, wake() looks for the work
    // whose NOTIFY was missed.
    this.listener = new Listener({
      connectionString: this.opts.connectionString,
      channels: [STEPS_CHANNEL, CANCEL_CHANNEL],
      applicationName: 'gantry-engine-listen',
      logger: this.opts.logger,
      onNotification: (n) => {
        if (n.channel === CANCEL_CHANNEL && n.payload) this.abortRun(n.payload);
        else this.wake();
      },
      onReconnect: () => this.wake(),
    });
    await this.listener.start();
    this.timer = setInterval(() => this.wake(), this.opts.pollMs);
    this.wake();
  }

  /** Stops claiming; waits for in-flight steps to finish (their leases would otherwise expire). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    const deadline = Date.now() + 10_000;
    while ((this.inflight.size > 0 || this.completions.length > 0 || this.flushing > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.listener?.stop();
  }

  wake(): void {
    if (!this.running) return;
    if (!this.sweeping && Date.now() - this.lastSweep >= this.opts.pollMs) {
      this.lastSweep = Date.now();
      this.sweeping = true;
      void this.sweep()
        .catch((err: unknown) => this.opts.logger.error({ err }, 'engine sweep failed'))
        .finally(() => {
          this.sweeping = false;
        });
    }
    this.fill();
  }

  /**
   * Issues claims for the free slots, several at once: a claim is a durable commit, and concurrent
   * claims share WAL flushes (group commit) instead of queueing behind each other.
   */
  private fill(): void {
    while (this.running && this.claimsOutstanding < CLAIMERS) {
      const free = this.freeSlots();
      // Queued completions claim for the free slots in their own commit (flushNow); backpressure: do not
      // run further ahead of the commits than one more round of steps.
      if (free <= 0 || this.completions.length > 0) return;
      const want = Math.ceil(free / (CLAIMERS - this.claimsOutstanding));
      this.claimsOutstanding++;
      this.reserved += want;
      void this.claim(want)
        .then((claimed) => {
          for (const step of claimed) this.launch(step);
          return claimed.length === want;
        })
        .catch((err: unknown) => {
          this.opts.logger.error({ err }, 'claiming steps failed');
          return false;
        })
        .then((full) => {
          this.claimsOutstanding--;
          this.reserved -= want;
          if (full) this.fill(); // more may be waiting
        });
    }
  }

  private launch(step: ClaimedStep): void {
    const abort = new AbortController();
    this.inflight.set(step.id, { runId: step.workflow_run_id, abort });
    void this.runStep(step, abort)
      .catch((err: unknown) => this.opts.logger.error({ err, step: step.id }, 'step handling failed'))
      .finally(() => {
        this.inflight.delete(step.id);
        this.wake();
      });
  }

  private freeSlots(): number {
    return this.running ? Math.max(0, this.opts.concurrency - this.inflight.size - this.reserved) : 0;
  }

  private claim(limit: number): Promise<ClaimedStep[]> {
    return claimSteps(this.db, { owner: this.instanceId, limit, leaseSeconds: this.opts.leaseSeconds });
  }

  /** Wakes due timers and re-queues steps whose lease expired (as a new attempt, not counted as a failure). */
  async sweep(): Promise<void> {
    const due = await this.db.query(
      `UPDATE step_runs SET status = 'pending', run_after = now(), wake_at = NULL
        WHERE status = 'waiting' AND wake_at IS NOT NULL AND wake_at <= now() RETURNING id`,
    );
    const expired = await this.db.query<{ id: string; workflow_run_id: string }>(
      `SELECT id, workflow_run_id FROM step_runs WHERE status = 'running' AND lease_expires_at < now() LIMIT 100`,
    );
    for (const s of expired.rows) {
      await withSystem(this.db, async (tx) => {
        const run = await lockRun(tx, s.workflow_run_id);
        const r = await tx.query<StepRow>(
          `UPDATE step_runs SET status = 'failed', error_kind = 'lease_expired', completed_at = now(), lease_expires_at = NULL,
                  error = 'lease expired: the server running this attempt stopped answering'
            WHERE id = $1 AND status = 'running' AND lease_expires_at < now() RETURNING *`,
          [s.id],
        );
        const step = r.rows[0];
        if (run && step && run.status === 'running') {
          await insertStep(tx, run, step.node_id, step.attempt_number + 1);
          await tx.query(`SELECT pg_notify($1, '')`, [STEPS_CHANNEL]);
          this.opts.logger.warn({ run: run.id, node: step.node_id, owner: step.lease_owner }, 'step lease expired; re-queued');
        }
      });
    }
    if ((due.rowCount ?? 0) > 0) this.fill();
  }

  private abortRun(runId: string): void {
    for (const f of this.inflight.values()) if (f.runId === runId) f.abort.abort(new Error('run cancelled'));
  }

  async template(id: string, db: Tx | Db = this.db): Promise<TemplateRow> {
    const cached = this.templates.get(id);
    if (cached) return cached;
    const r = await db.query<TemplateRow>('SELECT * FROM workflow_templates WHERE id = $1', [id]);
    const t = r.rows[0];
    if (!t) throw new Error(`workflow template ${id} not found`);
    this.templates.set(id, t); // template versions are immutable, so caching is safe
    return t;
  }

  private async runStep(step: ClaimedStep, abort: AbortController): Promise<void> {
    const logs: string[] = [];
    const log = (line: string) => logs.push(`${this.clock.now().toISOString()} ${line}`);
    const run: RunRef = { id: step.workflow_run_id, tenant_id: step.tenant_id, template_id: step.run_template_id, inputs: step.run_inputs };
    const template = await this.template(run.template_id);
    const node = template.nodes.find((n) => n.id === step.node_id);
    const renew = setInterval(
      () => {
        void this.db
          .query(
            `UPDATE step_runs SET lease_expires_at = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
            [step.id, this.instanceId, this.opts.leaseSeconds],
          )
          .catch(() => {});
      },
      (this.opts.leaseSeconds * 1000) / 3,
    );
    let outcome: Outcome | 'skipped';
    try {
      outcome = node
        ? await this.execute(run, node, step, abort, log)
        : { result: { status: 'failed', error: `node "${step.node_id}" is not in the template`, retryable: false }, input: {} };
    } finally {
      clearInterval(renew);
    }
    this.executed++;
    // The slot is free once the step has run: the commit of this outcome claims the next step.
    this.inflight.delete(step.id);
    await new Promise<void>((done, failed) => {
      this.completions.push({ runId: run.id, template, step, outcome, logs, runInputs: run.inputs, done, failed });
      this.flush();
      this.wake();
    });
  }

  /**
   * Commits finished steps in batches: while one transaction commits, newly finished steps queue for
   * the next, so one durable commit serves many steps under load (group commit). Runs are locked in
   * id order so two servers' batches cannot deadlock. If a batch fails, its steps are retried one by one.
   */
  private flush(): void {
    if (this.flushScheduled || this.flushing >= FLUSHERS || this.completions.length === 0) return;
    this.flushScheduled = true;
    // Start on the next turn of the event loop, so steps finishing in this one join the batch.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushNow();
    });
  }

  private flushNow(): void {
    if (this.completions.length === 0) return;
    this.flushing++;
    const batch = this.completions.splice(0, 100).sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
    // The free slots are claimed in the same commit as the outcomes (one durable flush for both).
    const want = this.freeSlots();
    this.reserved += want;
    const claim = { owner: this.instanceId, limit: want, leaseSeconds: this.opts.leaseSeconds };
    void (async () => {
      let claimed: ClaimedStep[] = [];
      try {
        let finished: RunFinished[];
        if (batch.every(isOneNodeFinish)) {
          ({ finished, claimed } = await finishOneNodeRunsAndClaim(this.db, batch, claim));
        } else {
          finished = await withSystem(this.db, async (tx) => {
            const f = await commitOutcomes(tx, this.instanceId, batch);
            // After the outcomes: the steps they queued (a DAG's next nodes) can be claimed at once.
            if (want > 0) claimed = await claimSteps(tx, claim);
            return f;
          });
        }
        for (const c of batch) c.done();
        for (const f of finished) this.events.emit('run:finished', f);
      } catch (err) {
        claimed = []; // rolled back with the outcomes
        this.opts.logger.warn({ err }, 'committing a batch of step outcomes failed; committing them one by one');
        for (const c of batch) {
          // One step whose commit fails (e.g. its run row vanished) must not hold back the others.
          await withSystem(this.db, (tx) => commitOutcomes(tx, this.instanceId, [c])).then((finished) => {
            for (const f of finished) this.events.emit('run:finished', f);
            c.done();
          }, c.failed);
        }
      } finally {
        this.reserved -= want;
        for (const step of claimed) this.launch(step);
        this.flushing--;
        this.flush();
        this.wake();
      }
    })();
  }

  private async execute(
    run: RunRef,
    node: TemplateRow['nodes'][number],
    step: StepRow,
    abort: AbortController,
    log: (line: string) => void,
  ): Promise<Outcome | 'skipped'> {
    // Upstream state is read only when an expression needs it (most nodes have none).
    const needsContext = node.when !== undefined || expressionsIn(node.config ?? {}).length > 0;
    const steps = needsContext ? await latestSteps(this.db as unknown as Tx, run.id) : new Map<string, StepRow>();
    const ctx = exprContext(run, steps);
    let input: Record<string, unknown>;
    try {
      if (node.when && !evalCondition(node.when, ctx)) {
        log(`condition "${node.when}" is false: skipped`);
        return 'skipped';
      }
      input = (resolveConfig(node.config ?? {}, ctx) ?? {}) as Record<string, unknown>;
    } catch (err) {
      return {
        result: { status: 'failed', error: `expression failed: ${(err as Error).message}`, retryable: false },
        input: {},
        errorKind: 'invalid_input',
      };
    }
    const type = this.opts.registry.get(node.type);
    if (!type)
      return {
        result: { status: 'failed', error: `unknown step type "${node.type}"`, retryable: false },
        input,
        errorKind: 'invalid_input',
      };
    const parsed = type.inputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const msg = `input of node "${node.id}" is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`;
      return { result: { status: 'failed', error: msg, retryable: false }, input, errorKind: 'invalid_input' };
    }
    const stepCtx: StepContext<unknown> = {
      tenantId: run.tenant_id,
      runId: run.id,
      stepRunId: step.id,
      nodeId: node.id,
      attempt: step.attempt_number,
      input: parsed.data,
      runInputs: run.inputs,
      events: step.resume_events,
      signal: abort.signal,
      now: () => this.clock.now(),
      log,
      logger: this.opts.logger,
      effect: (name, apply) => this.effect(run, step, name, apply),
    };
    const timeoutMs = (node.timeoutSeconds ?? 3600) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        abort.abort(new Error('timeout'));
        resolve({ result: { status: 'failed', error: `timed out after ${node.timeoutSeconds ?? 3600}s` }, input, errorKind: 'timeout' });
      }, timeoutMs);
    });
    try {
      const work = type.execute(stepCtx).then(
        (result): Outcome => ({ result, input }),
        (err: unknown): Outcome => ({
          result: { status: 'failed', error: (err as Error)?.message ?? String(err) },
          input,
          // A step that failed because the database went away is tried again, not failed (completion.ts).
          errorKind: isTransientDbError(err) ? 'transient' : 'error',
        }),
      );
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async effect<T>(run: RunRef, step: StepRow, name: string, apply: (key: string) => Promise<T>): Promise<T> {
    const key = `${run.id}:${step.node_id}:${name}`;
    const done = await this.db.query<{ result: T }>('SELECT result FROM step_effects WHERE idempotency_key = $1', [key]);
    if (done.rows[0]) return done.rows[0].result;
    const result = await apply(key);
    await this.db.query(
      `INSERT INTO step_effects (idempotency_key, tenant_id, workflow_run_id, step_run_id, result, applied_by)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING`,
      [key, run.tenant_id, run.id, step.id, JSON.stringify(result ?? null), this.instanceId],
    );
    return result;
  }
}
