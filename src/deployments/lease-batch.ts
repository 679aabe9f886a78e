// Batched task requests of the agent protocol: the starts of one lease answer, and the reports (with their
// tasks' last log lines) an agent has ready, each batch in one transaction, with one statement per kind of
// write for the whole batch rather than per item (lease.ts startMany, recordReports). Every item keeps the checks of
// its single-task request (fencing token, lease holder, idempotent re-sent report) and gets its own answer:
// a refusal is decided before that item writes anything, so it leaves the other items' work standing.
// The reports' jobs advance once each, after the batch's last report.
import type { GantryError } from '../core/errors.js';
import { type Db, withSystem } from '../store/db.js';
import { type LeaseRef, type Outcomes, type ReportItem, type Runner, recordReports, startMany } from './lease.js';
import { advanceJob, type ProgressDeps } from './progress.js';

/** One item's answer: ok, or the problem its single-task request would have answered with. */
export type ItemResult = { taskId: string; ok: true } | { taskId: string; ok: false; status: number; code: string; detail: string };

const refused = (taskId: string, err: GantryError): ItemResult => ({
  taskId,
  ok: false,
  status: err.status,
  code: err.code,
  detail: err.message,
});

/** Marks the leased tasks running (startTask for each), in one transaction and one statement (startMany). */
export async function startTasks(
  db: Db,
  runner: Runner,
  items: (LeaseRef & { taskId: string })[],
  now: Date,
  leaseSeconds: number,
): Promise<ItemResult[]> {
  const outcomes = await withSystem(db, (tx) => startMany(tx, runner, items, now, leaseSeconds));
  return items.map((i) => answer(i.taskId, outcomes));
}

/** Records the reports (reportTask for each, with the task's last log lines), then advances each job once. */
export async function reportTasks(db: Db, runner: Runner, items: ReportItem[], deps: ProgressDeps): Promise<ItemResult[]> {
  const outcomes = await withSystem(db, async (tx) => {
    const { outcomes, jobs } = await recordReports(tx, runner, items);
    for (const jobId of jobs.sort()) await advanceJob(tx, jobId, deps);
    return outcomes;
  });
  return items.map((i) => answer(i.taskId, outcomes));
}

function answer(taskId: string, outcomes: Outcomes): ItemResult {
  const refusal = outcomes.get(taskId);
  return refusal ? refused(taskId, refusal) : { taskId, ok: true };
}
