// Benchmark: durable workflow step throughput on PostgreSQL, side by side with graphile-worker on the
// same server with the same concurrency, and pgbench's simple-update TPS (the durable-commit limit).
// Prints ratios and checks the engine's goals (goal()): one-step runs ≥ 1.0× graphile-worker in every one of
// --repeat consecutive runs, the DAG ≥ 2.0×, one-step dispatch ≥ 0.5× pgbench's TPS. Beside each figure:
// commits and WAL flushes per step (pg_stat_database, pg_stat_wal) and the load average.
// Usage: npm run bench -- workflows [--runs 10000 --dags 200 --concurrency 10 --repeat 3]
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
import { goal } from './lib/goals.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    dags: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '10' },
    'pgbench-seconds': { type: 'string', default: '10' },
    repeat: { type: 'string', default: '3' },
  },
});
const REPEAT = Number(args.repeat);
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

// Statements sent, counted on pg's Client (both engines use this pg module): round trips per step.
let statements = 0;
const clientQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
  statements++;
  return (clientQuery as (...x: unknown[]) => unknown).apply(this, a);
} as typeof clientQuery;

/** What the server did for one workload: commits in its database and WAL flushes (server-wide, nothing else runs). */
interface Counters {
  commits: number;
  walSyncs: number;
  statements: number;
}

async function counters(adminUrl: string, db: string): Promise<Counters> {
  const sent = statements;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    // Backends report their statistics when idle or on exit; the workload's pools are closed by now.
    await new Promise((r) => setTimeout(r, 1200));
    // WAL fsyncs: pg_stat_io from PostgreSQL 18 (pg_stat_wal lost its wal_sync column), pg_stat_wal before.
    const v = Number((await c.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v);
    const syncs = v >= 180000 ? `SELECT sum(fsyncs) FROM pg_stat_io WHERE object = 'wal'` : 'SELECT wal_sync FROM pg_stat_wal';
    const r = await c.query<{ commits: string; syncs: string }>(
      `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1) AS commits, (${syncs}) AS syncs`,
      [db],
    );
    return { commits: Number(r.rows[0]!.commits), walSyncs: Number(r.rows[0]!.syncs), statements: sent };
  } finally {
    await c.end();
  }
}

interface Measured {
  stepsPerSecond: number;
  /** Per step, from the start of the worker to its end. */
  commitsPerStep: number;
  walSyncsPerStep: number;
  statementsPerStep: number;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark did not finish in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Gantry -------------------------------------------------------------------------------

async function gantry(adminUrl: string, kind: 'single' | 'dag'): Promise<Measured> {
  const dbName = `bench_gantry_${kind}`;
  const url = await freshDb(adminUrl, dbName);
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
  await db.end(); // so the counters below start from a quiet database
  const before = await counters(adminUrl, dbName);
  const pool = createPool(url, CONCURRENCY + 10);
  const engine = new Engine({
    db: pool,
    connectionString: url,
    registry,
    logger: createLogger('warn'),
    concurrency: CONCURRENCY,
    pollMs: 200,
  });
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
  await pool.end();
  const after = await counters(adminUrl, dbName);
  const check = new pg.Client({ connectionString: url });
  await check.connect();
  const n = (await check.query<{ n: number }>(`SELECT count(*)::int AS n FROM workflow_runs WHERE status = 'succeeded'`)).rows[0]!.n;
  await check.end();
  if (n !== runs) throw new Error(`only ${n} of ${runs} runs succeeded`);
  return perStep(steps, seconds, before, after);
}

function perStep(steps: number, seconds: number, before: Counters, after: Counters): Measured {
  return {
    stepsPerSecond: steps / seconds,
    commitsPerStep: (after.commits - before.commits) / steps,
    walSyncsPerStep: (after.walSyncs - before.walSyncs) / steps,
    statementsPerStep: (after.statements - before.statements) / steps,
  };
}

// graphile-worker ---------------------------------------------------------------------------

async function graphile(adminUrl: string, kind: 'single' | 'dag'): Promise<Measured> {
  const dbName = `bench_graphile_${kind}`;
  const url = await freshDb(adminUrl, dbName);
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
  const before = await counters(adminUrl, dbName);
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
  return perStep(steps, seconds, before, await counters(adminUrl, dbName));
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

function load(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
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
    console.log(`pgbench simple-update (-N, ${CONCURRENCY} clients): ${tps.toFixed(0)} tps (load ${load()})`);
    type Row = { name: string; ours: Measured; g: Measured; load: string };
    const rows: Row[] = [];
    const measure = async (kind: 'single' | 'dag', name: string, gantryFirst: boolean): Promise<Row> => {
      // Alternate the order so neither side always runs on a warmer server.
      let ours: Measured;
      let g: Measured;
      if (gantryFirst) {
        ours = await gantry(adminUrl, kind);
        g = await graphile(adminUrl, kind);
      } else {
        g = await graphile(adminUrl, kind);
        ours = await gantry(adminUrl, kind);
      }
      const row = { name, ours, g, load: load() };
      console.log(
        `${name}: gantry ${ours.stepsPerSecond.toFixed(0)} steps/s, graphile-worker ${g.stepsPerSecond.toFixed(0)} jobs/s (load ${row.load})`,
      );
      rows.push(row);
      return row;
    };
    const singles: Row[] = [];
    for (let i = 1; i <= REPEAT; i++)
      singles.push(await measure('single', `${RUNS} one-step noop runs (run ${i} of ${REPEAT})`, i % 2 === 0));
    const dag = await measure('dag', `${DAGS} runs of a 20-node fan-out/fan-in DAG`, false);
    console.log(
      '\n| workload | gantry steps/s | graphile-worker jobs/s | gantry / graphile | gantry / pgbench tps | statements per step (gantry / graphile) | commits per step (gantry / graphile) | WAL flushes per step (gantry / graphile) | load |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const { name, ours, g, load: l } of rows) {
      console.log(
        `| ${name} | ${ours.stepsPerSecond.toFixed(0)} | ${g.stepsPerSecond.toFixed(0)} | ${(ours.stepsPerSecond / g.stepsPerSecond).toFixed(2)} | ` +
          `${(ours.stepsPerSecond / tps).toFixed(2)} | ${ours.statementsPerStep.toFixed(2)} / ${g.statementsPerStep.toFixed(2)} | ${ours.commitsPerStep.toFixed(2)} / ${g.commitsPerStep.toFixed(2)} | ` +
          `${ours.walSyncsPerStep.toFixed(2)} / ${g.walSyncsPerStep.toFixed(2)} | ${l} |`,
      );
    }
    console.log('');
    const ratios = singles.map((r) => r.ours.stepsPerSecond / r.g.stepsPerSecond);
    for (const [i, ratio] of ratios.entries()) {
      goal({
        bench: 'workflows',
        goal: `one-step runs vs graphile-worker, run ${i + 1} of ${REPEAT}`,
        figure: `${ratio.toFixed(2)}×`,
        reference: `≥ 1.0× graphile-worker (${singles[i]!.g.stepsPerSecond.toFixed(0)} jobs/s this run; load ${singles[i]!.load})`,
        pass: ratio >= 1.0,
      });
    }
    goal({
      bench: 'workflows',
      goal: `one-step runs vs graphile-worker in ${REPEAT} consecutive runs`,
      figure: `${ratios.filter((r) => r >= 1.0).length} of ${REPEAT} runs ≥ 1.0× (lowest ${Math.min(...ratios).toFixed(2)}×)`,
      reference: `all ${REPEAT} ≥ 1.0×`,
      pass: ratios.every((r) => r >= 1.0),
    });
    const dagRatio = dag.ours.stepsPerSecond / dag.g.stepsPerSecond;
    goal({
      bench: 'workflows',
      goal: `${DAGS} × 20-node DAG vs graphile-worker`,
      figure: `${dagRatio.toFixed(2)}×`,
      reference: `≥ 2.0× graphile-worker (${dag.g.stepsPerSecond.toFixed(0)} jobs/s this run; load ${dag.load})`,
      pass: dagRatio >= 2.0,
    });
    // The slowest of the one-step runs, against the pgbench figure of the same invocation.
    const slowest = Math.min(...singles.map((r) => r.ours.stepsPerSecond));
    goal({
      bench: 'workflows',
      goal: 'one-step dispatch vs pgbench simple-update TPS (slowest one-step run)',
      figure: `${(slowest / tps).toFixed(2)}× (${slowest.toFixed(0)} steps/s)`,
      reference: `≥ 0.5× pgbench (${tps.toFixed(0)} TPS this run)`,
      pass: slowest / tps >= 0.5,
    });
  } finally {
    await stop?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

await main();
