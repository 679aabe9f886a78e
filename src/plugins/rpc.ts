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

/**
 * Call one method of a target executor, registry or secret store (`targetExecutors[name][method](args)`).
 * The contracts (which methods, their arguments and answers) are in docs/plugins.md; the answer is checked
 * by the caller, since a plugin may answer anything.
 */
export interface MethodCall {
  kind: 'executor' | 'registry' | 'secretStore';
  name: string;
  method: string;
  args: Record<string, unknown>;
}

export type PluginCall = GateCall | StepCall | NotifyCall | MethodCall;

export interface RpcRequest {
  id: number;
  call: PluginCall;
}

export type RpcResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** What the loaded entrypoint implements, by contribution kind (method kinds: each name's methods). */
export interface Provides {
  gates: string[];
  stepTypes: string[];
  notificationChannels: string[];
  targetExecutors: Record<string, string[]>;
  registries: Record<string, string[]>;
  secretStores: Record<string, string[]>;
}

export const NOTHING_PROVIDED: Provides = {
  gates: [],
  stepTypes: [],
  notificationChannels: [],
  targetExecutors: {},
  registries: {},
  secretStores: {},
};

export type RunnerHello = { type: 'ready'; provides: Provides } | { type: 'load_failed'; error: string };

/**
 * Something the sandbox refused the plugin (src/plugins/sandbox.ts): the permission model's
 * ERR_ACCESS_DENIED (permission FileSystemRead, FileSystemWrite, ChildProcess, WorkerThreads, …) or the
 * runner's network guard (permission Network). Sent by the runner so the server logs it with the plugin's name.
 */
export interface Refusal {
  permission: string;
  /** The path, address or API that was refused ('' when Node names none). */
  resource: string;
  /** The API the plugin called, e.g. fs.readFileSync, net.Socket.connect. */
  api: string;
}

/** A request the plugin makes of the server (the `host` object its handlers get). */
export interface HostFetchCall {
  kind: 'fetch';
  url: string;
  method?: string;
  headers?: Record<string, string>;
  /** Request body as base64 (any bytes). */
  body?: string;
}

export type HostCall = HostFetchCall;

/** The answer to host.fetch: the response with its body as base64. */
export interface HostFetchResult {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

export type RunnerMessage =
  | RunnerHello
  | ({ type: 'response' } & RpcResponse)
  | { type: 'refused'; refusal: Refusal }
  | { type: 'host_call'; id: number; call: HostCall };

/** Messages the server sends to the plugin process: calls, and answers to the plugin's host calls. */
export type HostMessage =
  | RpcRequest
  | { type: 'host_response'; id: number; ok: true; result: unknown }
  | { type: 'host_response'; id: number; ok: false; error: string };

/** Keeps a message a plugin controls short enough for a gate reason or a log line. */
export function clip(text: string, max = 300): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
