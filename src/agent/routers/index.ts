// File-based routers (nginx, Traefik): render a target's route files, write them atomically, validate,
// reload, confirm, and restore the previous files when any of it fails. routerFor() picks the router of
// a task's strategy config.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { type AgentTask, expandTemplate, type RouterConfig } from '../../deployments/protocol.js';
import type { TaskLog } from '../executors/types.js';
import { type NginxGeneration, nginxConfirm, nginxDrain, nginxGeneration, renderNginx } from './nginx.js';
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
      async drain(maxMs: number, sig?: AbortSignal) {
        if (gen) return nginxDrain(gen, maxMs, sig);
        const started = Date.now();
        await sleep(maxMs, sig);
        return { drained: true, ms: Date.now() - started };
      },
    };
  }
}

/** The router of a task's strategy config, or null when it has none. */
export function routerFor(task: AgentTask): Router | null {
  return task.config.router ? new FileRouter(task, task.config.router) : null;
}
