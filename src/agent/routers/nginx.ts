// nginx as a router: route files are upstream blocks (one per target and component) or bare `server`
// lines for an `include` inside an upstream shared by several targets. A reload is confirmed through the
// master's worker processes: `nginx -s reload` returns before anything changed; the master then starts
// new workers with the new files and asks the old ones to finish their requests and exit. A worker that
// was not there before the reload runs the new files (they were written before it started); when every
// worker that was there before has exited, no request can reach the previous servers through nginx.
// Format "live" needs none of this: nginx's njs module gantry-route.js (share/nginx) reads the address
// file on every request, so the next request after the atomic rename goes to the new servers, and no
// worker (nor any client's idle keep-alive connection) is closed by a reload.
import { readdir, readFile } from 'node:fs/promises';
import { RouterError, type RouteServer } from './types.js';

export function nginxUpstreamName(target: string, component: string): string {
  return `gantry_${target.replace(/[^a-z0-9]/g, '_')}_${component}`;
}

/** host:port as nginx reads it in proxy_pass (IPv6 literals in brackets). */
const address = (s: RouteServer) => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

/**
 * The content of one route file: whole upstream blocks, only the servers (format "servers"), or only the
 * address that gantry-route.js reads on every request (format "live").
 */
export function renderNginx(target: string, servers: RouteServer[], format: 'upstream' | 'servers' | 'live'): string {
  if (format === 'live') {
    const components = [...new Set(servers.map((s) => s.component))];
    if (components.length > 1) {
      throw new RouterError(
        `router format "live" holds one component's address per file, but ${components.join(', ')} expand to the same path: put \${component} in router.path`,
      );
    }
    return `# gantry: target ${target}, component ${components[0]} (read by gantry-route.js on every request)\n${servers.map((s) => `${address(s)}\n`).join('')}`;
  }
  if (format === 'servers') {
    return servers.map((s) => `# gantry: target ${target}, component ${s.component}\nserver ${s.host}:${s.port};\n`).join('');
  }
  return servers.map((s) => `upstream ${nginxUpstreamName(target, s.component)} {\n  server ${s.host}:${s.port};\n}\n`).join('');
}

/** The parent pid of a process from /proc/<pid>/stat (null when it is gone). */
async function parentOf(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return null;
  }
}

async function childrenOf(master: number): Promise<Set<number>> {
  const out = new Set<number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if ((await parentOf(pid)) === master) out.add(pid);
  }
  return out;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** The worker generation before a reload: taken after the new files are written, before the reload. */
export interface NginxGeneration {
  master: number;
  before: Set<number>;
}

export async function nginxGeneration(pidFile: string): Promise<NginxGeneration> {
  const master = Number((await readFile(pidFile, 'utf8')).trim());
  if (!Number.isInteger(master) || master <= 0) throw new Error(`${pidFile} holds no pid`);
  if ((await parentOf(master)) === null) throw new Error(`nginx master ${master} (from ${pidFile}) is not running`);
  return { master, before: await childrenOf(master) };
}

/** Waits until the master runs a worker started after the snapshot (the new files are live). */
export async function nginxConfirm(gen: NginxGeneration, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await childrenOf(gen.master);
    if ([...now].some((p) => !gen.before.has(p))) return true;
    if (Date.now() >= deadline || signal?.aborted) return false;
    await sleep(25, signal);
  }
}

/** Waits until every worker of the snapshot has exited (their requests ended), at most maxMs. */
export async function nginxDrain(gen: NginxGeneration, maxMs: number, signal?: AbortSignal): Promise<{ drained: boolean; ms: number }> {
  const started = Date.now();
  for (;;) {
    const alive = [];
    for (const p of gen.before) if ((await parentOf(p)) === gen.master) alive.push(p);
    if (alive.length === 0) return { drained: true, ms: Date.now() - started };
    if (Date.now() - started >= maxMs || signal?.aborted) return { drained: false, ms: Date.now() - started };
    await sleep(50, signal);
  }
}

/** Addresses in a live route file (comment lines skipped), as written by renderNginx(…, "live"). */
export function parseLive(content: string): { host: string; port: number }[] {
  const out = [];
  for (const raw of content.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(line);
    if (m) out.push({ host: (m[1] ?? m[2])!, port: Number(m[3]) });
  }
  return out;
}
