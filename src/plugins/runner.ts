// The plugin process: installs the sandbox's in-process guards, imports the plugin's entrypoint, says what
// it provides, then answers calls from the server over IPC. It runs in its own process (see sandbox.ts for
// the permission model, uid and network namespace around it), so a crash, a hang or a leak ends here.
//
// This file is copied next to the plugin packages and run by Node under --experimental-permission, which
// only lets it read its own directory: it must import nothing but node: built-ins (types are erased).
import childProcess from 'node:child_process';
import dgram from 'node:dgram';
import dns from 'node:dns';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import workerThreads from 'node:worker_threads';
import type {
  HostCall,
  HostFetchResult,
  HostMessage,
  MethodCall,
  PluginCall,
  Provides,
  Refusal,
  RpcRequest,
  RunnerMessage,
} from './rpc.js';

type Handler = (args: Record<string, unknown>) => unknown;
type Table = Record<string, Handler>;
type MethodTable = Record<string, Table>;
type Fn = (...args: unknown[]) => unknown;

const send = (m: RunnerMessage) => process.send?.(m);

const clip = (text: string, max = 300): string => {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
};

const WORK_DIR = process.env.GANTRY_PLUGIN_WORK_DIR ?? '(none)';

/** What the sandbox says when it refuses, per Node permission (and the runner's own "Network"). */
function explain(permission: string, resource: string): string {
  switch (permission) {
    case 'FileSystemRead':
      return `reading ${resource} is refused: a plugin may read only its own package and its work directory ${WORK_DIR}`;
    case 'FileSystemWrite':
      return `writing ${resource} is refused: a plugin may write only in its work directory ${WORK_DIR}`;
    case 'ChildProcess':
      return 'starting a process is refused: plugins may not run programs';
    case 'WorkerThreads':
      return 'starting a worker thread is refused: plugins may not start workers';
    case 'Network':
      return `${resource} is refused: plugins have no network; make HTTP requests with host.fetch (see docs/plugins.md)`;
    default:
      return `${permission}${resource ? ` (${resource})` : ''} is refused by the plugin sandbox`;
  }
}

const reported = new WeakSet<object>();

/** Tells the server (which logs it with the plugin's name) once per error, and makes the message say what was refused. */
function noteRefusal(err: unknown, api: string): void {
  if (typeof err !== 'object' || err === null || (err as { code?: unknown }).code !== 'ERR_ACCESS_DENIED' || reported.has(err)) return;
  reported.add(err);
  const e = err as Error & { permission?: string; resource?: string };
  const refusal: Refusal = { permission: String(e.permission ?? 'unknown'), resource: String(e.resource ?? ''), api };
  try {
    e.message = `sandbox refused ${api}: ${explain(refusal.permission, refusal.resource)}`;
  } catch {
    // a frozen error keeps Node's message
  }
  send({ type: 'refused', refusal });
}

class SandboxRefusal extends Error {
  readonly code = 'ERR_ACCESS_DENIED';
  readonly permission = 'Network';
  constructor(
    readonly resource: string,
    api: string,
  ) {
    super('Access to this API has been restricted');
    noteRefusal(this, api);
  }
}

/** The API the plugin called, while it runs: fs.readFile calls fs.open inside, and the refusal names the outer one. */
let calling: string | undefined;

/** Wraps every function of a built-in module so a permission-model refusal (thrown, rejected or called back) is reported. */
function watchModule(name: string, mod: Record<string, unknown>): void {
  for (const key of Object.keys(mod)) {
    const orig = mod[key];
    // Classes (Stats, ReadStream, …) keep their identity; the functions that open files are wrapped.
    if (typeof orig !== 'function' || /^[A-Z]/.test(key)) continue;
    const own = `${name}.${key}`;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      const outer = calling === undefined;
      const api = calling ?? own;
      const last = args.length - 1;
      const cb = args[last];
      if (typeof cb === 'function') {
        args[last] = function (this: unknown, err: unknown, ...rest: unknown[]) {
          noteRefusal(err, api);
          return (cb as Fn).call(this, err, ...rest);
        };
      }
      if (outer) calling = own;
      try {
        const r = (orig as Fn).apply(this, args);
        if (r instanceof Promise) {
          return r.catch((err: unknown) => {
            noteRefusal(err, api);
            throw err;
          });
        }
        return r;
      } catch (err) {
        noteRefusal(err, api);
        throw err;
      } finally {
        if (outer) calling = undefined;
      }
    };
    Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(orig));
    try {
      mod[key] = wrapped;
    } catch {
      // read-only export: the permission model still refuses, only the report is missing
    }
  }
}

/**
 * The network guard: every way a Node program opens a connection, listens or resolves a name is refused
 * with a clear error before it reaches the OS (where, as root or with user namespaces, the process has no
 * network at all). Installed before the plugin's code is imported, so the plugin cannot get the originals.
 */
function guardNetwork(): void {
  const refuse = (api: string, what: (...a: unknown[]) => string) =>
    function refused(...a: unknown[]): never {
      throw new SandboxRefusal(what(...a), api);
    };
  const target = (a: unknown, b?: unknown): string => {
    const o = (Array.isArray(a) ? a[0] : a) as Record<string, unknown> | string | number | undefined;
    if (typeof o === 'object' && o !== null) {
      if (o.path) return `a connection to ${String(o.path)}`;
      return `a connection to ${String(o.host ?? 'localhost')}:${String(o.port ?? '')}`;
    }
    if (typeof o === 'string' && Number.isNaN(Number(o))) return `a connection to ${o}`;
    return `a connection to ${typeof b === 'string' ? b : 'localhost'}:${String(o ?? '')}`;
  };
  net.Socket.prototype.connect = refuse('net.Socket.connect', target) as typeof net.Socket.prototype.connect;
  net.Server.prototype.listen = refuse('net.Server.listen', () => 'listening on a port') as typeof net.Server.prototype.listen;
  for (const m of ['bind', 'connect', 'send'] as const) {
    dgram.Socket.prototype[m] = refuse(`dgram.Socket.${m}`, () => 'a UDP socket') as never;
  }
  const dnsRefuse = (name: string) => refuse(name, (host) => `resolving ${String(host)}`);
  for (const mod of [dns as unknown as Record<string, unknown>, dns.promises as unknown as Record<string, unknown>]) {
    for (const key of Object.keys(mod)) {
      if (typeof mod[key] === 'function' && /^(lookup|resolve|reverse)/.test(key)) mod[key] = dnsRefuse(`dns.${key}`);
    }
  }
  for (const R of [dns.Resolver, dns.promises.Resolver]) {
    for (const key of Object.getOwnPropertyNames(R.prototype)) {
      if (/^(resolve|reverse)/.test(key)) (R.prototype as unknown as Record<string, unknown>)[key] = dnsRefuse(`dns.Resolver.${key}`);
    }
  }
  const fetchRefused = (input: unknown) =>
    Promise.reject(new SandboxRefusal(`fetch ${String(input instanceof Request ? input.url : input)}`, 'fetch'));
  Object.defineProperty(globalThis, 'fetch', { value: fetchRefused, writable: false, configurable: false });
  // WebSocket and EventSource are not globals on Node 20; they would go through net.Socket anyway.
}

function installGuards(): void {
  guardNetwork();
  watchModule('fs', fs as unknown as Record<string, unknown>);
  watchModule('fs.promises', fs.promises as unknown as Record<string, unknown>);
  watchModule('child_process', childProcess as unknown as Record<string, unknown>);
  const Orig = workerThreads.Worker;
  // A class, so `new Worker` keeps working syntax-wise; the permission model refuses in the constructor.
  class Worker extends Orig {
    constructor(...args: ConstructorParameters<typeof Orig>) {
      try {
        super(...args);
      } catch (err) {
        noteRefusal(err, 'worker_threads.Worker');
        throw err;
      }
    }
  }
  (workerThreads as { Worker: typeof Orig }).Worker = Worker;
  // ESM named imports (import { readFile } from 'node:fs') see the wrapped functions too.
  syncBuiltinESMExports();
}

/** The server's side of the plugin: what a handler gets as `host`. */
function hostApi() {
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 1;
  const ask = (call: HostCall) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      send({ type: 'host_call', id, call });
    });
  const answer = (m: Extract<HostMessage, { type: 'host_response' }>) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(m.error));
  };
  const host = Object.freeze({
    /** HTTP through the server (its outbound rules apply); resolves with a standard Response. */
    async fetch(url: string | URL, init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {}) {
      const body = init.body === undefined ? undefined : Buffer.from(init.body).toString('base64');
      const r = (await ask({
        kind: 'fetch',
        url: String(url),
        ...(init.method ? { method: init.method } : {}),
        ...(init.headers ? { headers: { ...init.headers } } : {}),
        ...(body !== undefined ? { body } : {}),
      })) as HostFetchResult;
      const nullBody = [101, 204, 205, 304].includes(r.status);
      return new Response(nullBody ? null : Buffer.from(r.body, 'base64'), {
        status: r.status,
        statusText: r.statusText,
        headers: r.headers,
      });
    },
  });
  return { host, answer };
}

function table(api: Record<string, unknown>, key: string): Table {
  const t = api[key];
  if (t === undefined) return {};
  if (typeof t !== 'object' || t === null) throw new Error(`export "${key}" must be an object of functions`);
  for (const [name, fn] of Object.entries(t)) {
    if (typeof fn !== 'function') throw new Error(`${key}.${name} must be a function`);
  }
  return t as Table;
}

/** An export of method tables keyed by name, e.g. `targetExecutors = { nomad: { deploy, health, … } }`. */
function methodTable(api: Record<string, unknown>, key: string): MethodTable {
  const t = api[key];
  if (t === undefined) return {};
  if (typeof t !== 'object' || t === null) throw new Error(`export "${key}" must be an object of method tables`);
  const out: MethodTable = {};
  for (const [name, methods] of Object.entries(t)) {
    if (typeof methods !== 'object' || methods === null) throw new Error(`${key}.${name} must be an object of functions`);
    out[name] = {};
    // Own and prototype methods, so a class instance serves as well as an object literal.
    for (let o: object | null = methods; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const m of Object.getOwnPropertyNames(o)) {
        const fn = (methods as Record<string, unknown>)[m];
        if (m !== 'constructor' && typeof fn === 'function' && !out[name][m]) out[name][m] = (fn as Handler).bind(methods);
      }
    }
  }
  return out;
}

const methodNames = (t: MethodTable): Record<string, string[]> =>
  Object.fromEntries(Object.entries(t).map(([name, methods]) => [name, Object.keys(methods)]));

async function main(): Promise<void> {
  const entry = process.argv[2];
  if (!entry || !process.send) throw new Error('the plugin runner is started by the Gantry server, not by hand');
  installGuards();
  const { host, answer } = hostApi();
  let handlers: Record<Exclude<PluginCall['kind'], MethodCall['kind']>, Table>;
  let methods: Record<MethodCall['kind'], MethodTable>;
  try {
    const mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
    const api = (typeof mod.default === 'object' && mod.default !== null ? mod.default : mod) as Record<string, unknown>;
    handlers = { gate: table(api, 'gates'), step: table(api, 'stepTypes'), notify: table(api, 'notificationChannels') };
    methods = {
      executor: methodTable(api, 'targetExecutors'),
      registry: methodTable(api, 'registries'),
      secretStore: methodTable(api, 'secretStores'),
    };
  } catch (err) {
    noteRefusal(err, 'import');
    send({ type: 'load_failed', error: clip(err instanceof Error ? `${err.name}: ${err.message}` : String(err)) });
    // Let the message flush before exiting.
    setTimeout(() => process.exit(1), 50);
    return;
  }
  const provides: Provides = {
    gates: Object.keys(handlers.gate),
    stepTypes: Object.keys(handlers.step),
    notificationChannels: Object.keys(handlers.notify),
    targetExecutors: methodNames(methods.executor),
    registries: methodNames(methods.registry),
    secretStores: methodNames(methods.secretStore),
  };
  process.on('message', (raw: unknown) => {
    const msg = raw as HostMessage;
    if ('type' in msg) return answer(msg);
    const req = msg as RpcRequest;
    const call = req.call;
    const { kind, name } = call;
    let fn: Handler | undefined;
    let args: Record<string, unknown>;
    let what: string;
    if (call.kind === 'executor' || call.kind === 'registry' || call.kind === 'secretStore') {
      fn = methods[call.kind][name]?.[call.method];
      args = call.args;
      what = `method ${name}.${call.method}`;
    } else {
      fn = handlers[call.kind]?.[name];
      const { kind: _k, name: _n, ...rest } = call;
      args = rest;
      what = `named "${name}"`;
    }
    void (async () => {
      try {
        if (!fn) throw new Error(`this plugin provides no ${kind} ${what}`);
        const result = await fn({ ...args, host });
        send({ type: 'response', id: req.id, ok: true, result: result === undefined ? null : result });
      } catch (err) {
        // A refusal the plugin let through reaches the caller saying what was refused.
        noteRefusal(err, `${kind} ${name}`);
        send({ type: 'response', id: req.id, ok: false, error: clip(err instanceof Error ? err.message : String(err)) });
      }
    })();
  });
  // The server going away closes the channel; a plugin process never outlives it.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', provides });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
