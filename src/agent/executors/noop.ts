// noop executor: reports success with a sticker and touches nothing; for benchmarks and dry runs.
// With GANTRY_NOOP_JOURNAL set it appends one JSON line per applied change to that file: the "target
// side" record chaos tests count to prove no task's effect ran twice.
import { appendFileSync } from 'node:fs';
import { type AgentTask, type Observation, stickerFor } from '../../deployments/protocol.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

export class NoopExecutor implements Executor {
  async info(): Promise<Record<string, string>> {
    return { noop: '1' };
  }

  async execute(task: AgentTask, log: TaskLog): Promise<ExecResult> {
    log(`noop: would deploy ${task.components.map((c) => `${c.name}@${c.digest.slice(7, 19)}`).join(', ')} to ${task.target.name}`);
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
    return { status: 'succeeded', sticker: stickerFor(task, new Date()), artifacts: [], observed: [] };
  }

  async observe(t: ObserveTarget): Promise<Observation> {
    return { targetId: t.targetId, components: [], sticker: null, error: 'the noop executor observes nothing' };
  }
}
