// The engine against a real PostgreSQL: DAG order, conditions, outputs, retries, timeouts, waiting, cancel, lease expiry.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDb, loopbackOutbound, type TestDb } from '../../test/helpers.js';
import { createLogger } from '../core/logger.js';
import { withTenant } from '../store/db.js';
import { bootstrap } from '../tenancy/service.js';
import { cancelRun, createTemplate, deliverEvent, getRun, startRun } from '../workflows/service.js';
import { builtinRegistry } from './builtins.js';
import { Engine } from './engine.js';
import type { TemplateBody } from './template.js';

let t: TestDb;
let engine: Engine;
let tenantId: string;
let userId: string;
const registry = builtinRegistry({ outbound: loopbackOutbound() });
// Fails its first attempt per run the way a query does when PostgreSQL restarts under it.
const dbBlips = new Set<string>();
registry.register({
  type: 'db_blip',
  description: 'test: the first attempt per run fails with a broken database connection',
  inputSchema: z.object({}),
  outputSchema: z.object({ ok: z.boolean() }),
  async execute(ctx) {
    if (!dbBlips.has(ctx.runId)) {
      dbBlips.add(ctx.runId);
      throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    }
    return { status: 'succeeded', outputs: { ok: true } };
  },
});
// Ignores cancellation and succeeds after a pause: its outcome arrives after the run was cancelled.
registry.register({
  type: 'stubborn',
  description: 'test: succeeds after 300 ms whatever happens',
  inputSchema: z.object({}),
  outputSchema: z.object({ late: z.boolean() }),
  async execute() {
    await new Promise((res) => setTimeout(res, 300));
    return { status: 'succeeded', outputs: { late: true } };
  },
});
let receiver: http.Server;
let receiverUrl: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  t = await createTestDb();
  await bootstrap(t.db);
  const r = await t.db.query<{ tenant_id: string; user_id: string }>('SELECT tenant_id, user_id FROM role_bindings LIMIT 1');
  tenantId = r.rows[0]!.tenant_id;
  userId = r.rows[0]!.user_id;
  engine = new Engine({ db: t.db, connectionString: t.url, registry, logger: createLogger('silent'), pollMs: 50, leaseSeconds: 2 });
  await engine.start();
  // A receiver that fails the first two calls of each path with 503, then answers 200.
  receiver = http.createServer((req, res) => {
    const n = (hits.get(req.url ?? '') ?? 0) + 1;
    hits.set(req.url ?? '', n);
    res.statusCode = req.url?.startsWith('/flaky') && n <= 2 ? 503 : 200;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ n, key: req.headers['idempotency-key'] }));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await engine.stop();
  receiver.close();
});

let seq = 0;
async function run(body: Partial<TemplateBody> & Pick<TemplateBody, 'nodes'>, inputs: Record<string, unknown> = {}) {
  const name = `t${++seq}`;
  const full = { name, edges: [], inputs: {}, outputs: {}, ...body };
  await withTenant(t.db, tenantId, (tx) => createTemplate(tx, tenantId, userId, full, registry.has));
  const r = await withTenant(t.db, tenantId, (tx) => startRun(tx, tenantId, userId, { template: name, inputs }));
  return r.id;
}

async function waitFor(runId: string, statuses = ['succeeded', 'failed', 'cancelled'], timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await withTenant(t.db, tenantId, (tx) => getRun(tx, runId));
    if (statuses.includes(r.status)) return r;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} still ${r.status}: ${JSON.stringify(r.steps.map((s) => [s.nodeId, s.status]))}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function waitForStep(runId: string, nodeId: string, status: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await withTenant(t.db, tenantId, (tx) => getRun(tx, runId));
    if (r.steps.some((s) => s.nodeId === nodeId && s.status === status)) return r;
    if (Date.now() > deadline) throw new Error(`step ${nodeId} never became ${status}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

describe('engine', () => {
  it('runs a fan-out/fan-in DAG, passing outputs downstream and computing run outputs', async () => {
    const id = await run(
      {
        inputs: { greeting: { type: 'string', required: true } },
        nodes: [
          { id: 'a', type: 'set_outputs', config: { msg: '${{ inputs.greeting }}', n: 2 } },
          { id: 'b', type: 'set_outputs', config: { v: '${{ steps.a.outputs.msg }}-b' } },
          { id: 'c', type: 'set_outputs', config: { v: '${{ steps.a.outputs.msg }}-c' } },
          { id: 'd', type: 'set_outputs', config: { both: '${{ steps.b.outputs.v }}+${{ steps.c.outputs.v }}' } },
        ],
        edges: [
          { from: 'a', to: 'b' },
          { from: 'a', to: 'c' },
          { from: 'b', to: 'd' },
          { from: 'c', to: 'd' },
        ],
        outputs: { result: 'steps.d.outputs.both', count: 'steps.a.outputs.n' },
      },
      { greeting: 'hi' },
    );
    const r = await waitFor(id);
    expect({ status: r.status, error: r.error, steps: r.steps.map((s) => s.error).filter(Boolean) }).toEqual({
      status: 'succeeded',
      error: null,
      steps: [],
    });
    expect(r.outputs).toEqual({ result: 'hi-b+hi-c', count: 2 });
    expect(r.steps.filter((s) => s.nodeId === 'd')).toHaveLength(1);
    const order = r.steps.map((s) => s.nodeId);
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('b'));
    expect(Date.parse(r.steps.find((s) => s.nodeId === 'd')!.startedAt!)).toBeGreaterThanOrEqual(
      Math.max(...r.steps.filter((s) => s.nodeId !== 'd').map((s) => Date.parse(s.completedAt!))),
    );
  });

  it('finishes one-node runs with their outputs, skipped or failed output expressions included', async () => {
    const ok = await run(
      {
        inputs: { who: { type: 'string', required: true } },
        nodes: [{ id: 'only', type: 'set_outputs', config: { msg: 'hi ${{ inputs.who }}', n: 3 } }],
        outputs: { msg: 'steps.only.outputs.msg', n: 'steps.only.outputs.n', who: 'inputs.who' },
      },
      { who: 'ann' },
    );
    const skipped = await run({ nodes: [{ id: 'never', type: 'noop', when: 'false' }], outputs: { s: 'steps.never.status' } });
    const bad = await run({ nodes: [{ id: 'only', type: 'noop' }], outputs: { x: 'steps.only.outputs.missing.deeper' } });
    const r = await waitFor(ok);
    expect({ status: r.status, outputs: r.outputs, steps: r.steps.map((s) => [s.nodeId, s.status, s.outputs]) }).toEqual({
      status: 'succeeded',
      outputs: { msg: 'hi ann', n: 3, who: 'ann' },
      steps: [['only', 'succeeded', { msg: 'hi ann', n: 3 }]],
    });
    const s = await waitFor(skipped);
    expect({ status: s.status, outputs: s.outputs, steps: s.steps.map((x) => x.status) }).toEqual({
      status: 'succeeded',
      outputs: { s: 'skipped' },
      steps: ['skipped'],
    });
    const b = await waitFor(bad);
    expect(b.status).toBe('failed');
    expect(b.error).toMatch(/output "x" could not be computed/);
  });

  it('commits nothing for a one-node run cancelled while its step ran', async () => {
    const id = await run({ nodes: [{ id: 'only', type: 'stubborn' }] });
    await waitForStep(id, 'only', 'running');
    await withTenant(t.db, tenantId, (tx) => cancelRun(tx, id));
    await new Promise((res) => setTimeout(res, 600)); // the step finishes and its outcome is offered
    const r = await waitFor(id);
    expect({ status: r.status, steps: r.steps.map((x) => [x.status, x.outputs]) }).toEqual({
      status: 'cancelled',
      steps: [['cancelled', {}]],
    });
  });

  it('skips a node whose condition is false and still runs what follows', async () => {
    const id = await run(
      {
        inputs: { env: { type: 'string', required: true } },
        nodes: [
          { id: 'only_prod', type: 'noop', when: 'inputs.env == "prod"' },
          { id: 'after', type: 'noop' },
        ],
        edges: [{ from: 'only_prod', to: 'after' }],
      },
      { env: 'dev' },
    );
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.nodeId, s.status])).toEqual([
      ['only_prod', 'skipped'],
      ['after', 'succeeded'],
    ]);
  });

  it('retries with backoff, each attempt its own step run with its own logs', async () => {
    const id = await run({
      nodes: [
        {
          id: 'call',
          type: 'http_call',
          config: { url: `${receiverUrl}/flaky-${seq}`, method: 'GET' },
          retry: { maxAttempts: 3, backoff: { initialSeconds: 0.1, factor: 2, maxSeconds: 1 } },
        },
      ],
    });
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.attemptNumber, s.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'succeeded'],
    ]);
    expect(r.steps[0]!.logs).toMatch(/answered 503/);
    expect(r.steps[2]!.logs).toMatch(/answered 200/);
    expect(r.steps[2]!.logs).not.toMatch(/503/);
    // backoff: the second retry waited at least 0.2 s after the second failure
    expect(Date.parse(r.steps[2]!.startedAt!) - Date.parse(r.steps[1]!.completedAt!)).toBeGreaterThanOrEqual(150);
  });

  it('fails the run when attempts run out, naming the node', async () => {
    const id = await run({
      nodes: [
        {
          id: 'broken',
          type: 'noop',
          config: { fail: 'boom' },
          retry: { maxAttempts: 2, backoff: { initialSeconds: 0, factor: 2, maxSeconds: 1 } },
        },
      ],
    });
    const r = await waitFor(id);
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/node "broken" failed after 2 attempt\(s\): boom/);
  });

  it('times a step out', async () => {
    const id = await run({ nodes: [{ id: 'slow', type: 'noop', config: { sleepMs: 10_000 }, timeoutSeconds: 1 }] });
    const r = await waitFor(id);
    expect(r.status).toBe('failed');
    expect(r.steps[0]!.error).toMatch(/timed out after 1s/);
  });

  it('parks a waiting step and resumes it on events; one person counts once', async () => {
    const id = await run({
      nodes: [
        { id: 'approve', type: 'approval_wait', config: { required: 2 } },
        { id: 'go', type: 'noop' },
      ],
      edges: [{ from: 'approve', to: 'go' }],
    });
    await waitForStep(id, 'approve', 'waiting');
    const send = (by: string) =>
      withTenant(t.db, tenantId, (tx) => deliverEvent(tx, id, 'approve', { event: 'approved', payload: { by } }));
    await send('ann');
    await send('ann');
    await new Promise((res) => setTimeout(res, 300));
    const mid = await withTenant(t.db, tenantId, (tx) => getRun(tx, id));
    expect(mid.status).toBe('running');
    expect(mid.steps.find((s) => s.nodeId === 'approve')!.status).toBe('waiting');
    await send('bob');
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    expect(r.steps.find((s) => s.nodeId === 'approve')!.outputs).toEqual({ approvedBy: ['ann', 'bob'] });
  });

  it('wakes a timer step without holding a worker', async () => {
    const id = await run({ nodes: [{ id: 'wait', type: 'timer', config: { seconds: 1 } }] });
    await waitForStep(id, 'wait', 'waiting');
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    const s = r.steps[0]!;
    expect(Date.parse(s.completedAt!) - Date.parse(s.startedAt!)).toBeGreaterThanOrEqual(900);
  });

  it('cancels a run and stops its running step', async () => {
    const id = await run({
      nodes: [
        { id: 'long', type: 'noop', config: { sleepMs: 60_000 } },
        { id: 'never', type: 'noop' },
      ],
      edges: [{ from: 'long', to: 'never' }],
    });
    await waitForStep(id, 'long', 'running');
    const started = Date.now();
    await withTenant(t.db, tenantId, (tx) => cancelRun(tx, id));
    const r = await waitFor(id);
    expect(r.status).toBe('cancelled');
    expect(r.steps.map((s) => [s.nodeId, s.status])).toEqual([['long', 'cancelled']]);
    // the engine aborted the sleeping step rather than waiting a minute for it
    const deadline = Date.now() + 5000;
    while (engine.inflightCount > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('re-queues a step whose lease expired as a new attempt and finishes the run', async () => {
    await withTenant(t.db, tenantId, (tx) =>
      createTemplate(
        tx,
        tenantId,
        userId,
        { name: 'orphan', nodes: [{ id: 'orphan', type: 'noop' }], edges: [], inputs: {}, outputs: {} },
        registry.has,
      ),
    );
    // Simulate a server that claimed the step and died, in the run's own transaction so the engine cannot take it first.
    const id = await withTenant(t.db, tenantId, async (tx) => {
      const started = await startRun(tx, tenantId, userId, { template: 'orphan', inputs: {} });
      await tx.query(
        `UPDATE step_runs SET status = 'running', lease_owner = 'dead-server', lease_expires_at = now() - interval '1 second', started_at = now()
          WHERE workflow_run_id = $1`,
        [started.id],
      );
      return started.id;
    });
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.attemptNumber, s.status])).toEqual([
      [1, 'failed'],
      [2, 'succeeded'],
    ]);
    expect(r.steps[0]!.error).toMatch(/lease expired/);
  });

  it('hands events delivered to an attempt whose server died to the re-queued attempt', async () => {
    await withTenant(t.db, tenantId, (tx) =>
      createTemplate(
        tx,
        tenantId,
        userId,
        {
          name: 'orphan-wait',
          nodes: [{ id: 'wait', type: 'approval_wait', config: { required: 1 } }],
          edges: [],
          inputs: {},
          outputs: {},
        },
        registry.has,
      ),
    );
    // A server claimed the waiting step and died; the event (e.g. deployment_finished) arrives while the
    // dead server still holds the lease, so it lands on attempt 1; then the lease expires.
    const id = await withTenant(t.db, tenantId, async (tx) => {
      const started = await startRun(tx, tenantId, userId, { template: 'orphan-wait', inputs: {} });
      await tx.query(
        `UPDATE step_runs SET status = 'running', lease_owner = 'dead-server', lease_expires_at = now() - interval '1 second', started_at = now()
          WHERE workflow_run_id = $1`,
        [started.id],
      );
      await deliverEvent(tx, started.id, 'wait', { event: 'approved', payload: { by: 'ann' } });
      return started.id;
    });
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.attemptNumber, s.status])).toEqual([
      [1, 'failed'],
      [2, 'succeeded'],
    ]);
    expect(r.steps[1]!.outputs).toEqual({ approvedBy: ['ann'] });
  });

  it('tries a step again when the database connection broke under it, without counting it as a failure', async () => {
    const id = await run({ nodes: [{ id: 'blip', type: 'db_blip' }] });
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    const steps = await t.db.query<{ attempt_number: number; status: string; error_kind: string | null }>(
      'SELECT attempt_number, status, error_kind FROM step_runs WHERE workflow_run_id = $1 ORDER BY attempt_number',
      [id],
    );
    expect(steps.rows).toEqual([
      { attempt_number: 1, status: 'failed', error_kind: 'transient' },
      { attempt_number: 2, status: 'succeeded', error_kind: null },
    ]);
  });

  it('applies a POST side effect once per node, with an idempotency key', async () => {
    const path = `/effect-${seq}`;
    const id = await run({
      nodes: [{ id: 'post', type: 'http_call', config: { url: `${receiverUrl}${path}`, body: { x: 1 }, captureBody: true } }],
    });
    const r = await waitFor(id);
    expect(r.status).toBe('succeeded');
    expect((r.steps[0]!.outputs.body as { key: string }).key).toBe(`${id}:post:http`);
    const effects = await t.db.query('SELECT * FROM step_effects WHERE workflow_run_id = $1', [id]);
    expect(effects.rowCount).toBe(1);
    expect(hits.get(path)).toBe(1);
  });
});
