// The executor interface: one per target type, used by the agent process and by the server's runner for
// agentless ssh_host targets. Executors know the wire protocol types and nothing of the server.
import type { AgentTask, Observation, ObservedComponent } from '../../protocol/deployment.js';

export type TaskLog = (line: string) => void;

export interface ExecResult {
  status: 'succeeded' | 'failed';
  error?: string;
  sticker?: { content: Record<string, unknown>; contentHash: string };
  artifacts: { name: string; mediaType: string; content: string }[];
  observed: ObservedComponent[];
  health?: Record<string, unknown>;
}

/** A target to observe for drift: its connection and the components recorded there. */
export interface ObserveTarget {
  targetId: string;
  name: string;
  type: string;
  connection: Record<string, unknown>;
  labels: Record<string, string>;
  components: { name: string; image: string }[];
}

export interface Executor {
  /** Deploys the task's components to its target: pull, replace, verify health, write the sticker. */
  execute(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult>;
  /**
   * Observe before acting (a re-leased task: its earlier attempt may have finished): when the target
   * already runs the task's components by digest and they are healthy, returns the success to report
   * without changing anything; null when the task must run. Executors without it always run.
   */
  alreadyDone?(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult | null>;
  /** Reports what runs on a target now (containers, digests, sticker) for drift checks. */
  observe(target: ObserveTarget): Promise<Observation>;
  /** Engine versions for the agent's capabilities, e.g. {"docker": "20.10.24"}. */
  info(): Promise<Record<string, string>>;
}

/** Thrown by executors for failures that are the target's (pull refused, unhealthy): the task fails. */
export class TaskFailure extends Error {}
