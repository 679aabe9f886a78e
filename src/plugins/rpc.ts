// The typed RPC between the server and a plugin process (over the child's IPC channel): calls the host
// makes, answers the plugin gives, and the hello a plugin process sends once its entrypoint has loaded.
import type { PromotionContext } from '../gates/types.js';

/** Evaluate one of the plugin's gates for a promotion. */
export interface GateCall {
  kind: 'gate';
  name: string;
  context: PromotionContext;
  /** The gate's config from the environment ({id, config}). */
  config: unknown;
  /** The tenant's plugin-instance config. */
  instanceConfig: Record<string, unknown>;
}

/** Run one of the plugin's workflow step types. */
export interface StepCall {
  kind: 'step';
  name: string;
  input: unknown;
  instanceConfig: Record<string, unknown>;
  context: {
    tenantId: string;
    runId: string;
    stepRunId: string;
    nodeId: string;
    attempt: number;
    runInputs: Record<string, unknown>;
    now: string;
  };
}

/** Deliver an event through one of the plugin's notification channels. */
export interface NotifyCall {
  kind: 'notify';
  name: string;
  event: { type: string; tenantId: string; at: string; data: Record<string, unknown> };
  config: Record<string, unknown>;
  instanceConfig: Record<string, unknown>;
}

export type PluginCall = GateCall | StepCall | NotifyCall;

export interface RpcRequest {
  id: number;
  call: PluginCall;
}

export type RpcResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** What the loaded entrypoint implements, by contribution kind. */
export interface Provides {
  gates: string[];
  stepTypes: string[];
  notificationChannels: string[];
}

export type RunnerHello = { type: 'ready'; provides: Provides } | { type: 'load_failed'; error: string };

export type RunnerMessage = RunnerHello | ({ type: 'response' } & RpcResponse);

/** Keeps a message a plugin controls short enough for a gate reason or a log line. */
export function clip(text: string, max = 300): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
