// Deployment fan-out benchmark: one release to 1,000 docker_host targets served by 20 `gantry agent run
// --noop` processes against one real `gantry server` (embedded PostgreSQL, or BENCH_DATABASE_URL).
// Reports total time, tasks/s, server time per task (the summed duration of the agent-protocol requests
// from /metrics, and the server process's CPU time from /proc) and how evenly the agents shared the work.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbedded } from '../src/store/embedded.js';

const TARGETS = Number(process.env.BENCH_TARGETS ?? 1000);
const AGENTS = Number(process.env.BENCH_AGENTS ?? 20);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'gantry.js');
const token = `gty_${randomBytes(32).toString('base64url')}`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const children: ChildProcess[] = [];
function gantry(args: string[], env: Record<string, string>): ChildProcess {
  const c = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, GANTRY_HOST: '127.0.0.1', GANTRY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  c.stderr?.on('data', () => {});
  children.push(c);
  return c;
}

async function call(base: string, method: string, url: string, body?: unknown) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json().catch(() => undefined)) as any; // any: arbitrary API answers
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100/s on Linux)
}

/** Sum and count of the agent-protocol task requests in the server's /metrics. */
async function taskRequestSeconds(base: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.includes('route="/api/v1/agents/:ref/tasks')) continue;
    const v = Number(line.split(' ').pop());
    if (line.startsWith('gantry_http_request_duration_seconds_sum')) sum += v;
    if (line.startsWith('gantry_http_request_duration_seconds_count')) count += v;
  }
  return { sum, count };
}

async function main(): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stopPg: (() => Promise<void>) | undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-deploy-'));
  const pgDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-deploy-pg-'));
  if (!adminUrl) {
    const store = await startEmbedded({ dataDir: pgDir, database: 'postgres' });
    adminUrl = store.connectionString;
    stopPg = store.stop;
  }
  const dbName = `gantry_bench_deploy_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  try {
    const server = gantry(['server'], {
      DATABASE_URL: u.toString(),
      GANTRY_BOOTSTRAP_TOKEN: token,
      GANTRY_PORT: String(port),
      GANTRY_DATA_DIR: path.join(dir, 'data'),
      GANTRY_AGENT_HEARTBEAT_SECONDS: '5',
      GANTRY_AGENT_POLL_SECONDS: '0.2',
    });
    for (let i = 0; ; i++) {
      if ((await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200) break;
      if (i > 300) throw new Error('server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    const env = await call(base, 'POST', '/api/v1/environments', { name: 'bench' });
    await call(base, 'POST', '/api/v1/components', { name: 'app', imageRepository: 'registry.example.com/bench/app' });
    const digest = `sha256:${'ab'.repeat(32)}`;
    const rel = await call(base, 'POST', '/api/v1/releases', { name: 'bench-1', components: [{ component: 'app', digest }] });
    await call(base, 'POST', `/api/v1/releases/${rel.id}/ready`);
    const t0 = Date.now();
    for (let i = 0; i < TARGETS; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, TARGETS - i) }, (_, k) =>
          call(base, 'POST', '/api/v1/targets', {
            name: `t${String(i + k).padStart(4, '0')}`,
            environmentId: env.id,
            targetType: 'docker_host',
            connection: { dockerHost: 'unix:///run/bench-none.sock' },
          }),
        ),
      );
    }
    const setupMs = Date.now() - t0;
    for (let i = 0; i < AGENTS; i++) {
      const t = await call(base, 'POST', '/api/v1/agents/tokens', {});
      gantry(
        [
          'agent',
          'run',
          '--server',
          base,
          '--join-token',
          t.token,
          '--name',
          `bench-${i}`,
          '--state-dir',
          path.join(dir, `agent-${i}`),
          '--executor',
          'docker_host',
          '--noop',
          '--concurrency',
          '16',
        ],
        {},
      );
    }
    for (let i = 0; ; i++) {
      const a = await call(base, 'GET', '/api/v1/agents?limit=500');
      if (a.items.filter((x: { status: string }) => x.status === 'online').length === AGENTS) break;
      if (i > 300) throw new Error('agents did not come online');
      await new Promise((r) => setTimeout(r, 200));
    }
    const cpu0 = await cpuSeconds(server.pid!);
    const req0 = await taskRequestSeconds(base);
    const start = Date.now();
    const job = await call(base, 'POST', '/api/v1/deployments', { releaseId: rel.id, environmentId: env.id });
    const createdMs = Date.now() - start;
    let done: any;
    for (;;) {
      done = await call(base, 'GET', `/api/v1/deployments/${job.id}`);
      if (['succeeded', 'failed', 'cancelled'].includes(done.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const totalMs = Date.now() - start;
    const cpu = (await cpuSeconds(server.pid!)) - cpu0;
    const req1 = await taskRequestSeconds(base);
    const perAgent = new Map<string, number>();
    for (const t of done.tasks as { agentId: string }[]) perAgent.set(t.agentId, (perAgent.get(t.agentId) ?? 0) + 1);
    const shares = [...perAgent.values()].sort((a, b) => a - b);
    console.log(
      `${TARGETS} targets, ${AGENTS} agent processes (noop executor, concurrency 16, poll 0.2 s); ${os.cpus().length} cores; ${new Date().toISOString()}`,
    );
    console.log(`setup: ${TARGETS} targets created through the API in ${(setupMs / 1000).toFixed(1)} s`);
    console.log('\n| measure | value |');
    console.log('|---|---|');
    console.log(`| job status | ${done.status} (${done.counts.succeeded ?? 0} of ${TARGETS} tasks succeeded) |`);
    console.log(`| job creation (1 job + ${TARGETS} tasks, one transaction) | ${createdMs} ms |`);
    console.log(`| total time, create → job succeeded | ${(totalMs / 1000).toFixed(2)} s |`);
    console.log(`| throughput | ${((TARGETS / totalMs) * 1000).toFixed(0)} tasks/s |`);
    console.log(
      `| server request time per task (lease + start + logs + report, summed) | ${(((req1.sum - req0.sum) / TARGETS) * 1000).toFixed(2)} ms over ${((req1.count - req0.count) / TARGETS).toFixed(1)} requests |`,
    );
    console.log(`| server CPU per task (process user+sys, includes heartbeats and polling) | ${((cpu / TARGETS) * 1000).toFixed(2)} ms |`);
    console.log(`| tasks per agent (min / max) | ${shares[0]} / ${shares[shares.length - 1]} over ${shares.length} agents |`);
    if (done.status !== 'succeeded') process.exitCode = 1;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await stopPg?.();
    await rm(dir, { recursive: true, force: true });
    await rm(pgDir, { recursive: true, force: true });
  }
}

await main();
