// Batched task requests of the agent protocol: the starts of one lease answer, and the reports (with their
// tasks' last log lines) an agent has ready, each batch in one transaction. Every item keeps the checks of
// its single-task request (fencing token, lease holder, idempotent re-sent report) and gets its own answer:
// a refusal is decided before that item writes anything, so it leaves the other items' work standing.
// The reports' jobs advance once each, after the batch's last report.
import { GantryError } from '../core/errors.js';
import type { TaskReport } from '../protocol/deployment.js';
import { type Db, withSystem } from '../store/db.js';
import { type LeaseRef, type LogLine, type Runner, recordReport, startHeld } from './lease.js';
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

/** Marks the leased tasks running (startTask for each), in one transaction. */
export async function startTasks(
  db: Db,
  runner: Runner,
  items: (LeaseRef & { taskId: string })[],
  now: Date,
  leaseSeconds: number,
): Promise<ItemResult[]> {
  // Rows are locked in one order, so two batches touching the same tasks cannot deadlock.
  const ordered = [...items].sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
  const byTask = new Map<string, ItemResult>();
  await withSystem(db, async (tx) => {
    for (const item of ordered) {
      try {
        await startHeld(tx, runner, item.taskId, item, now, leaseSeconds);
        byTask.set(item.taskId, { taskId: item.taskId, ok: true });
      } catch (err) {
        if (!(err instanceof GantryError)) throw err;
        byTask.set(item.taskId, refused(item.taskId, err));
      }
    }
  });
  return items.map((i) => byTask.get(i.taskId)!);
}

/** Records the reports (reportTask for each, with the task's last log lines), then advances each job once. */
export async function reportTasks(
  db: Db,
  runner: Runner,
  items: { taskId: string; lines: LogLine[]; report: TaskReport }[],
  deps: ProgressDeps,
): Promise<ItemResult[]> {
  const ordered = [...items].sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
  const byTask = new Map<string, ItemResult>();
  await withSystem(db, async (tx) => {
    const jobs = new Set<string>();
    for (const item of ordered) {
      try {
        const jobId = await recordReport(tx, runner, item.taskId, item.report, item.lines);
        if (jobId) jobs.add(jobId);
        byTask.set(item.taskId, { taskId: item.taskId, ok: true });
      } catch (err) {
        if (!(err instanceof GantryError)) throw err;
        byTask.set(item.taskId, refused(item.taskId, err));
      }
    }
    for (const jobId of [...jobs].sort()) await advanceJob(tx, jobId, deps);
  });
  return items.map((i) => byTask.get(i.taskId)!);
}
