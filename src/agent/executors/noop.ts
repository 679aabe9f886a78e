// noop executor: reports success with a sticker and touches nothing but its own record of what each target
// "runs" (<dir>/noop-targets/<target>.json, so a re-leased task can observe it); for benchmarks and dry runs.
// With GANTRY_NOOP_JOURNAL set it also appends one JSON line per applied change to that file: the "target
// side" record chaos tests count to prove no task's effect ran twice.
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type AgentTask, bundleDigest, type Observation, stickerFor } from '../../deployments/protocol.js';
import { writeAtomic } from './docker.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

export class NoopExecutor implements Executor {
  constructor(private readonly dir?: string) {}

  private file(target: string): string | undefined {
    return this.dir ? path.join(this.dir, 'noop-targets', `${target}.json`) : undefined;
  }

  async alreadyDone(task: AgentTask, log: TaskLog): Promise<ExecResult | null> {
    const file = this.file(task.target.name);
    const sticker = file
      ? await readFile(file, 'utf8').then(
          (s) => JSON.parse(s) as ReturnType<typeof stickerFor>,
          () => null,
        )
      : null;
    if (sticker?.content.digest !== bundleDigest(task.components)) return null;
    log(`noop: ${task.target.name} already has ${String(sticker.content.digest).slice(0, 19)}`);
    return { status: 'succeeded', sticker, artifacts: [], observed: [] };
  }

  async info(): Promise<Record<string, string>> {
    return { noop: '1' };
  }

  async execute(task: AgentTask, log: TaskLog): Promise<ExecResult> {
    log(`noop: would deploy ${task.components.map((c) => `${c.name}@${c.digest.slice(7, 19)}`).join(', ')} to ${task.target.name}`);
    const sticker = stickerFor(task, new Date());
    const file = this.file(task.target.name);
    if (file) await writeAtomic(file, JSON.stringify(sticker));
    const journal = process.env.GANTRY_NOOP_JOURNAL;
    if (journal) {
      const line = {
        jobId: task.jobId,
        taskId: task.taskId,
        targetId: task.target.id,
        attempt: task.attempt,
        pid: process.pid,
        at: Date.now(),
      };
      // One write(2) per line with O_APPEND: lines of concurrent agents never interleave.
      appendFileSync(journal, `${JSON.stringify(line)}\n`);
    }
    return { status: 'succeeded', sticker, artifacts: [], observed: [] };
  }

  async observe(t: ObserveTarget): Promise<Observation> {
    return { targetId: t.targetId, components: [], sticker: null, error: 'the noop executor observes nothing' };
  }
}
