// One running plugin: a sandboxed child process (sandbox.ts builds its command line) with a bare
// environment, and the calls in flight to it. A crash or a timed-out call ends the process; the host
// starts a fresh one on the next call. The process may ask the server for things (host calls, e.g.
// host.fetch) and reports what the sandbox refused it, which is logged here with the plugin's name.
import { type ChildProcess, spawn } from 'node:child_process';
import { GantryError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { clip, type HostCall, type HostMessage, type PluginCall, type Provides, type Refusal, type RunnerMessage } from './rpc.js';

/** A plugin call that did not produce an answer: the plugin crashed, timed out, failed to load or threw. */
export class PluginError extends GantryError {
  constructor(
    readonly pluginId: string,
    readonly kind: 'crashed' | 'timed_out' | 'load_failed' | 'failed' | 'unavailable',
    message: string,
  ) {
    super(`plugin_${kind}`, 502, message);
  }
}

/** Refusals logged per process before the rest are only counted (a plugin must not flood the log). */
const MAX_LOGGED_REFUSALS = 50;
/** host.fetch calls one plugin process may have open at once. */
const MAX_HOST_CALLS_IN_FLIGHT = 8;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export interface PluginProcessOptions {
  pluginId: string;
  /** The sandboxed command line, [file, ...args] (sandboxCommand). */
  command: string[];
  cwd: string;
  /** Added to the bare environment (PATH, TZ, NODE_ENV, GANTRY_PLUGIN_ID). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
  logger?: Logger | undefined;
  /** Serves the plugin's requests of the server (host.fetch); the error's message goes back to the plugin. */
  onHostCall?: (call: HostCall) => Promise<unknown>;
}

export class PluginProcess {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lastOutput: string[] = [];
  private ended = false;
  private refusals = 0;
  private hostCallsInFlight = 0;
  provides: Provides | undefined;

  constructor(private readonly opts: PluginProcessOptions) {}

  get alive(): boolean {
    return !this.ended;
  }

  /** Starts the runner and waits for the entrypoint to load; rejects with load_failed and the reason. */
  start(): Promise<Provides> {
    const { pluginId } = this.opts;
    // Only what a Node program needs: the server's environment holds DATABASE_URL and secrets.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GANTRY_PLUGIN_ID: pluginId,
      NODE_ENV: 'production',
      ...this.opts.env,
    };
    if (process.env.TZ) env.TZ = process.env.TZ;
    const [file, ...args] = this.opts.command;
    if (!file) throw new Error('a plugin process needs a command');
    const child = spawn(file, args, {
      cwd: this.opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child = child;
    const remember = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.lastOutput = [...this.lastOutput.slice(-4), line];
        this.opts.logger?.info({ plugin: pluginId, stream, line: clip(line, 1000) }, 'plugin output');
      }
    };
    child.stdout?.on('data', remember('stdout'));
    child.stderr?.on('data', remember('stderr'));
    return new Promise<Provides>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new PluginError(pluginId, 'load_failed', `plugin ${pluginId} did not start within ${this.startTimeout()} ms`));
        this.kill();
      }, this.startTimeout());
      child.on('message', (raw: unknown) => {
        // The plugin's code can send anything on this channel; a non-object must not throw in the server.
        if (typeof raw !== 'object' || raw === null) return;
        const m = raw as RunnerMessage;
        if (m.type === 'ready') {
          clearTimeout(timer);
          this.provides = m.provides;
          resolve(m.provides);
        } else if (m.type === 'load_failed') {
          clearTimeout(timer);
          reject(new PluginError(pluginId, 'load_failed', `plugin ${pluginId} failed to load its entrypoint: ${m.error}`));
        } else if (m.type === 'refused') {
          this.logRefusal(m.refusal);
        } else if (m.type === 'host_call') {
          this.serveHostCall(child, m.id, m.call);
        } else if (m.type === 'response') {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          clearTimeout(p.timer);
          if (m.ok) p.resolve(m.result);
          else p.reject(new PluginError(pluginId, 'failed', `plugin ${pluginId} failed: ${m.error}`));
        }
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new PluginError(pluginId, 'load_failed', `plugin ${pluginId} could not be started: ${err.message}`));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.ended = true;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const last = this.lastOutput.length ? ` (last output: ${clip(this.lastOutput.join(' | '), 200)})` : '';
        const err = new PluginError(pluginId, 'crashed', `plugin ${pluginId} crashed: its process ${how}${last}`);
        reject(err);
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(err);
          this.pending.delete(id);
        }
      });
    });
  }

  /** Logs what the sandbox refused, with the plugin's name; a flood is cut short and counted. */
  private logRefusal(r: Refusal): void {
    this.refusals++;
    if (this.refusals > MAX_LOGGED_REFUSALS) {
      if (this.refusals % 1000 === 0)
        this.opts.logger?.warn({ plugin: this.opts.pluginId, refusals: this.refusals }, 'plugin sandbox refusals');
      return;
    }
    const refusal = {
      permission: clip(String(r?.permission), 60),
      resource: clip(String(r?.resource), 300),
      api: clip(String(r?.api), 100),
    };
    this.opts.logger?.warn({ plugin: this.opts.pluginId, ...refusal }, `plugin sandbox refused ${this.opts.pluginId}: ${refusal.api}`);
  }

  private serveHostCall(child: ChildProcess, id: number, call: HostCall): void {
    const { pluginId, onHostCall, logger } = this.opts;
    const reply = (m: HostMessage) => {
      if (child.connected) child.send(m, () => {});
    };
    if (!onHostCall) {
      reply({ type: 'host_response', id, ok: false, error: 'this server offers plugins no host calls' });
      return;
    }
    if (this.hostCallsInFlight >= MAX_HOST_CALLS_IN_FLIGHT) {
      reply({ type: 'host_response', id, ok: false, error: `at most ${MAX_HOST_CALLS_IN_FLIGHT} host calls may be in flight at once` });
      return;
    }
    this.hostCallsInFlight++;
    onHostCall(call)
      .finally(() => this.hostCallsInFlight--)
      .then(
        (result) => reply({ type: 'host_response', id, ok: true, result }),
        (err: unknown) => {
          const error = clip(err instanceof Error ? err.message : String(err), 500);
          logger?.warn({ plugin: pluginId, call: call?.kind, err: error }, `plugin host call of ${pluginId} failed`);
          reply({ type: 'host_response', id, ok: false, error });
        },
      );
  }

  private startTimeout(): number {
    return this.opts.startTimeoutMs ?? 15_000;
  }

  /** One call with its own time limit; a plugin that overruns is killed so it cannot hold the next caller too. */
  call(call: PluginCall, timeoutMs: number): Promise<unknown> {
    const { pluginId } = this.opts;
    const child = this.child;
    if (!child || this.ended || !child.connected) {
      return Promise.reject(new PluginError(pluginId, 'crashed', `plugin ${pluginId} crashed: its process is not running`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new PluginError(
            pluginId,
            'timed_out',
            `plugin ${pluginId} timed out: ${call.kind} "${call.name}" gave no answer within ${timeoutMs} ms`,
          ),
        );
        this.kill();
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      child.send({ id, call }, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new PluginError(pluginId, 'crashed', `plugin ${pluginId} crashed: ${err.message}`));
      });
    });
  }

  kill(): void {
    if (this.child && !this.ended) this.child.kill('SIGKILL');
  }

  /** Stops the process and waits for it to be gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.ended) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await gone;
    clearTimeout(t);
  }
}
