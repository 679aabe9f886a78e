import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { createDeployStep, type StepContext } from '../engine/index.js';
import { stickerFor } from '../protocol/deployment.js';
import { withTenant } from '../store/db.js';
import { startRun } from '../workflows/service.js';
import { deploymentHandoff } from './handoff.js';

// The deploy step's first execution creates the promotion's job (once, however often it runs); the
// job's end delivers deployment_finished to the run's node "deploy" in the transaction that ends it.
describe('deploy step hand-over', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('creates one job per promotion and hands the outcome back to the workflow', async () => {
    const env = (await t.call('POST', '/api/v1/environments', { name: 'dev' })).body;
    await t.call('POST', '/api/v1/targets', {
      name: 'h1',
      environmentId: env.id,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///x.sock' },
    });
    await t.call('POST', '/api/v1/components', { name: 'app', imageRepository: 'r.example.com/app' });
    const rel = (
      await t.call('POST', '/api/v1/releases', { name: 'v1', components: [{ component: 'app', digest: `sha256:${'c'.repeat(64)}` }] })
    ).body;
    await t.call('POST', `/api/v1/releases/${rel.id}/ready`);
    const ids = (
      await t.db.query(`SELECT t.id AS tenant, u.id AS usr FROM tenants t, users u WHERE t.name = 'default' AND u.username = 'admin'`)
    ).rows[0];
    const run = await withTenant(t.db, ids.tenant, (tx) =>
      startRun(tx, ids.tenant, ids.usr, {
        template: 'standard-promotion',
        inputs: { promotionId: '00000000-0000-7000-8000-000000000000', releaseId: rel.id, environmentId: env.id },
      }),
    );
    const p = await t.db.query(
      `INSERT INTO promotions (tenant_id, release_id, target_environment_id, status, workflow_run_id, requested_by)
       VALUES ($1, $2, $3, 'deploying', $4, $5) RETURNING id`,
      [ids.tenant, rel.id, env.id, run.id, ids.usr],
    );
    const promotionId = p.rows[0].id as string;
    await t.db.query(`INSERT INTO step_runs (tenant_id, workflow_run_id, node_id, status) VALUES ($1, $2, 'deploy', 'waiting')`, [
      ids.tenant,
      run.id,
    ]);
    const step = createDeployStep(deploymentHandoff(t.db));
    const effects = new Map<string, unknown>();
    const ctx = {
      tenantId: ids.tenant,
      runId: run.id,
      input: { promotionId, environmentId: env.id },
      events: [],
      log: () => {},
      effect: async (name: string, apply: (k: string) => Promise<unknown>) => {
        if (!effects.has(name)) effects.set(name, await apply(`${run.id}:deploy:${name}`));
        return effects.get(name);
      },
    } as unknown as StepContext<{ promotionId?: string; environmentId?: string }>;
    expect(await step.execute(ctx)).toMatchObject({ status: 'waiting' });
    effects.clear(); // even if the effect record were lost, the job is not created twice
    expect(await step.execute(ctx)).toMatchObject({ status: 'waiting' });
    const jobs = await t.db.query('SELECT id FROM deployment_jobs WHERE promotion_id = $1', [promotionId]);
    expect(jobs.rows).toHaveLength(1);

    const tok = (await t.call('POST', '/api/v1/agents/tokens', {})).body.token;
    const reg = await t.app.inject({
      method: 'POST',
      url: '/api/v1/agents/register',
      headers: { 'x-agent-token': tok, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'a1', capabilities: { executors: ['docker_host'] } }),
    });
    const { agentId, credential } = reg.json();
    const post = (url: string, body: unknown) =>
      t.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
    await post(`/api/v1/agents/${agentId}/heartbeat`, { sessionId: 'session-1' });
    const [task] = (await post(`/api/v1/agents/${agentId}/tasks/lease`, { max: 1 })).json().tasks;
    expect(task.promotionId).toBe(promotionId);
    await post(`/api/v1/agents/${agentId}/tasks/${task.taskId}/start`, { attempt: 1, fencingToken: task.fencingToken });
    await post(`/api/v1/agents/${agentId}/tasks/${task.taskId}/report`, {
      attempt: 1,
      fencingToken: task.fencingToken,
      status: 'succeeded',
      sticker: stickerFor(task, new Date()),
    });
    const s = await t.db.query(`SELECT status, resume_events FROM step_runs WHERE workflow_run_id = $1 AND node_id = 'deploy'`, [run.id]);
    expect(s.rows[0].status).toBe('pending');
    expect(s.rows[0].resume_events[0]).toMatchObject({
      event: 'deployment_finished',
      payload: { status: 'succeeded', jobId: jobs.rows[0].id },
    });
    const packet = await t.db.query(`SELECT promotion_id, content FROM evidence_packets WHERE packet_type = 'deployment'`);
    expect(packet.rows[0]).toMatchObject({ promotion_id: promotionId, content: { promotion: { id: promotionId } } });
    const done = await step.execute({ ...ctx, events: s.rows[0].resume_events } as typeof ctx);
    expect(done).toMatchObject({ status: 'succeeded', outputs: { jobId: jobs.rows[0].id, outcome: 'succeeded' } });
  });
});
