// noop executor: reports success with a sticker and touches nothing; for benchmarks and dry runs.
import { type AgentTask, type Observation, stickerFor } from '../../deployments/protocol.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

export class NoopExecutor implements Executor {
  async info(): Promise<Record<string, string>> {
    return { noop: '1' };
  }

  async execute(task: AgentTask, log: TaskLog): Promise<ExecResult> {
    log(`noop: would deploy ${task.components.map((c) => `${c.name}@${c.digest.slice(7, 19)}`).join(', ')} to ${task.target.name}`);
    return { status: 'succeeded', sticker: stickerFor(task, new Date()), artifacts: [], observed: [] };
  }

  async observe(t: ObserveTarget): Promise<Observation> {
    return { targetId: t.targetId, components: [], sticker: null, error: 'the noop executor observes nothing' };
  }
}
