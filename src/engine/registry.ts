// Step types: one typed interface for built-ins and plugins, and the registry the engine looks them up in.
import type { z } from 'zod';
import type { Logger } from '../core/logger.js';

export interface StepContext<I> {
  tenantId: string;
  runId: string;
  stepRunId: string;
  nodeId: string;
  attempt: number;
  input: I;
  runInputs: Record<string, unknown>;
  /** Events delivered to a waiting step (approvals, callbacks), oldest first. */
  events: { event: string; payload: Record<string, unknown>; at: string }[];
  signal: AbortSignal;
  now(): Date;
  log(line: string): void;
  logger: Logger;
  /**
   * Applies a side effect at most once per (run, node, name): the idempotency key is recorded with
   * the result, so a retried or re-leased attempt gets the recorded result instead of applying it again.
   */
  effect<T>(name: string, apply: (idempotencyKey: string) => Promise<T>): Promise<T>;
}

export type StepResult<O> =
  | { status: 'succeeded'; outputs: O }
  | { status: 'waiting'; until?: Date; reason: string }
  | { status: 'failed'; error: string; retryable?: boolean };

export interface StepType<I = unknown, O = Record<string, unknown>> {
  type: string;
  description: string;
  inputSchema: z.ZodType<I>;
  outputSchema: z.ZodType<O>;
  execute(ctx: StepContext<I>): Promise<StepResult<O>>;
}

export class StepRegistry {
  private readonly types = new Map<string, StepType<any, any>>(); // any: each entry has its own I/O types

  register<I, O>(t: StepType<I, O>): this {
    if (this.types.has(t.type)) throw new Error(`step type "${t.type}" is registered twice`);
    this.types.set(t.type, t as StepType<any, any>);
    return this;
  }

  get(type: string): StepType<unknown, Record<string, unknown>> | undefined {
    return this.types.get(type);
  }

  has = (type: string): boolean => this.types.has(type);

  list(): { type: string; description: string }[] {
    return [...this.types.values()].map((t) => ({ type: t.type, description: t.description }));
  }
}
