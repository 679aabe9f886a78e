// Start-up, CLI speed and idle memory of the built project (dist/, started through bin/gantry.js itself with
// its shebang's node options, as an installed `gantry` runs): `gantry server` on an existing data directory (embedded PostgreSQL included) from spawn until
// /healthz answers; `gantry env list` against it from spawn to exit, beside `node -e 0` (the floor of any
// Node CLI) in the same run; the server's and an idle agent's resident memory (VmRSS of the Node process).
// The server's info log splits each start into phases: until the embedded PostgreSQL is ready (Node, the
// server's modules and PostgreSQL's own start, the `ms` of its log line, which `gantry server` overlaps),
// migrations, the rest of the set-up, and listening.
//
// npm run bench -- startup [--runs 5] [--cli-runs 20] [--idle-seconds 10] [--no-build]
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { goal } from './lib/goals.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'gantry.js');
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt('runs', 5);
const CLI_RUNS = opt('cli-runs', 20);
const IDLE_S = opt('idle-seconds', 10);

const GOAL_START_MS = 3000;
const GOAL_CLI_MS = 300;
const GOAL_SERVER_MB = 100;
const GOAL_AGENT_MB = 60;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

// The children run the built code: no GANTRY_FROM_SOURCE, no configuration of the caller's.
const { GANTRY_FROM_SOURCE: _fromSource, ...baseEnv } = process.env;

interface Proc {
  child: ChildProcess;
  spawnedAt: number;
  lines: string[];
  exited: Promise<number | null>;
}

function gantry(argv: string[], env: Record<string, string>): Proc {
  const spawnedAt = Date.now();
  const child = spawn(BIN, argv, { cwd: ROOT, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // The server logs (JSON lines) on stdout; the agent and start-up messages go to stderr.
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
  }
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, spawnedAt, lines, exited };
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  p.child.kill('SIGTERM');
  const code = await Promise.race([p.exited, sleep(30_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') {
    p.child.kill('SIGKILL');
    throw new Error('the server did not stop within 30 s of SIGTERM');
  }
}

/** Milliseconds from spawn until /healthz answers 200, polled every 10 ms. */
async function untilHealthy(p: Proc, base: string, timeoutMs = 120_000): Promise<number> {
  for (;;) {
    const ok = await fetch(`${base}/healthz`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) return Date.now() - p.spawnedAt;
    if (p.child.exitCode !== null) throw new Error(`server exited (${p.child.exitCode}): ${p.lines.slice(-5).join('\n')}`);
    if (Date.now() - p.spawnedAt > timeoutMs) throw new Error('server did not answer /healthz');
    await sleep(10);
  }
}

/** VmRSS and VmHWM (peak) of a process, in MB. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(status.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

interface Phases {
  /** Spawn → the embedded PostgreSQL is ready and the server's modules are loaded (the two may overlap). */
  load: number;
  /** The embedded PostgreSQL's start (startEmbedded, as the server logs it), part of `load`. */
  pg: number;
  /** Migrations (nothing pending). */
  migrate: number;
  /** Migrated → listening: bootstrap, keys, the Fastify app and its routes, engine and schedulers. */
  setup: number;
  /** Listening → first /healthz 200. */
  answer: number;
}

function phases(p: Proc, healthyMs: number): Phases | undefined {
  const at = (msg: string) => {
    for (const l of p.lines) {
      if (!l.startsWith('{')) continue;
      const j = JSON.parse(l) as { msg?: string; time?: number; ms?: number };
      if (j.msg === msg) return j;
    }
    return undefined;
  };
  const pg = at('embedded PostgreSQL started');
  const migrated = at('database migrated');
  const listening = at('gantry server listening');
  if (!pg?.time || pg.ms === undefined || !migrated?.time || !listening?.time) return undefined;
  const t = (x: number) => x - p.spawnedAt;
  return {
    load: t(pg.time),
    pg: pg.ms,
    migrate: migrated.time - pg.time,
    setup: listening.time - migrated.time,
    answer: healthyMs - t(listening.time),
  };
}

/** Wall time of a command from spawn to exit, in ms. */
function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

async function main(): Promise<void> {
  if (!args.includes('--no-build')) {
    process.stdout.write('building the server and CLI (tsc + assets; --no-build skips)…\n');
    const b = spawnSync('npx tsc -p tsconfig.json && node scripts/copy-assets.mjs', { cwd: ROOT, shell: true, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('build failed');
  }
  if (!existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run npm run build');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-startup-'));
  // As root the embedded PostgreSQL runs as the unprivileged postgres user, which must traverse it.
  await chmod(dir, 0o711);
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serverEnv = { GANTRY_HOST: '127.0.0.1', GANTRY_PORT: String(port), GANTRY_LOG_LEVEL: 'info', HOME: dir };
  const serverArgs = ['server', '--data-dir', dataDir];
  const procs: Proc[] = [];
  try {
    console.log(`${os.cpus().length} cores; ${new Date().toISOString()}; load average ${load()}`);
    // First start creates the data directory (initdb, all migrations, bootstrap): not timed.
    const first = gantry(serverArgs, serverEnv);
    procs.push(first);
    const firstMs = await untilHealthy(first, base, 300_000);
    const token = (await readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim();
    await stop(first);
    console.log(`first start (creates the data directory, not a goal): ${firstMs} ms`);

    const starts: number[] = [];
    const split: Phases[] = [];
    let server: Proc | undefined;
    for (let i = 0; i < RUNS; i++) {
      server = gantry(serverArgs, serverEnv);
      procs.push(server);
      const ms = await untilHealthy(server, base);
      starts.push(ms);
      const ph = phases(server, ms);
      if (ph) split.push(ph);
      if (i < RUNS - 1) await stop(server);
    }
    if (!server?.child.pid) throw new Error('no server');
    const loadStart = load();

    // Idle memory of the last server, before anything else talks to it.
    await sleep(IDLE_S * 1000);
    const serverMem = await memory(server.child.pid);
    const loadMem = load();

    // CLI: `gantry env list` against the running server, alternating with `node -e 0`.
    const cliEnv = {
      ...baseEnv,
      HOME: dir,
      GANTRY_CONFIG: path.join(dir, 'cli.json'),
      GANTRY_SERVER: base,
      GANTRY_TOKEN: token,
      NO_COLOR: '1',
    };
    timed(BIN, ['env', 'list'], cliEnv); // warm the file cache
    const cli: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < CLI_RUNS; i++) {
      floor.push(timed(process.execPath, ['-e', '0'], cliEnv));
      cli.push(timed(BIN, ['env', 'list'], cliEnv));
    }
    const loadCli = load();

    // An agent: registered with a join token, then polling with nothing to do.
    // A new connection (the pooled ones may have timed out while the CLI runs blocked this process).
    const joinRes = await fetch(`${base}/api/v1/agents/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    }).catch(() =>
      fetch(`${base}/api/v1/agents/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      }),
    );
    if (!joinRes.ok) throw new Error(`join token: ${joinRes.status}`);
    const join = (await joinRes.json()) as { token: string };
    const agent = gantry(
      [
        'agent',
        'run',
        '--server',
        base,
        '--join-token',
        join.token,
        '--name',
        'bench-idle',
        '--state-dir',
        path.join(dir, 'agent'),
        '--executor',
        'docker_host',
        '--noop',
      ],
      { HOME: dir },
    );
    procs.push(agent);
    for (let i = 0; ; i++) {
      if (agent.lines.some((l) => l.includes('running against'))) break;
      if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.lines.join('\n')}`);
      if (i > 600) throw new Error('agent did not start');
      await sleep(100);
    }
    await sleep(IDLE_S * 1000);
    const agentMem = await memory(agent.child.pid!);
    const serverAfter = await memory(server.child.pid);
    const loadAgent = load();

    const f = (x: number) => x.toFixed(0);
    console.log(`\n| measure | median | max / p95 | runs | load average (1, 5, 15 min) |`);
    console.log('|---|---|---|---|---|');
    console.log(
      `| server start, existing data dir: spawn → /healthz 200 | ${f(median(starts))} ms | max ${f(Math.max(...starts))} ms | ${starts.join(', ')} | ${loadStart} |`,
    );
    if (split.length) {
      const row = (name: string, k: keyof Phases) =>
        console.log(
          `| … ${name} | ${f(median(split.map((s) => s[k])))} ms | max ${f(Math.max(...split.map((s) => s[k])))} ms | ${split.map((s) => f(s[k])).join(', ')} | |`,
        );
      row('spawn → server modules loaded and embedded PostgreSQL ready', 'load');
      row('… of which the embedded PostgreSQL start', 'pg');
      row('migrations (none pending)', 'migrate');
      row('bootstrap, keys, app, engine, schedulers → listening', 'setup');
      row('listening → /healthz answered', 'answer');
    }
    console.log(`| \`gantry env list\` (spawn → exit) | ${f(median(cli))} ms | p95 ${f(pct(cli, 95))} ms | ${CLI_RUNS} | ${loadCli} |`);
    console.log(`| \`node -e 0\` (same run, the floor) | ${f(median(floor))} ms | p95 ${f(pct(floor, 95))} ms | ${CLI_RUNS} | |`);
    console.log(
      `| server VmRSS, idle ${IDLE_S} s after start | ${serverMem.rss.toFixed(1)} MB | peak ${serverMem.peak.toFixed(1)} MB | 1 | ${loadMem} |`,
    );
    console.log(
      `| server VmRSS with one agent polling | ${serverAfter.rss.toFixed(1)} MB | peak ${serverAfter.peak.toFixed(1)} MB | 1 | |`,
    );
    console.log(
      `| agent VmRSS (--noop), idle polling ${IDLE_S} s | ${agentMem.rss.toFixed(1)} MB | peak ${agentMem.peak.toFixed(1)} MB | 1 | ${loadAgent} |`,
    );
    console.log('');

    goal({
      bench: 'startup',
      goal: 'server start on an existing data dir (spawn → /healthz 200, embedded PostgreSQL included), median',
      figure: `${f(median(starts))} ms (max ${f(Math.max(...starts))} ms; load ${loadStart})`,
      reference: `≤ ${GOAL_START_MS} ms`,
      pass: median(starts) <= GOAL_START_MS,
    });
    goal({
      bench: 'startup',
      goal: '`gantry env list` against a running server (spawn → exit), median',
      figure: `${f(median(cli))} ms (p95 ${f(pct(cli, 95))} ms; \`node -e 0\` ${f(median(floor))} ms; load ${loadCli})`,
      reference: `≤ ${GOAL_CLI_MS} ms`,
      pass: median(cli) <= GOAL_CLI_MS,
    });
    goal({
      bench: 'startup',
      goal: `server VmRSS idle ${IDLE_S} s after start (Node process only)`,
      figure: `${serverMem.rss.toFixed(1)} MB (load ${loadMem})`,
      reference: `≤ ${GOAL_SERVER_MB} MB`,
      pass: serverMem.rss <= GOAL_SERVER_MB,
    });
    goal({
      bench: 'startup',
      goal: `agent VmRSS (--noop), idle polling ${IDLE_S} s`,
      figure: `${agentMem.rss.toFixed(1)} MB (load ${loadAgent})`,
      reference: `≤ ${GOAL_AGENT_MB} MB`,
      pass: agentMem.rss <= GOAL_AGENT_MB,
    });
  } finally {
    for (const p of procs.reverse()) await stop(p).catch(() => p.child.kill('SIGKILL'));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
