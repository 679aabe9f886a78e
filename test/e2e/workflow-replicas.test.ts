// e2e: two server processes on one PostgreSQL complete 1,000 runs together: all succeed, no step
// attempt ever runs twice at once, and both servers did work.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { api, killAll, stopGantry } from './support.js';
import { startReceiver, startServer, waitForRuns } from './workflow-support.js';

const T = 240_000;
const RUNS = 1000;

describe('two engines share one database', () => {
  afterAll(() => killAll(), T);

  it(
    `complete ${RUNS} runs together without running any attempt twice`,
    async () => {
      const { db, url } = await createTestDb();
      const token = `gty_${randomBytes(32).toString('base64url')}`;
      const receiver = await startReceiver(5);
      try {
        const [a, b] = await Promise.all([startServer(url, token), startServer(url, token)]);
        const tpl = await api(a.base, 'POST', '/api/v1/workflow-templates', token, {
          name: 'one-call',
          nodes: [{ id: 'call', type: 'http_call', config: { url: `${receiver.url}/work`, body: { run: '${{ run.id }}' } } }],
        });
        expect(tpl.status).toBe(201);
        const ids: string[] = [];
        // Start runs through both replicas, 25 requests at a time.
        for (let i = 0; i < RUNS; i += 25) {
          const batch = await Promise.all(
            Array.from({ length: Math.min(25, RUNS - i) }, (_, j) =>
              api((i + j) % 2 ? b.base : a.base, 'POST', '/api/v1/workflow-runs', token, { template: 'one-call' }),
            ),
          );
          for (const r of batch) {
            expect(r.status).toBe(201);
            ids.push(r.body.id);
          }
        }
        const statuses = await waitForRuns(a.base, token, ids, 180_000);
        expect([...statuses.values()].filter((s) => s === 'succeeded')).toHaveLength(RUNS);

        const steps = await db.query<{ attempts: number; owner: string }>(
          `SELECT count(*)::int AS attempts, min(lease_owner) AS owner FROM step_runs GROUP BY workflow_run_id, node_id`,
        );
        expect(steps.rowCount).toBe(RUNS);
        expect(steps.rows.every((s) => s.attempts === 1)).toBe(true);
        const perServer = new Map<string, number>();
        for (const s of steps.rows) perServer.set(s.owner, (perServer.get(s.owner) ?? 0) + 1);
        expect(perServer.size).toBe(2);
        expect(Math.min(...perServer.values())).toBeGreaterThan(RUNS / 10);

        expect(receiver.overlaps.size).toBe(0);
        expect(receiver.applied.size).toBe(RUNS);
        expect([...receiver.requests.values()].every((n) => n === 1)).toBe(true);
        process.stderr.write(`steps per server: ${JSON.stringify(Object.fromEntries(perServer))}\n`);
        expect(await stopGantry(a.proc)).toBe(0);
        expect(await stopGantry(b.proc)).toBe(0);
      } finally {
        receiver.close();
      }
    },
    T,
  );
});
