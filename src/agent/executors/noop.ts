// noop executor: reports success with a sticker and touches nothing but its own record of what each target
// "runs" (<dir>/noop-targets/<target>.json, so a re-leased task can observe it); for benchmarks and dry runs.
// With GANTRY_NOOP_JOURNAL set, that file is the target itself: applying a change is appending one JSON
// line (one write(2), so atomic), and what a target runs is its last line there. Chaos tests count those
// lines to prove no task's effect ran twice; effect and state cannot part, whenever the agent is killed.
import { appendFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AgentTask, Observation, ObservedComponent } from '../../protocol/deployment.js';
import { bundleDigest, containerName, stickerFor } from '../../protocol/deployment-values.js';
import { writeAtomic } from './files.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

/**
 * What the noop executor "observes" after a task: each component at its pinned digest (nothing runs, so no
 * container id) with health "skipped"; after a removal, no container. The agent's convergence check
 * accepts these for the noop executor only.
 */
export function noopObserved(task: AgentTask, now: Date): ObservedComponent[] {
  const removed = task.action === 'remove';
  return task.components.map((c) => ({
    component: c.name,
    containerName: containerName(task.target.name, c.name),
    containerId: null,
    image: removed ? null : `${c.image}@${c.digest}`,
    digest: removed ? null : c.digest,
    running: !removed,
    labels: {},
    observedAt: now.toISOString(),
    health: removed
      ? { status: 'absent' as const, detail: 'removed (noop)' }
      : { status: 'skipped' as const, detail: 'the noop executor probes nothing' },
  }));
}

export class NoopExecutor implements Executor {
  constructor(private readonly dir?: string) {}

  private file(target: string): string | undefined {
    return this.dir ? path.join(this.dir, 'noop-targets', `${target}.json`) : undefined;
  }

  /** The bundle digest the journal says the target runs (its last applied line), or null. */
  private async journaled(targetId: string): Promise<string | null> {
    const journal = process.env.GANTRY_NOOP_JOURNAL;
    if (!journal) return null;
    const text = await readFile(journal, 'utf8').catch(() => '');
    let digest: string | null = null;
    for (const line of text.split('\n')) {
      if (!line) continue;
      let e: { targetId?: string; digest?: string | null };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        continue; // a line another agent is appending right now
      }
      if (e.targetId === targetId) digest = e.digest ?? null; // a removal's line has no digest
    }
    return digest;
  }

  async alreadyDone(task: AgentTask, log: TaskLog): Promise<ExecResult | null> {
    if (process.env.GANTRY_NOOP_JOURNAL) {
      const digest = await this.journaled(task.target.id);
      if (digest !== bundleDigest(task.components)) return null;
      log(`noop: ${task.target.name} already has ${digest.slice(0, 19)}`);
      return { status: 'succeeded', sticker: stickerFor(task, new Date()), artifacts: [], observed: noopObserved(task, new Date()) };
    }
    const file = this.file(task.target.name);
    const sticker = file
      ? await readFile(file, 'utf8').then(
          (s) => JSON.parse(s) as ReturnType<typeof stickerFor>,
          () => null,
        )
      : null;
    if (sticker?.content.digest !== bundleDigest(task.components)) return null;
    log(`noop: ${task.target.name} already has ${String(sticker.content.digest).slice(0, 19)}`);
    return { status: 'succeeded', sticker, artifacts: [], observed: noopObserved(task, new Date()) };
  }

  async info(): Promise<Record<string, string>> {
    return { noop: '1' };
  }

  async execute(task: AgentTask, log: TaskLog): Promise<ExecResult> {
    if (task.action === 'remove') return this.remove(task, log);
    log(`noop: would deploy ${task.components.map((c) => `${c.name}@${c.digest.slice(7, 19)}`).join(', ')} to ${task.target.name}`);
    const sticker = stickerFor(task, new Date());
    const journal = process.env.GANTRY_NOOP_JOURNAL;
    if (journal) {
      const line = {
        jobId: task.jobId,
        taskId: task.taskId,
        targetId: task.target.id,
        digest: bundleDigest(task.components),
        attempt: task.attempt,
        pid: process.pid,
        at: Date.now(),
      };
      // One write(2) per line with O_APPEND: lines of concurrent agents never interleave.
      appendFileSync(journal, `${JSON.stringify(line)}\n`);
    }
    const file = this.file(task.target.name);
    if (file) await writeAtomic(file, JSON.stringify(sticker));
    return { status: 'succeeded', sticker, artifacts: [], observed: noopObserved(task, new Date()) };
  }

  /** A removal: the target's record goes (a journal line without a digest), and nothing is observed there any more. */
  private async remove(task: AgentTask, log: TaskLog): Promise<ExecResult> {
    log(`noop: would remove ${task.components.map((c) => c.name).join(', ')} from ${task.target.name}`);
    const journal = process.env.GANTRY_NOOP_JOURNAL;
    if (journal) {
      const line = {
        jobId: task.jobId,
        taskId: task.taskId,
        targetId: task.target.id,
        digest: null,
        attempt: task.attempt,
        pid: process.pid,
        at: Date.now(),
      };
      appendFileSync(journal, `${JSON.stringify(line)}\n`);
    }
    const file = this.file(task.target.name);
    if (file) await rm(file, { force: true });
    return { status: 'succeeded', artifacts: [], observed: noopObserved(task, new Date()) };
  }

  async observe(t: ObserveTarget): Promise<Observation> {
    return { targetId: t.targetId, components: [], sticker: null, error: 'the noop executor observes nothing' };
  }
}
