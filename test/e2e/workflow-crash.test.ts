// e2e: a server is SIGKILLed in the middle of a 50-step run; a new server finishes the run and every
// step's effect happened exactly once.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { api, killAll } from './support.js';
import { startReceiver, startServer, waitForRuns } from './workflow-support.js';

const T = 120_000;

describe('workflow run survives a killed server', () => {
  afterAll(() => killAll(), T);

  it(
    'a new server finishes a 50-step run after SIGKILL; each effect applied once',
    async () => {
      const { db, url } = await createTestDb();
      const token = `gty_${randomBytes(32).toString('base64url')}`;
      const receiver = await startReceiver(40);
      try {
        const lease = { GANTRY_ENGINE_LEASE_SECONDS: '2' };
        const a = await startServer(url, token, lease);
        const nodes = Array.from({ length: 50 }, (_, i) => ({
          id: `s${String(i + 1).padStart(2, '0')}`,
          type: 'http_call',
          config: { url: `${receiver.url}/effect`, body: { step: i + 1 } },
        }));
        const edges = nodes.slice(1).map((n, i) => ({ from: nodes[i]!.id, to: n.id }));
        const tpl = await api(a.base, 'POST', '/api/v1/workflow-templates', token, { name: 'fifty', nodes, edges });
        expect(tpl.status).toBe(201);
        const run = await api(a.base, 'POST', '/api/v1/workflow-runs', token, { template: 'fifty' });
        expect(run.status).toBe(201);
        const runId: string = run.body.id;

        // Let it get well into the run, then kill the server without warning.
        const deadline = Date.now() + 60_000;
        let done = 0;
        while (done < 15 && Date.now() < deadline) {
          const r = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM step_runs WHERE workflow_run_id = $1 AND status = 'succeeded'`,
            [runId],
          );
          done = r.rows[0]!.n;
          await new Promise((res) => setTimeout(res, 20));
        }
        a.proc.child.kill('SIGKILL');
        await a.proc.exited;
        const atKill = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM step_runs WHERE workflow_run_id = $1 AND status = 'succeeded'`,
          [runId],
        );
        expect(atKill.rows[0]!.n).toBeGreaterThanOrEqual(15);
        expect(atKill.rows[0]!.n).toBeLessThan(50);

        const b = await startServer(url, token, lease);
        const statuses = await waitForRuns(b.base, token, [runId], 90_000);
        expect(statuses.get(runId)).toBe('succeeded');

        const steps = await db.query<{ node_id: string; status: string; error_kind: string | null; lease_owner: string }>(
          'SELECT node_id, status, error_kind, lease_owner FROM step_runs WHERE workflow_run_id = $1 ORDER BY node_id, attempt_number',
          [runId],
        );
        const succeeded = steps.rows.filter((s) => s.status === 'succeeded');
        expect(succeeded.map((s) => s.node_id)).toEqual(nodes.map((n) => n.id));
        // Any attempt other than a success was the one the dead server held.
        expect(steps.rows.filter((s) => s.status !== 'succeeded').every((s) => s.error_kind === 'lease_expired')).toBe(true);
        expect(new Set(succeeded.map((s) => s.lease_owner)).size).toBe(2);

        // Exactly one effect per step, each under that step's idempotency key.
        expect([...receiver.applied.keys()].sort()).toEqual(nodes.map((n) => `${runId}:${n.id}:http`));
        expect([...receiver.applied.values()].every((n) => n === 1)).toBe(true);
        // Only a step in flight at the kill may have been sent twice (same key); none three times.
        expect(Math.max(...receiver.requests.values())).toBeLessThanOrEqual(2);
        const effects = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM step_effects WHERE workflow_run_id = $1', [runId]);
        expect(effects.rows[0]!.n).toBe(50);
      } finally {
        receiver.close();
      }
    },
    T,
  );
});
