// Real proxies for the traffic router tests: nginx with Gantry's njs split module and HAProxy in
// master-worker mode with its runtime socket, each in a temp dir on a free port as the current user, in
// front of Node HTTP servers that answer their variation's name; and an HTTP client that keeps its
// connections alive and counts what answered.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { haproxyCommand } from '../../src/agent/traffic/haproxy-runtime.js';
import { NGINX, NJS_MODULE } from './load-support.js';
import { freePort, REPO_ROOT } from './support.js';

const execFileP = promisify(execFile);
export const HAPROXY = '/usr/sbin/haproxy';
export const GANTRY_SPLIT_JS = path.join(REPO_ROOT, 'share', 'nginx', 'gantry-split.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tool's files present; under CI=true a missing one is an error, elsewhere the tests skip with this message. */
export function toolMissing(files: string[], install: string): string | undefined {
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length === 0) return undefined;
  const msg = `the traffic router tests need ${missing.join(' and ')} (${install})`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return msg;
}

export interface Backend {
  variation: string;
  port: number;
  server: http.Server;
}

/** An HTTP server answering `<variation>\n`. */
export async function backend(variation: string): Promise<Backend> {
  const server = http.createServer((_req, res) => res.end(`${variation}\n`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { variation, port: (server.address() as AddressInfo).port, server };
}

export interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export function get(url: string, opts: { agent?: http.Agent; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: opts.agent ?? false, headers: opts.headers ?? {}, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** `n` requests over `clients` keep-alive connections; answers counted by body ("!<status>" when not 200). */
export async function tally(url: string, n: number, headers: Record<string, string> = {}, clients = 20): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  let left = n;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      while (left > 0) {
        left--;
        const a = await get(url, { agent, headers });
        const k = a.status === 200 ? a.body : `!${a.status}`;
        seen[k] = (seen[k] ?? 0) + 1;
      }
      agent.destroy();
    }),
  );
  return seen;
}

/** Keep-alive clients requesting back to back until stop(): every answer by body, every failure kept. */
export function keepAliveLoad(url: string, clients = 8) {
  let stopped = false;
  const seen: Record<string, number> = {};
  const failures: string[] = [];
  let requests = 0;
  const loops = Array.from({ length: clients }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (!stopped) {
      requests++;
      try {
        const a = await get(url, { agent });
        if (a.status === 200) seen[a.body] = (seen[a.body] ?? 0) + 1;
        else failures.push(`${a.status} ${a.body}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    agent.destroy();
  });
  return {
    snapshot: () => ({ ...seen }),
    failureCount: () => failures.length,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return { requests, seen, failures };
    },
  };
}

/** The pids whose parent is `parent` (a proxy's workers). */
export async function childPids(parent: number): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) out.push(Number(e));
  }
  return out.sort((a, b) => a - b);
}

export interface SplitNginx {
  url: string;
  dir: string;
  /** The split file gantry-split.js reads (the router's path). */
  splitFile: string;
  pidFile: string;
  validateCommand: string[];
  workers(): Promise<number[]>;
  stop(): Promise<void>;
}

/** nginx whose location / proxies by gantry-split.js, as the module's header comment shows an operator. */
export async function startSplitNginx(): Promise<SplitNginx> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-split-nginx-'));
  await chmod(dir, 0o755); // the workers read the split file
  await mkdir(path.join(dir, 'tmp'));
  const conf = path.join(dir, 'nginx.conf');
  const pidFile = path.join(dir, 'nginx.pid');
  const splitFile = path.join(dir, 'web.split.json');
  const port = await freePort();
  const tmp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${dir}/tmp/${k};`).join(' ');
  await writeFile(
    conf,
    `load_module ${NJS_MODULE};\npid ${pidFile};\nerror_log ${dir}/error.log warn;\nworker_processes 2;\nevents { worker_connections 1024; }\n` +
      `http {\n  ${tmp}\n  log_format split '$status $gantry_variation $upstream_addr';\n  access_log ${dir}/access.log split;\n` +
      `  keepalive_requests 100000;\n  js_import gantry_split from ${GANTRY_SPLIT_JS};\n  js_set $gantry_split_backend gantry_split.backend;\n` +
      '  js_set $gantry_variation gantry_split.variation;\n  js_set $gantry_split_cookie gantry_split.cookie;\n  js_var $gantry_split_choice;\n' +
      `  server {\n    listen 127.0.0.1:${port};\n    location / {\n      set $gantry_split ${splitFile};\n` +
      '      proxy_pass http://$gantry_split_backend;\n      proxy_next_upstream off;\n' +
      '      add_header X-Gantry-Variation $gantry_variation always;\n      add_header Set-Cookie $gantry_split_cookie;\n    }\n  }\n}\n',
  );
  const ctl = (...args: string[]) => [NGINX, '-p', dir, '-c', conf, ...args];
  return {
    url: `http://127.0.0.1:${port}/`,
    dir,
    splitFile,
    pidFile,
    validateCommand: ctl('-t', '-q'),
    async workers() {
      return childPids(Number((await readFile(pidFile, 'utf8')).trim()));
    },
    async stop() {
      const [c, ...a] = ctl('-s', 'stop');
      await execFileP(c!, a).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts the nginx of startSplitNginx once its split file is in place. */
export async function runSplitNginx(n: SplitNginx): Promise<void> {
  await execFileP(NGINX, ['-p', n.dir, '-c', path.join(n.dir, 'nginx.conf')]); // daemonizes
}

export interface TestHaproxy {
  url: string;
  dir: string;
  /** The file Gantry renders (the router's path), loaded after main.cfg. */
  routeFile: string;
  socket: string;
  validateCommand: string[];
  /** The master (started here, in the foreground) and its worker. */
  master(): number;
  worker(): Promise<number>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** HAProxy in master-worker mode (-W -db): the operator's part (global, socket, frontend) in main.cfg. */
export async function prepareHaproxy(route: string, extra = ''): Promise<TestHaproxy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-haproxy-'));
  const port = await freePort();
  const socket = path.join(dir, 'admin.sock');
  const main = path.join(dir, 'main.cfg');
  const routeFile = path.join(dir, `gantry-${route}.cfg`);
  await writeFile(
    main,
    `global\n  stats socket ${socket} mode 600 level admin\n` +
      'defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  timeout http-keep-alive 30s\n' +
      `frontend fe\n  bind 127.0.0.1:${port}\n  default_backend gantry_${route}\n${extra}`,
  );
  let proc: ChildProcess | undefined;
  let stderr = '';
  const h: TestHaproxy = {
    url: `http://127.0.0.1:${port}/`,
    dir,
    routeFile,
    socket,
    validateCommand: [HAPROXY, '-c', '-f', main, '-f', routeFile],
    master: () => proc!.pid!,
    async worker() {
      const w = await childPids(proc!.pid!);
      if (w.length !== 1) throw new Error(`haproxy master ${proc!.pid} has ${w.length} workers`);
      return w[0]!;
    },
    async start() {
      proc = spawn(HAPROXY, ['-W', '-db', '-f', main, '-f', routeFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr!.on('data', (d) => {
        stderr += d;
      });
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`haproxy exited ${proc.exitCode}: ${stderr}`);
        const up = await haproxyCommand(socket, 'show info', 500).then(
          (a) => a.includes('Pid:'),
          () => false,
        );
        if (up && (await childPids(proc.pid!)).length === 1) return;
        if (Date.now() > deadline) throw new Error(`haproxy did not answer on ${socket} within 10 s: ${stderr}`);
        await sleep(50);
      }
    },
    async stop() {
      if (proc && proc.exitCode === null) {
        const exited = new Promise((r) => proc!.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}
