// The plugin host: one sandboxed process per active plugin on this replica, started on first use from the
// package stored in the database (extracted into <cacheDir>/<pluginId>/<sha256>, read-only to the plugin;
// its writable work directory is <cacheDir>/<pluginId>/work), restarted after a crash, and asked for each
// call with the plugin's own time limit. It also serves the plugin's host calls (host.fetch, net.ts).
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../core/logger.js';
import type { Outbound } from '../http/outbound.js';
import { type Db, withSystem } from '../store/db.js';
import { readArchive, writePackage } from './archive.js';
import { CONTRACT_METHODS, FUNCTION_KINDS, MANIFEST_FILE, METHOD_KINDS } from './manifest.js';
import { pluginFetch } from './net.js';
import { PluginError, PluginProcess } from './process.js';
import { type HostCall, NOTHING_PROVIDED, type PluginCall, type Provides } from './rpc.js';
import { installRunner, logSandbox, prepareDirs, type SandboxMode, sandboxCommand, sandboxMode } from './sandbox.js';
import { archiveBytes, findPlugin, listPlugins, type PluginRow, setPluginStatus } from './service.js';

export interface PluginHostOptions {
  db: Db;
  /** The door host.fetch goes through; without one, private and loopback addresses are refused. */
  outbound?: Outbound | undefined;
  /** Where packages are extracted; default <os tmp>/gantry-plugins. The server passes <data-dir>/plugins. */
  cacheDir?: string;
  logger?: Logger | undefined;
}

interface Running {
  sha: string;
  proc: PluginProcess;
}

export class PluginHost {
  readonly db: Db;
  private readonly outbound: Outbound | undefined;
  readonly cacheDir: string;
  readonly logger: Logger | undefined;
  private readonly running = new Map<string, Promise<Running>>();
  private readonly listeners = new Set<(rows: PluginRow[]) => void>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private sandbox: Promise<SandboxMode> | undefined;

  constructor(opts: PluginHostOptions) {
    this.db = opts.db;
    this.outbound = opts.outbound;
    this.cacheDir = opts.cacheDir ?? path.join(os.tmpdir(), 'gantry-plugins');
    this.logger = opts.logger;
  }

  /** The package directory of a plugin version, extracted from the database if this replica has not yet. */
  async packageDir(row: PluginRow): Promise<string> {
    if (!row.archive_sha256)
      throw new PluginError(row.plugin_id, 'unavailable', `plugin ${row.plugin_id} has no stored package; install it again`);
    const dir = path.join(this.cacheDir, row.plugin_id, row.archive_sha256);
    if (existsSync(path.join(dir, MANIFEST_FILE))) return dir;
    const bytes = await withSystem(this.db, (tx) => archiveBytes(tx, row.archive_sha256!));
    await writePackage(await readArchive(bytes), dir);
    return dir;
  }

  /** The sandbox this machine gives plugins, found out (and logged) once per host. */
  private sandboxMode(): Promise<SandboxMode> {
    this.sandbox ??= sandboxMode().then((mode) => {
      logSandbox(this.logger, mode);
      return mode;
    });
    return this.sandbox;
  }

  private async spawn(row: PluginRow): Promise<Running> {
    const id = row.plugin_id;
    const dir = await this.packageDir(row);
    const pluginDir = path.join(this.cacheDir, id);
    const workDir = path.join(pluginDir, 'work');
    let command: string[];
    try {
      const mode = await this.sandboxMode();
      await prepareDirs(mode, this.cacheDir, pluginDir, workDir);
      const runnerFile = await installRunner(this.cacheDir);
      const paths = { runnerFile, packageDir: dir, workDir, entry: path.join(dir, row.entrypoint) };
      command = sandboxCommand(mode, paths, row.manifest.memoryMb ?? 256);
    } catch (err) {
      throw new PluginError(id, 'load_failed', `plugin ${id} cannot be started in its sandbox: ${(err as Error).message}`);
    }
    const proc = new PluginProcess({
      pluginId: id,
      command,
      cwd: workDir,
      env: { GANTRY_PLUGIN_WORK_DIR: workDir, HOME: workDir },
      logger: this.logger,
      onHostCall: (call) => this.hostCall(call),
    });
    await proc.start();
    return { sha: row.archive_sha256!, proc };
  }

  /** The live process for this plugin version; a crashed one or an older version is replaced. */
  private async processFor(row: PluginRow): Promise<PluginProcess> {
    const id = row.plugin_id;
    for (;;) {
      let starting = this.running.get(id);
      if (!starting) {
        starting = this.spawn(row);
        this.running.set(id, starting);
      }
      let r: Running;
      try {
        r = await starting;
      } catch (err) {
        // A failed start is not cached: the next call tries again.
        if (this.running.get(id) === starting) this.running.delete(id);
        throw err;
      }
      if (r.sha === row.archive_sha256 && r.proc.alive) return r.proc;
      if (this.running.get(id) === starting) {
        this.running.delete(id);
        await r.proc.stop();
      }
    }
  }

  /**
   * Starts the plugin afresh and checks its entrypoint implements everything the manifest declares (each
   * gate, step type and channel; each executor's, registry's and secret store's required methods); records
   * active, or failed with the reason. Returns the updated row.
   */
  async activate(pluginId: string): Promise<PluginRow> {
    await this.stop(pluginId);
    const row = await withSystem(this.db, (tx) => findPlugin(tx, pluginId));
    let reason: string | undefined;
    try {
      const proc = await this.processFor(row);
      reason = missing(row, proc.provides ?? NOTHING_PROVIDED);
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    if (reason) await this.stop(pluginId);
    const updated = await withSystem(this.db, (tx) =>
      reason ? setPluginStatus(tx, row.id, 'failed', reason) : setPluginStatus(tx, row.id, 'active', null),
    );
    this.logger?.info({ plugin: pluginId, status: updated.status, reason }, 'plugin activation');
    await this.refresh();
    return updated;
  }

  async deactivate(pluginId: string, reason: string): Promise<PluginRow> {
    const row = await withSystem(this.db, (tx) => findPlugin(tx, pluginId));
    const updated = await withSystem(this.db, (tx) => setPluginStatus(tx, row.id, 'disabled', reason));
    await this.stop(pluginId);
    await this.refresh();
    return updated;
  }

  /** What a plugin asks of the server. */
  private hostCall(call: HostCall): Promise<unknown> {
    if (call?.kind === 'fetch') return pluginFetch(call, this.outbound);
    return Promise.reject(new Error(`this server offers plugins no host call "${String((call as { kind?: unknown })?.kind)}"`));
  }

  /** One call into an active plugin. Throws PluginError (crashed, timed_out, failed, unavailable). */
  async call(row: PluginRow, call: PluginCall): Promise<unknown> {
    if (row.status !== 'active') {
      throw new PluginError(
        row.plugin_id,
        'unavailable',
        `plugin ${row.plugin_id} is ${row.status}${row.status_reason ? ` (${row.status_reason})` : ''}`,
      );
    }
    const proc = await this.processFor(row);
    return proc.call(call, row.manifest.timeoutMs ?? 10_000);
  }

  async stop(pluginId: string): Promise<void> {
    const r = await this.running.get(pluginId)?.catch(() => undefined);
    this.running.delete(pluginId);
    await r?.proc.stop();
  }

  /** Every installed plugin, read from the database (other replicas may have installed or enabled one). */
  async plugins(): Promise<PluginRow[]> {
    return withSystem(this.db, listPlugins);
  }

  /** Subscribes to the plugin list (for registering gates and step types); called now and after each refresh. */
  onChange(listener: (rows: PluginRow[]) => void): void {
    this.listeners.add(listener);
  }

  async refresh(): Promise<PluginRow[]> {
    const rows = await this.plugins();
    for (const l of this.listeners) l(rows);
    return rows;
  }

  /** Re-reads the plugin list periodically so a plugin installed through another replica appears here too. */
  startRefreshing(intervalMs = 10_000): void {
    const loop = () => {
      this.refresh()
        .catch((err: unknown) => this.logger?.warn({ err: (err as Error).message }, 'plugin list refresh failed'))
        .finally(() => {
          this.refreshTimer = setTimeout(loop, intervalMs);
          this.refreshTimer.unref();
        });
    };
    loop();
  }

  async close(): Promise<void> {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.listeners.clear();
    await Promise.all([...this.running.keys()].map((id) => this.stop(id)));
  }
}

/** What the manifest declares that the entrypoint does not implement, as a reason; undefined when complete. */
function missing(row: PluginRow, provides: Provides): string | undefined {
  const gaps: string[] = [];
  for (const kind of FUNCTION_KINDS) {
    for (const c of row.manifest.contributes[kind]) if (!provides[kind].includes(c.name)) gaps.push(`${kind}.${c.name}`);
  }
  for (const kind of METHOD_KINDS) {
    for (const c of row.manifest.contributes[kind]) {
      const has = provides[kind]?.[c.name];
      if (!has) gaps.push(`${kind}.${c.name}`);
      else for (const m of CONTRACT_METHODS[kind].required) if (!has.includes(m)) gaps.push(`${kind}.${c.name}.${m}`);
    }
  }
  return gaps.length ? `the entrypoint does not export ${gaps.join(', ')} that the manifest declares` : undefined;
}
