// Deployment fan-out benchmark: one release to N docker_host targets served by M `gantry agent run
// --noop` processes against one real `gantry server` (embedded PostgreSQL, or BENCH_DATABASE_URL), each started
// through bin/gantry.js itself (its shebang's node options, as an installed `gantry` runs).
// Reports total time, tasks/s, server time per task (the summed duration of the agent-protocol requests
// from /metrics, and the server process's CPU time from /proc), the largest resident memory of the server
// and of any agent during the fan-out (VmRSS sampled from /proc), and how evenly the agents shared the work.
// Options: --targets N --agents M (default 1,000 / 20, or BENCH_TARGETS / BENCH_AGENTS); --curve runs
// 1,000/20, 2,500/50 and 5,000/100; --reference adds a 1,000/20 run of agents speaking the first protocol
// (polling every 0.2 s, one request per start, log batch and report: GANTRY_AGENT_PROTOCOL=1).
// The job's end is awaited by polling the job list every 100 ms (BENCH_POLL=job: the whole job, with its tasks).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbedded } from '../src/store/embedded.js';
import { goal } from './lib/goals.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const CURVE = argv.includes('--curve');
const REFERENCE = argv.includes('--reference');
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'gantry.js');
const token = `gty_${randomBytes(32).toString('base64url')}`;

interface Size {
  targets: number;
  agents: number;
  /** Agents speak the first protocol (the reference). */
  firstProtocol?: boolean;
}

interface Result extends Size {
  status: string;
  totalMs: number;
  cpuPerTaskMs: number;
  requestsPerTask: number;
  requestMsPerTask: number;
  serverRssMb: number;
  agentRssMb: number;
  agentsSampled: number;
  shares: number[];
  createdMs: number;
  load: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

let children: ChildProcess[] = [];
function gantry(args: string[], env: Record<string, string>): ChildProcess {
  const c = spawn(BIN, args, {
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

/** Resident memory (VmRSS) of a process in MB, or 0 when it is gone. */
async function rssMb(pid: number): Promise<number> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

async function run(size: Size): Promise<Result> {
  const { targets: TARGETS, agents: AGENTS } = size;
  children = [];
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
        size.firstProtocol ? { GANTRY_AGENT_PROTOCOL: '1' } : {},
      );
    }
    for (let i = 0; ; i++) {
      const a = await call(base, 'GET', '/api/v1/agents?limit=500');
      if (i > 0 && i % 50 === 0)
        console.log(`  ${a.items.filter((x: { status: string }) => x.status === 'online').length} of ${AGENTS} agents online`);
      if (a.items.filter((x: { status: string }) => x.status === 'online').length === AGENTS) break;
      if (i > 1500) throw new Error('agents did not come online');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Resident memory, sampled every 250 ms during the fan-out: the server's largest, and the largest of any agent.
    let serverRss = 0;
    const agentRss = new Map<number, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        serverRss = Math.max(serverRss, await rssMb(server.pid!));
        for (const c of children.slice(1)) agentRss.set(c.pid!, Math.max(agentRss.get(c.pid!) ?? 0, await rssMb(c.pid!)));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const cpu0 = await cpuSeconds(server.pid!);
    const req0 = await taskRequestSeconds(base);
    const start = Date.now();
    const job = await call(base, 'POST', '/api/v1/deployments', { releaseId: rel.id, environmentId: env.id });
    const createdMs = Date.now() - start;
    // Polled through the job list (status and counts, no tasks): reading the whole job every 100 ms would
    // add the server's work of answering 1,000–5,000 tasks ten times a second to what is measured.
    // BENCH_POLL=job polls the whole job instead, as the earlier recorded runs did.
    const pollWhole = process.env.BENCH_POLL === 'job';
    for (;;) {
      const polled = pollWhole
        ? await call(base, 'GET', `/api/v1/deployments/${job.id}`)
        : (await call(base, 'GET', '/api/v1/deployments?limit=1')).items.find((x: { id: string }) => x.id === job.id);
      if (['succeeded', 'failed', 'cancelled'].includes(polled?.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const totalMs = Date.now() - start;
    const cpu = (await cpuSeconds(server.pid!)) - cpu0;
    const req1 = await taskRequestSeconds(base);
    sampling = false;
    await sampler;
    // any: an arbitrary API answer
    const done: any = await call(base, 'GET', `/api/v1/deployments/${job.id}`);
    const load = loadavg();
    const perAgent = new Map<string, number>();
    for (const t of done.tasks as { agentId: string }[]) perAgent.set(t.agentId, (perAgent.get(t.agentId) ?? 0) + 1);
    const shares = [...perAgent.values()].sort((a, b) => a - b);
    const agentRssMb = Math.max(0, ...agentRss.values());
    const result: Result = {
      ...size,
      status: done.status,
      totalMs,
      cpuPerTaskMs: (cpu / TARGETS) * 1000,
      requestsPerTask: (req1.count - req0.count) / TARGETS,
      requestMsPerTask: ((req1.sum - req0.sum) / TARGETS) * 1000,
      serverRssMb: serverRss,
      agentRssMb,
      agentsSampled: [...agentRss.values()].filter((x) => x > 0).length,
      shares,
      createdMs,
      load,
    };
    const protocol = size.firstProtocol
      ? 'first protocol: poll 0.2 s, one request per start, log batch and report'
      : 'long poll, batched starts and reports';
    console.log(
      `\n${TARGETS} targets, ${AGENTS} agent processes (noop executor, concurrency 16, ${protocol}); ${os.cpus().length} cores; load ${load}; ${new Date().toISOString()}`,
    );
    console.log(`setup: ${TARGETS} targets created through the API in ${(setupMs / 1000).toFixed(1)} s`);
    console.log('\n| measure | value |');
    console.log('|---|---|');
    console.log(`| job status | ${done.status} (${done.counts.succeeded ?? 0} of ${TARGETS} tasks succeeded) |`);
    console.log(`| job creation (1 job + ${TARGETS} tasks, one transaction) | ${createdMs} ms |`);
    console.log(`| total time, create → job succeeded | ${(totalMs / 1000).toFixed(2)} s |`);
    console.log(`| throughput | ${((TARGETS / totalMs) * 1000).toFixed(0)} tasks/s |`);
    console.log(
      `| server request time per task (task requests, summed) | ${result.requestMsPerTask.toFixed(2)} ms over ${result.requestsPerTask.toFixed(2)} requests |`,
    );
    console.log(`| server CPU per task (process user+sys, includes heartbeats and waiting) | ${result.cpuPerTaskMs.toFixed(2)} ms |`);
    console.log(`| server RSS, max during the fan-out | ${serverRss.toFixed(0)} MB |`);
    console.log(
      `| agent RSS, max of any agent during the fan-out | ${agentRssMb.toFixed(0)} MB (${result.agentsSampled} agents sampled) |`,
    );
    console.log(`| tasks per agent (min / max) | ${shares[0]} / ${shares[shares.length - 1]} over ${shares.length} agents |`);
    if (done.status !== 'succeeded') process.exitCode = 1;
    return result;
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

async function main(): Promise<void> {
  const one: Size = {
    targets: Number(opt('targets') ?? process.env.BENCH_TARGETS ?? 1000),
    agents: Number(opt('agents') ?? process.env.BENCH_AGENTS ?? 20),
  };
  const sizes: Size[] = CURVE
    ? [
        { targets: 1000, agents: 20 },
        { targets: 2500, agents: 50 },
        { targets: 5000, agents: 100 },
      ]
    : [one];
  if (REFERENCE) sizes.unshift({ targets: 1000, agents: 20, firstProtocol: true });
  const results: Result[] = [];
  for (const size of sizes) {
    try {
      results.push(await run(size));
    } catch (err) {
      // One size that could not finish (e.g. a server starved on a shared machine) leaves the others' figures standing.
      console.log(`\n${size.targets} targets / ${size.agents} agents: not measured (${(err as Error).message}; load ${loadavg()})`);
      process.exitCode = 1;
    }
  }
  console.log('\n| run | total | tasks/s | server CPU per task | requests per task | server RSS max | agent RSS max | load (1/5/15 min) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.targets} targets / ${r.agents} agents${r.firstProtocol ? ' (first protocol)' : ''} | ${(r.totalMs / 1000).toFixed(2)} s | ${((r.targets / r.totalMs) * 1000).toFixed(0)} | ${r.cpuPerTaskMs.toFixed(2)} ms | ${r.requestsPerTask.toFixed(2)} | ${r.serverRssMb.toFixed(0)} MB | ${r.agentRssMb.toFixed(0)} MB | ${r.load} |`,
    );
  }
  const k1 = results.find((r) => r.targets === 1000 && !r.firstProtocol);
  const k5 = results.find((r) => r.targets === 5000 && !r.firstProtocol);
  const ref = results.find((r) => r.firstProtocol);
  if (k1) {
    goal({
      bench: 'deployments',
      goal: '1,000 targets / 20 agents: total, create → succeeded',
      figure: `${(k1.totalMs / 1000).toFixed(2)} s`,
      reference: `≤ 10 s (load ${k1.load}${ref ? `; first protocol this run: ${(ref.totalMs / 1000).toFixed(2)} s` : ''})`,
      pass: k1.status === 'succeeded' && k1.totalMs <= 10_000,
    });
    goal({
      bench: 'deployments',
      goal: '1,000 targets / 20 agents: server CPU per task',
      figure: `${k1.cpuPerTaskMs.toFixed(2)} ms`,
      reference: `≤ 2 ms${ref ? ` (first protocol this run: ${ref.cpuPerTaskMs.toFixed(2)} ms, ${(k1.cpuPerTaskMs / ref.cpuPerTaskMs).toFixed(2)}×)` : ''}`,
      pass: k1.cpuPerTaskMs <= 2,
    });
  }
  if (k5) {
    if (k1)
      goal({
        bench: 'deployments',
        goal: '5,000 targets / 100 agents: server CPU per task vs 1,000 / 20',
        figure: `${(k5.cpuPerTaskMs / k1.cpuPerTaskMs).toFixed(2)}× (${k5.cpuPerTaskMs.toFixed(2)} ms)`,
        reference: `≤ 1.5× (${k1.cpuPerTaskMs.toFixed(2)} ms this run)`,
        pass: k5.status === 'succeeded' && k5.cpuPerTaskMs <= 1.5 * k1.cpuPerTaskMs,
      });
    goal({
      bench: 'deployments',
      goal: 'server RSS during the 5,000-target fan-out (max)',
      figure: `${k5.serverRssMb.toFixed(0)} MB`,
      reference: '≤ 250 MB',
      pass: k5.serverRssMb <= 250,
    });
  }
  const largest = results.filter((r) => !r.firstProtocol).at(-1);
  if (largest)
    goal({
      bench: 'deployments',
      goal: `agent RSS (max of ${largest.agentsSampled} agents, ${largest.targets}-target fan-out)`,
      figure: `${largest.agentRssMb.toFixed(0)} MB`,
      reference: `≤ 60 MB (${process.env.GANTRY_FROM_SOURCE || !existsSync(path.join(ROOT, 'dist', 'main.js')) ? 'agents run from source through tsx' : 'agents run the built dist/'})`,
      pass: largest.agentRssMb <= 60,
    });
}

await main();
