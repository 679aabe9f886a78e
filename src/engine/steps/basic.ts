// Built-in step types with no outside dependencies: noop, set_outputs, timer.
import { z } from 'zod';
import type { StepType } from '../registry.js';

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

const empty = z.object({}).catchall(z.unknown());

/** Does nothing (optionally after a pause, or failing on purpose): for tests and benchmarks. */
export const noopStep: StepType<{ sleepMs?: number | undefined; fail?: string | undefined }, Record<string, unknown>> = {
  type: 'noop',
  description: 'Does nothing; optional sleepMs pause and fail message, for tests and benchmarks.',
  inputSchema: z.strictObject({ sleepMs: z.number().int().min(0).max(600_000).optional(), fail: z.string().optional() }),
  outputSchema: empty,
  async execute(ctx) {
    if (ctx.input.sleepMs) await sleep(ctx.input.sleepMs, ctx.signal);
    if (ctx.input.fail) return { status: 'failed', error: ctx.input.fail };
    return { status: 'succeeded', outputs: {} };
  },
};

/** Emits its (resolved) config as outputs, so later nodes and run outputs can use computed values. */
export const setOutputsStep: StepType<Record<string, unknown>, Record<string, unknown>> = {
  type: 'set_outputs',
  description: 'Sets its resolved config as the step outputs.',
  inputSchema: z.record(z.string(), z.unknown()),
  outputSchema: empty,
  async execute(ctx) {
    return { status: 'succeeded', outputs: ctx.input };
  },
};

/** Waits a duration or until a time without holding a worker: the step parks as `waiting` and the scheduler wakes it. */
export const timerStep: StepType<{ seconds?: number | undefined; until?: string | undefined }, { firedAt: string }> = {
  type: 'timer',
  description: 'Waits for seconds or until an ISO time, parked as waiting.',
  inputSchema: z
    .strictObject({
      seconds: z
        .number()
        .min(0)
        .max(366 * 86_400)
        .optional(),
      until: z.iso.datetime({ offset: true }).optional(),
    })
    .refine((v) => (v.seconds === undefined) !== (v.until === undefined), 'give exactly one of seconds or until'),
  outputSchema: z.object({ firedAt: z.string() }),
  async execute(ctx) {
    // The due time is fixed once per node (an effect), so re-executions after waking agree on it.
    const due = await ctx.effect(
      'due',
      async () => ctx.input.until ?? new Date(ctx.now().getTime() + (ctx.input.seconds ?? 0) * 1000).toISOString(),
    );
    const now = ctx.now();
    if (now.getTime() >= Date.parse(due)) return { status: 'succeeded', outputs: { firedAt: now.toISOString() } };
    return { status: 'waiting', until: new Date(due), reason: `timer until ${due}` };
  },
};
