// PostgreSQL restarts under a running Gantry (`pg_ctl restart -m immediate` on a PostgreSQL 15 of the
// test's own): a transaction in progress fails with an error instead of taking the process down, the
// pool replaces the broken connections, the engine's LISTEN connection comes back and hears NOTIFY
// again, and a `gantry server` process stays up, reports 503 on /readyz while the database is away and
// runs workflows again afterwards.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { builtinRegistry, Engine } from '../../src/engine/index.js';
import { createPool, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { api, killAll, stopGantry } from '../e2e/support.js';
import { startServer, waitForRuns } from '../e2e/workflow-support.js';
import { type Pg15, pg15Available, startPg15 } from './pg15.js';

const T = 180_000;
let pg: Pg15;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!pg15Available())('PostgreSQL restarts under Gantry', () => {
  beforeAll(async () => {
    pg = await startPg15();
    await migrate(pg.url);
  }, T);
  afterAll(async () => {
    await killAll();
    await pg?.stop();
  }, T);

  it(
    'a checked-out connection and the LISTEN connection survive an immediate restart, in process',
    async () => {
      const lost: string[] = [];
      const db: Db = createPool(pg.url, 5, (err) => lost.push(err.message));
      const engine = new Engine({
        db,
        connectionString: pg.url,
        registry: builtinRegistry(),
        logger: createLogger('silent'),
        pollMs: 60_000,
      });
      await engine.start();
      try {
        // A transaction in progress (the client is checked out of the pool) and an idle pooled client.
        const held = await db.connect();
        await held.query('BEGIN');
        await held.query('SELECT 1');
        await db.query('SELECT 1');
        await pg.restartImmediate();
        await expect(held.query('SELECT 1')).rejects.toThrow();
        held.release(new Error('connection lost'));
        expect(lost.length).toBeGreaterThan(0);
        // The pool opens new connections once PostgreSQL accepts them again.
        await until('a pooled query', async () => (await db.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n);
        // The engine's LISTEN connection is back: a NOTIFY wakes it (its poll interval is a minute).
        const reconnects = (engine as unknown as { listener: { reconnects: number } }).listener;
        await until('the LISTEN reconnect', async () => (reconnects.reconnects > 0 ? true : undefined));
        const seen = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'gantry-engine-listen'`,
        );
        expect(seen.rows[0]!.n).toBe(1);
      } finally {
        await engine.stop();
        await db.end();
      }
    },
    T,
  );

  it(
    'a gantry server stays up across the restart, /readyz follows the database and workflows run again',
    async () => {
      const token = `gty_${randomBytes(32).toString('base64url')}`;
      const db = pg.url.replace(/\/postgres$/, '/gantry_restart');
      const admin = createPool(pg.url, 1);
      await admin.query('CREATE DATABASE gantry_restart');
      await admin.end();
      const { proc, base } = await startServer(db, token);
      let exited: number | string | undefined;
      void proc.exited.then((c) => {
        exited = c;
      });
      const tpl = await api(base, 'POST', '/api/v1/workflow-templates', token, {
        name: 'two-steps',
        nodes: [
          { id: 'a', type: 'noop' },
          { id: 'b', type: 'noop', config: { sleepMs: 200 } },
        ],
        edges: [{ from: 'a', to: 'b' }],
      });
      expect(tpl.status).toBe(201);
      const start = async () => (await api(base, 'POST', '/api/v1/workflow-runs', token, { template: 'two-steps' })).body.id as string;
      const before = await Promise.all(Array.from({ length: 20 }, start));

      const restart = pg.restartImmediate();
      // While PostgreSQL is away /readyz says so (the restart takes a moment; catch it if we can).
      const codes = new Set<number>();
      const probe = (async () => {
        for (let i = 0; i < 50 && codes.size < 2; i++) {
          const r = await fetch(`${base}/readyz`).catch(() => undefined);
          if (r) codes.add(r.status);
          await new Promise((res) => setTimeout(res, 20));
        }
      })();
      await restart;
      await probe;
      await until('/readyz 200 after the restart', async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
      process.stderr.write(`/readyz answered ${[...codes].join(', ')} around the restart\n`);

      const after = await until('a run started after the restart', start);
      const statuses = await waitForRuns(base, token, [...before, after], 90_000);
      expect(statuses.get(after)).toBe('succeeded');
      // Runs in flight at the restart end too (their steps retried or re-queued), none stays running.
      expect([...statuses.values()].every((s) => ['succeeded', 'failed'].includes(s))).toBe(true);
      expect(exited).toBeUndefined();
      expect(proc.stderr()).not.toMatch(/Unhandled 'error' event|uncaught/i);
      expect(await stopGantry(proc)).toBe(0);
    },
    T,
  );
});
