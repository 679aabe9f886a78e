// File-based routers (nginx, Traefik): render a target's route files, write them atomically, validate,
// reload, confirm, and restore the previous files when any of it fails. routerFor() picks the router of
// a task's strategy config.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AgentTask, RouterConfig } from '../../protocol/deployment.js';
import { expandTemplate } from '../../protocol/deployment-values.js';
import { checkRouterCommand } from '../command-policy.js';
import type { TaskLog } from '../executors/types.js';
import { establishedTo, sameNetworkNamespace } from './connections.js';
import { type NginxGeneration, nginxConfirm, nginxDrain, nginxGeneration, parseLive, renderNginx } from './nginx.js';
import { renderTraefik } from './traefik.js';
import { type RouteFile, type Router, RouterError, type RouterSwitch, type RouteServer } from './types.js';

export { type Router, RouterError, type RouterSwitch, type RouteServer } from './types.js';

const run = promisify(execFile);

async function writeAtomic(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, file);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

async function runCommand(what: string, command: string[]): Promise<void> {
  const [cmd, ...args] = command;
  try {
    checkRouterCommand(command, `router ${what}`);
  } catch (err) {
    throw new RouterError((err as Error).message);
  }
  try {
    await run(cmd!, args);
  } catch (err) {
    const detail = ((err as { stderr?: string }).stderr || (err as Error).message).trim();
    throw new RouterError(`router ${what} (${command.join(' ')}) failed: ${detail}`);
  }
}

class FileRouter implements Router {
  readonly type: string;

  constructor(
    private readonly task: AgentTask,
    private readonly cfg: RouterConfig,
  ) {
    this.type = cfg.type;
  }

  render(servers: RouteServer[]): RouteFile[] {
    // Components whose path expands alike share one file, in the order given.
    const byPath = new Map<string, RouteServer[]>();
    for (const s of servers) {
      const p = expandTemplate(this.cfg.path, { task: this.task, component: s.component });
      byPath.set(p, [...(byPath.get(p) ?? []), s]);
    }
    const target = this.task.target.name;
    return [...byPath].map(([p, group]) => ({
      path: p,
      content: this.cfg.type === 'nginx' ? renderNginx(target, group, this.cfg.format ?? 'upstream') : renderTraefik(target, group),
    }));
  }

  async pointsAt(servers: RouteServer[]): Promise<boolean> {
    for (const f of this.render(servers)) {
      if ((await readFile(f.path, 'utf8').catch(() => null)) !== f.content) return false;
    }
    return true;
  }

  async switchTo(servers: RouteServer[], log: TaskLog, signal?: AbortSignal): Promise<RouterSwitch> {
    if (this.cfg.type === 'nginx' && this.cfg.format === 'live') return this.switchLive(servers, log);
    const files = this.render(servers);
    const previous = await Promise.all(
      files.map(async (f) => ({ path: f.path, content: await readFile(f.path, 'utf8').catch(() => null) })),
    );
    const restore = async (reload: boolean) => {
      for (const p of previous) {
        if (p.content === null) await rm(p.path, { force: true });
        else await writeAtomic(p.path, p.content);
      }
      // the proxy may have half-taken the new files: reload it with the previous ones (best effort)
      if (reload && this.cfg.reloadCommand?.length) await runCommand('reload', this.cfg.reloadCommand).catch(() => {});
      log(`router: ${files.map((f) => f.path).join(', ')} restored; the previous servers keep serving`);
    };
    for (const f of files) await writeAtomic(f.path, f.content);
    log(`router ${files.map((f) => f.path).join(', ')} written: ${servers.map((s) => `${s.component} → ${s.host}:${s.port}`).join(', ')}`);
    let gen: NginxGeneration | null = null;
    try {
      if (this.cfg.validateCommand?.length) {
        await runCommand('validation', this.cfg.validateCommand);
        log('router configuration valid');
      }
      if (this.cfg.type === 'nginx' && this.cfg.pidFile) gen = await nginxGeneration(this.cfg.pidFile);
      if (this.cfg.reloadCommand?.length) {
        await runCommand('reload', this.cfg.reloadCommand);
        log(`router reloaded (${this.cfg.reloadCommand.join(' ')})`);
      }
      if (gen) {
        const timeout = (this.cfg.confirmTimeoutSeconds ?? 10) * 1000;
        if (!(await nginxConfirm(gen, timeout, signal))) {
          throw new RouterError(`router reload not confirmed: nginx (pid ${gen.master}) started no new workers within ${timeout / 1000} s`);
        }
        log(`router reload confirmed: nginx ${gen.master} runs new workers; ${gen.before.size} previous worker(s) finishing`);
      }
    } catch (err) {
      await restore(gen !== null || Boolean(this.cfg.reloadCommand?.length));
      if (err instanceof RouterError) throw err;
      throw new RouterError(`router switch failed: ${(err as Error).message}`);
    }
    const confirmed = gen !== null;
    if (!confirmed)
      log(
        `router switch not confirmable (${this.cfg.type}${this.cfg.type === 'nginx' ? ' without pidFile' : ''}): the drain is the full drain time`,
      );
    return {
      files,
      confirmed,
      drainedWhen: confirmed ? 'the previous proxy workers exited' : 'drain time elapsed',
      async drain(maxMs: number, sig?: AbortSignal) {
        if (gen) return nginxDrain(gen, maxMs, sig);
        const started = Date.now();
        await sleep(maxMs, sig);
        return { drained: true, ms: Date.now() - started };
      },
    };
  }

  /**
   * nginx format "live": the address files are renamed into place and the next request reads them (no
   * validation, no reload, nothing closed). The drain waits until no connection to the previous addresses
   * is left, counted in this network namespace when nginx (router.pidFile) shares it; otherwise, or for
   * addresses that are not IPv4 literals, it waits the whole drain time.
   */
  private async switchLive(servers: RouteServer[], log: TaskLog): Promise<RouterSwitch> {
    const files = this.render(servers);
    const previous = await Promise.all(files.map(async (f) => (await readFile(f.path, 'utf8').catch(() => null)) ?? ''));
    const written: string[] = [];
    try {
      for (const f of files) {
        await writeAtomic(f.path, f.content);
        written.push(f.path);
      }
    } catch (err) {
      for (const [i, p] of written.entries()) await writeAtomic(p, previous[i]!).catch(() => {});
      throw new RouterError(`router switch failed: ${(err as Error).message}`);
    }
    log(
      `router ${files.map((f) => f.path).join(', ')} written: ${servers.map((s) => `${s.component} → ${s.host}:${s.port}`).join(', ')} (live: nginx reads it on its next request, no reload)`,
    );
    const serving = new Set(servers.map((s) => `${s.host}:${s.port}`));
    const old = previous.flatMap(parseLive).filter((a) => !serving.has(`${a.host}:${a.port}`));
    const counted = Boolean(this.cfg.pidFile) && (await this.nginxSharesNetwork());
    if (old.length && !counted) {
      log(
        'router: connections to the previous servers cannot be counted here (no pidFile, or nginx in another network namespace): the drain is the full drain time',
      );
    }
    return {
      files,
      confirmed: true,
      drainedWhen: counted ? 'no connection to it left' : 'drain time elapsed',
      async drain(maxMs: number, sig?: AbortSignal) {
        const started = Date.now();
        if (old.length === 0) return { drained: true, ms: 0 };
        // A request whose route was read just before the rename may not have connected yet (a busy worker):
        // connections are counted only after it had time to.
        if (counted) await sleep(Math.min(LIVE_SETTLE_MS, maxMs), sig);
        for (;;) {
          let open: number | null = counted ? 0 : null;
          for (const a of counted ? old : []) {
            const n = await establishedTo(a.host, a.port);
            open = n === null || open === null ? null : open + n;
          }
          if (open === 0) return { drained: true, ms: Date.now() - started };
          const left = maxMs - (Date.now() - started);
          // Uncountable: the whole drain time is the drain (as after a reload that cannot be confirmed).
          if (left <= 0 || sig?.aborted) return { drained: open === null, ms: Date.now() - started };
          await sleep(open === null ? left : Math.min(50, left), sig);
        }
      },
    };
  }

  private async nginxSharesNetwork(): Promise<boolean> {
    const pid = Number((await readFile(this.cfg.pidFile!, 'utf8').catch(() => '')).trim());
    return Number.isInteger(pid) && pid > 0 && (await sameNetworkNamespace(pid));
  }
}

/** How long after a live switch requests that read the previous address may still connect to it. */
const LIVE_SETTLE_MS = 1000;

/** The router of a task's strategy config, or null when it has none. */
export function routerFor(task: AgentTask): Router | null {
  return task.config.router ? new FileRouter(task, task.config.router) : null;
}
