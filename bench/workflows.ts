// Benchmark: durable workflow step throughput on PostgreSQL, side by side with graphile-worker on the
// same server with the same concurrency, and pgbench's simple-update TPS (the durable-commit limit).
// Prints ratios; docs/benchmarks.md records them. Usage: npm run bench [-- --runs 10000 --dags 200 --concurrency 10]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Logger, makeWorkerUtils, run as runGraphile, type Task } from 'graphile-worker';
import pg from 'pg';
import { createLogger } from '../src/core/logger.js';
import { builtinRegistry, Engine } from '../src/engine/index.js';
import { createPool, withTenant } from '../src/store/db.js';
import { startEmbedded } from '../src/store/embedded.js';
import { migrate } from '../src/store/migrate.js';
import { bootstrap } from '../src/tenancy/service.js';
import { createTemplate, startRun } from '../src/workflows/service.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    dags: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '10' },
    'pgbench-seconds': { type: 'string', default: '10' },
  },
});
const RUNS = Number(args.runs);
const DAGS = Number(args.dags);
const CONCURRENCY = Number(args.concurrency);
const FANOUT = 18;
const quiet = new Logger(() => () => {}); // root + 18 parallel + join = 20 nodes

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function freshDb(adminUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return withDb(adminUrl, name);
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark did not finish in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Gantry -------------------------------------------------------------------------------

async function gantry(adminUrl: string, kind: 'single' | 'dag'): Promise<number> {
  const url = await freshDb(adminUrl, `bench_gantry_${kind}`);
  await migrate(url);
  const db = createPool(url, CONCURRENCY + 10);
  await bootstrap(db);
  const ids = (await db.query<{ tenant_id: string; user_id: string }>('SELECT tenant_id, user_id FROM role_bindings LIMIT 1')).rows[0]!;
  const registry = builtinRegistry();
  const body =
    kind === 'single'
      ? { name: 'one', nodes: [{ id: 'a', type: 'noop' }], edges: [], inputs: {}, outputs: {} }
      : {
          name: 'dag',
          nodes: [
            { id: 'root', type: 'noop' },
            ...Array.from({ length: FANOUT }, (_, i) => ({ id: `m${i}`, type: 'noop' })),
            { id: 'join', type: 'noop' },
          ],
          edges: Array.from({ length: FANOUT }, (_, i) => [
            { from: 'root', to: `m${i}` },
            { from: `m${i}`, to: 'join' },
          ]).flat(),
          inputs: {},
          outputs: {},
        };
  await withTenant(db, ids.tenant_id, (tx) => createTemplate(tx, ids.tenant_id, ids.user_id, body, registry.has));
  const runs = kind === 'single' ? RUNS : DAGS;
  for (let i = 0; i < runs; i += 500) {
    await withTenant(db, ids.tenant_id, async (tx) => {
      for (let j = i; j < Math.min(runs, i + 500); j++) await startRun(tx, ids.tenant_id, ids.user_id, { template: body.name, inputs: {} });
    });
  }
  const steps = kind === 'single' ? runs : runs * (FANOUT + 2);
  const engine = new Engine({ db, connectionString: url, registry, logger: createLogger('warn'), concurrency: CONCURRENCY, pollMs: 200 });
  // Counted in memory from the engine's events, as graphile-worker's side is (no polling load on the server).
  let finished = 0;
  engine.events.on('run:finished', (f) => {
    if (f.status === 'succeeded') finished++;
  });
  const t0 = performance.now();
  await engine.start();
  await waitUntil(async () => finished >= runs);
  const seconds = (performance.now() - t0) / 1000;
  await engine.stop();
  const check = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM workflow_runs WHERE status = 'succeeded'`);
  if (check.rows[0]!.n !== runs) throw new Error(`only ${check.rows[0]!.n} of ${runs} runs succeeded`);
  await db.end();
  return steps / seconds;
}

// graphile-worker ---------------------------------------------------------------------------

async function graphile(adminUrl: string, kind: 'single' | 'dag'): Promise<number> {
  const url = await freshDb(adminUrl, `bench_graphile_${kind}`);
  const utils = await makeWorkerUtils({ connectionString: url, logger: quiet });
  await utils.migrate();
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_join (run int PRIMARY KEY, remaining int NOT NULL)');
  const runs = kind === 'single' ? RUNS : DAGS;
  const steps = kind === 'single' ? runs : runs * (FANOUT + 2);
  let done = 0;
  // The DAG emulated with jobs: the root queues the 18 middle jobs; the last middle job to finish queues the join.
  const taskList: Record<string, Task> = {
    noop: async () => {},
    root: async (payload, helpers) => {
      const { run } = payload as { run: number };
      await helpers.query('INSERT INTO bench_join (run, remaining) VALUES ($1, $2)', [run, FANOUT]);
      await helpers.addJobs(Array.from({ length: FANOUT }, () => ({ identifier: 'mid', payload: { run } })));
    },
    mid: async (payload, helpers) => {
      const { run } = payload as { run: number };
      const r = await helpers.query<{ remaining: number }>(
        'UPDATE bench_join SET remaining = remaining - 1 WHERE run = $1 RETURNING remaining',
        [run],
      );
      if (r.rows[0]?.remaining === 0) await helpers.addJob('join', { run });
    },
    join: async () => {},
  };
  for (let i = 0; i < runs; i += 1000) {
    const n = Math.min(1000, runs - i);
    await utils.addJobs(
      Array.from({ length: n }, (_, j) => ({ identifier: kind === 'single' ? 'noop' : 'root', payload: { run: i + j } })),
    );
  }
  const t0 = performance.now();
  const runner = await runGraphile({
    connectionString: url,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    pollInterval: 200,
    taskList,
    logger: quiet,
  });
  runner.events.on('job:success', () => {
    done++;
  });
  await waitUntil(async () => done >= steps);
  const seconds = (performance.now() - t0) / 1000;
  await runner.stop();
  await utils.release();
  await pool.end();
  return steps / seconds;
}

// pgbench -------------------------------------------------------------------------------------

function pgbenchBinary(): string {
  for (const p of ['/usr/lib/postgresql/15/bin/pgbench', '/usr/lib/postgresql/16/bin/pgbench', '/usr/bin/pgbench'])
    if (existsSync(p)) return p;
  throw new Error('pgbench not found: install postgresql-15 (apt-get install -y postgresql-15)');
}

async function pgbench(adminUrl: string): Promise<number> {
  const url = await freshDb(adminUrl, 'bench_pgbench');
  const bin = pgbenchBinary();
  execFileSync(bin, ['-i', '-s', '1', '-q', url], { stdio: 'ignore' });
  const out = execFileSync(bin, ['-N', '-c', String(CONCURRENCY), '-j', '2', '-T', args['pgbench-seconds'] ?? '10', url], {
    encoding: 'utf8',
  });
  const m = out.match(/tps = ([\d.]+)/);
  if (!m?.[1]) throw new Error(`could not read pgbench output:\n${out}`);
  return Number(m[1]);
}

// main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!adminUrl) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-'));
    const store = await startEmbedded({ dataDir: dir, database: 'postgres' });
    adminUrl = store.connectionString;
    stop = store.stop;
  }
  try {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    const version = (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v.split(' on ')[0];
    await c.end();
    console.log(`PostgreSQL: ${version}; concurrency ${CONCURRENCY}; ${os.cpus().length} cores; ${new Date().toISOString()}`);
    const tps = await pgbench(adminUrl);
    console.log(`pgbench simple-update (-N, ${CONCURRENCY} clients): ${tps.toFixed(0)} tps`);
    const rows: [string, number, number][] = [];
    for (const kind of ['single', 'dag'] as const) {
      // Alternate the order so neither side always runs on a warmer server.
      const g = await graphile(adminUrl, kind);
      const ours = await gantry(adminUrl, kind);
      rows.push([kind === 'single' ? `${RUNS} one-step noop runs` : `${DAGS} runs of a 20-node fan-out/fan-in DAG`, ours, g]);
    }
    console.log('\n| workload | gantry steps/s | graphile-worker jobs/s | gantry / graphile | gantry / pgbench tps |');
    console.log('|---|---|---|---|---|');
    for (const [name, ours, g] of rows) {
      console.log(`| ${name} | ${ours.toFixed(0)} | ${g.toFixed(0)} | ${(ours / g).toFixed(2)} | ${(ours / tps).toFixed(2)} |`);
    }
  } finally {
    await stop?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

await main();
