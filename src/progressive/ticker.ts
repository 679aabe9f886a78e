// What moves rollouts on their own, run on every deployment sweep by any number of replicas (each rollout
// is locked with SKIP LOCKED while it is handled): a stage whose router applied it (or, for target groups,
// whose deployment job succeeded) holds for its time, then waits for an approval, runs the analysis, or
// advances; a failed analysis rolls back; a promotion or rollback ends when it was applied. The analysis
// queries Prometheus outside any transaction, then its outcome commits only if the rollout is still where
// it was.
import type { Logger } from '../core/logger.js';
import { type Db, withSystem, withTenant } from '../store/db.js';
import { runAnalysis } from './analysis.js';
import type { AnalysisResult } from './analysis-model.js';
import { loadJob } from './groups.js';
import { addStep, advanceOrPromote, latestChange, loadRollout, type ProgressiveDeps, type RolloutRow, transition } from './service.js';
import { stageAnalysed } from './split.js';

/** How many inconclusive analyses (no data yet) a stage tolerates before it counts as failed. */
export const INCONCLUSIVE_LIMIT = 3;
/** How often a target-group rollout looks at the deployment job it waits for. */
export const JOB_POLL_MS = 2000;

type Tx = Parameters<typeof addStep>[0];

/** Where the latest stage change stands: still being applied, refused, or applied (since when, and what it serves). */
type Applied =
  | { state: 'waiting'; pollMs: number | null }
  | { state: 'failed'; who: string; error: string }
  | { state: 'applied'; who: string; at: Date | null; serves: string };

async function appliedState(tx: Tx, row: RolloutRow): Promise<Applied> {
  if (row.mode === 'targets') {
    // A stage change that moved no target needs no job: it holds from now.
    if (!row.deploy_job_id) return { state: 'applied', who: 'deployment', at: null, serves: 'no target had to change' };
    const job = await loadJob(tx, row.deploy_job_id);
    if (!job || job.status === 'pending' || job.status === 'running') return { state: 'waiting', pollMs: JOB_POLL_MS };
    if (job.status === 'succeeded') {
      return { state: 'applied', who: 'deployment', at: job.completed_at, serves: `deployment ${job.id} succeeded` };
    }
    return { state: 'failed', who: 'deployment', error: `deployment ${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}` };
  }
  const change = await latestChange(tx, row.id);
  // Waiting for the router: the agent's report wakes the rollout (traffic-queue.ts), no polling.
  if (!change || change.status === 'pending' || change.status === 'leased') return { state: 'waiting', pollMs: null };
  if (change.status === 'failed') return { state: 'failed', who: 'router', error: change.error ?? '' };
  return { state: 'applied', who: 'router', at: change.applied_at, serves: `the router serves ${JSON.stringify(change.distribution)}` };
}

export class RolloutTicker {
  constructor(private readonly o: { db: Db; deps: ProgressiveDeps; logger: Logger }) {}

  async tick(): Promise<void> {
    const now = this.o.deps.clock.now();
    const due = await withSystem(this.o.db, (tx) =>
      tx.query<{ id: string; tenant_id: string }>(
        `SELECT id, tenant_id FROM progressive_rollouts
          WHERE status IN ('running', 'promoting', 'rolling_back') AND next_check_at <= $1
          ORDER BY next_check_at LIMIT 100`,
        [now],
      ),
    );
    for (const r of due.rows) {
      await this.step(r.id, r.tenant_id).catch((err: unknown) => this.o.logger.error({ err, rollout: r.id }, 'rollout step failed'));
    }
  }

  async stop(): Promise<void> {}

  /** One rollout: advances what needs no outside call in one transaction; an analysis in three steps. */
  async step(id: string, tenantId: string): Promise<void> {
    const { deps, db } = this.o;
    const wanted = await withTenant(db, tenantId, async (tx) => {
      const locked = await tx.query(`SELECT id FROM progressive_rollouts WHERE id = $1 FOR UPDATE SKIP LOCKED`, [id]);
      if (!locked.rows[0]) return null; // another replica handles it
      const row = await loadRollout(tx, id);
      const now = deps.clock.now();
      const later = (ms: number) =>
        tx.query(`UPDATE progressive_rollouts SET next_check_at = $2 WHERE id = $1`, [id, new Date(now.getTime() + ms)]);
      const applied = await appliedState(tx, row);
      if (applied.state === 'waiting') {
        await tx.query(`UPDATE progressive_rollouts SET next_check_at = $2 WHERE id = $1`, [
          id,
          applied.pollMs === null ? null : new Date(now.getTime() + applied.pollMs),
        ]);
        return null;
      }
      const byRouter = applied.who === 'router';
      if (row.status === 'promoting' || row.status === 'rolling_back') {
        const ended = await endState(tx, row);
        const failed = applied.state === 'failed';
        const finalWhat = byRouter
          ? 'the router did not apply the final split'
          : `the final ${row.status === 'promoting' ? 'promotion' : 'rollback'} failed`;
        await tx.query(
          `UPDATE progressive_rollouts SET status = $2, status_reason = coalesce($3, status_reason), completed_at = $4, next_check_at = NULL, updated_at = $4 WHERE id = $1`,
          [id, failed ? 'failed' : ended, failed ? `${finalWhat}: ${applied.error}` : null, now],
        );
        await addStep(tx, row, {
          action: failed ? 'failed' : 'applied',
          stage: row.current_stage,
          weight: row.weight,
          actor: applied.who,
          reason: failed ? applied.error : `${ended}: ${applied.serves}`,
          analysis: null,
          evidenceId: null,
        });
        return null;
      }
      if (row.status !== 'running') return null;
      if (applied.state === 'failed') {
        const what = byRouter ? 'the router did not apply' : 'the deployment failed at';
        await tx.query(
          `UPDATE progressive_rollouts SET status = 'paused', status_reason = $2, next_check_at = NULL, updated_at = $3 WHERE id = $1`,
          [
            id,
            `${what} stage ${row.current_stage + 1}: ${applied.error}; advance to go on to the next stage (its change is made in full, so it also retries this one), or roll back`,
            now,
          ],
        );
        await addStep(tx, row, {
          action: 'failed',
          stage: row.current_stage,
          weight: row.weight,
          actor: applied.who,
          reason: applied.error,
          analysis: null,
          evidenceId: null,
        });
        return null;
      }
      let started = row.stage_started_at;
      if (!started) {
        started = applied.at ?? now;
        await tx.query(`UPDATE progressive_rollouts SET stage_started_at = $2 WHERE id = $1`, [id, started]);
      }
      const stage = row.stages[row.current_stage]!;
      const holdEnds = started.getTime() + stage.holdSeconds * 1000;
      if (now.getTime() < holdEnds) {
        await later(holdEnds - now.getTime());
        return null;
      }
      if (stage.approval) {
        await tx.query(
          `UPDATE progressive_rollouts SET status = 'awaiting_approval', status_reason = $2, next_check_at = NULL, updated_at = $3 WHERE id = $1`,
          [id, `stage ${row.current_stage + 1} (${row.weight}%) held ${stage.holdSeconds} s; advance or promote to go on`, now],
        );
        return null;
      }
      if (row.analysis && stageAnalysed(stage, true)) return row;
      await advanceOrPromote(
        tx,
        deps,
        row,
        false,
        { system: 'schedule' },
        `stage ${row.current_stage + 1} held ${stage.holdSeconds} s`,
        null,
      );
      return null;
    });
    if (!wanted?.analysis) return;
    const [stable, candidate] = wanted.variations;
    const result = await runAnalysis({ outbound: deps.outbound, clock: deps.clock }, wanted.analysis, {
      variation: candidate!.name,
      stable: stable!.name,
      route: wanted.router?.route ?? wanted.name,
    });
    await withTenant(db, tenantId, async (tx) => {
      const row = await loadRollout(tx, id, true);
      // Something else moved it meanwhile (an operator's rollback, another replica): that decision stands.
      if (row.status !== 'running' || row.current_stage !== wanted.current_stage || row.weight !== wanted.weight) return;
      await this.judge(tx, row, result);
    });
  }

  private async judge(tx: Tx, row: RolloutRow, result: AnalysisResult): Promise<void> {
    const { deps } = this.o;
    const now = deps.clock.now();
    const stageName = `stage ${row.current_stage + 1} (${row.weight}%)`;
    if (result.verdict === 'pass') {
      await advanceOrPromote(tx, deps, row, false, { system: 'analysis' }, `analysis of ${stageName} passed`, result);
      return;
    }
    // A value and its threshold; without a value (no data, ±Inf, a failed query) the analysis's reason says which.
    const failing = result.metrics
      .filter((m) => m.verdict !== 'pass')
      .map((m) => (m.value === null ? `${m.name}: ${m.reason}` : `${m.name} = ${m.value} (${m.threshold})`));
    if (result.verdict === 'fail' || row.inconclusive + 1 >= INCONCLUSIVE_LIMIT) {
      const why =
        result.verdict === 'fail'
          ? `analysis of ${stageName} failed: ${failing.join('; ')}`
          : `analysis of ${stageName} inconclusive ${INCONCLUSIVE_LIMIT} times: ${failing.join('; ')}`;
      await transition(tx, deps, row, {
        action: 'rollback',
        stage: row.current_stage,
        weight: 0,
        status: 'rolling_back',
        actor: { system: 'analysis' },
        reason: why,
        analysis: result,
      });
      return;
    }
    const retryMs = (row.analysis?.intervalSeconds ?? 10) * 1000;
    await tx.query(`UPDATE progressive_rollouts SET inconclusive = inconclusive + 1, next_check_at = $2 WHERE id = $1`, [
      row.id,
      new Date(now.getTime() + retryMs),
    ]);
    await addStep(tx, row, {
      action: 'analysis',
      stage: row.current_stage,
      weight: row.weight,
      actor: 'analysis',
      reason: `inconclusive (${failing.join('; ')}); measuring again in ${retryMs / 1000} s`,
      analysis: result,
      evidenceId: null,
    });
  }
}

/** promoted, rolled_back or aborted: what the last decision of a finishing rollout was. */
async function endState(tx: Tx, row: RolloutRow): Promise<'promoted' | 'rolled_back' | 'aborted'> {
  if (row.status === 'promoting') return 'promoted';
  const r = await tx.query<{ action: string }>(
    `SELECT action FROM progressive_steps WHERE rollout_id = $1 AND action IN ('rollback', 'abort') ORDER BY created_at DESC, id DESC LIMIT 1`,
    [row.id],
  );
  return r.rows[0]?.action === 'abort' ? 'aborted' : 'rolled_back';
}
