// Proof of convergence: a task succeeds only when its runner observed, after the change, every component's
// container running the pinned digest and healthy (for a removal: no container left). Applied to every
// executor's result by the task runners (the agent, and the server's ssh runner) before the report is
// saved: each observation gets its time and its component's health result, and a "succeeded" result whose
// observations do not prove the target converged becomes "failed" with the reason.
import type { AgentTask, ObservedComponent } from '../protocol/deployment.js';
import type { ExecResult } from './executors/types.js';

export interface ConvergenceOptions {
  /** When the observations were taken (stamped on those that carry no time). */
  now: Date;
  /** The noop executor: nothing runs, so "no container id" and health "skipped" are accepted. */
  dryRun: boolean;
}

type ContainerHealth = NonNullable<ObservedComponent['health']>;

/** The health result the executor recorded for a component ({ok, probes, detail} from the health checks). */
function healthOf(result: ExecResult, o: ObservedComponent, dryRun: boolean): ContainerHealth {
  if (o.health) return o.health;
  if (o.containerId === null && !o.running) return { status: 'absent', detail: 'no container' };
  const h = result.health?.[o.component] as { ok?: unknown; detail?: unknown; probes?: unknown } | undefined;
  if (h && typeof h.ok === 'boolean') {
    return {
      status: h.ok ? 'healthy' : 'unhealthy',
      detail: typeof h.detail === 'string' ? h.detail.slice(0, 2000) : '',
      ...(typeof h.probes === 'number' ? { probes: h.probes } : {}),
    };
  }
  if (dryRun) return { status: 'skipped', detail: 'the noop executor probes nothing' };
  return { status: 'unhealthy', detail: 'no health result after the change' };
}

/** Why the observations do not prove the task's outcome; empty when they do. */
export function convergenceProblems(
  task: Pick<AgentTask, 'components' | 'action'>,
  observed: ObservedComponent[],
  dryRun: boolean,
): string[] {
  const problems: string[] = [];
  for (const c of task.components) {
    const seen = observed.filter((o) => o.component === c.name);
    if (task.action === 'remove') {
      for (const o of seen) if (o.containerId !== null) problems.push(`${c.name}: container ${o.containerName} still exists`);
      continue;
    }
    const o = seen.find((x) => x.running) ?? seen[0];
    if (!o) {
      problems.push(`${c.name}: not observed after the change`);
      continue;
    }
    if (o.containerId === null && !dryRun) {
      problems.push(`${c.name}: no container ${o.containerName}`);
      continue;
    }
    if (!o.running) problems.push(`${c.name}: ${o.containerName} is not running`);
    if (o.digest !== c.digest)
      problems.push(`${c.name}: ${o.containerName} runs ${o.digest ?? `an image of unknown digest (${o.image ?? '?'})`}, not ${c.digest}`);
    const h = o.health;
    if (h?.status !== 'healthy' && !(dryRun && h?.status === 'skipped')) {
      problems.push(
        `${c.name}: ${o.containerName} is not proven healthy (${h?.status ?? 'no health result'}${h?.detail ? `: ${h.detail}` : ''})`,
      );
    }
  }
  return problems;
}

/**
 * Stamps every observation with its time and health result, and turns a success that the observations
 * do not prove into a failure. A failed result stays failed (its observations are stamped all the same).
 */
export function proveConvergence(task: AgentTask, result: ExecResult, opts: ConvergenceOptions): ExecResult {
  const at = opts.now.toISOString();
  const observed = result.observed.map((o) => ({ ...o, observedAt: o.observedAt ?? at, health: healthOf(result, o, opts.dryRun) }));
  if (result.status !== 'succeeded') return { ...result, observed };
  const problems = convergenceProblems(task, observed, opts.dryRun);
  if (problems.length === 0) return { ...result, observed };
  const { sticker: _unproven, ...rest } = result;
  return {
    ...rest,
    status: 'failed',
    error: `convergence not proven after the change: ${problems.join('; ')}`.slice(0, 4000),
    observed,
  };
}
