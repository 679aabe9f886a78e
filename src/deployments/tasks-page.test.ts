// A job's tasks page by page (GET /deployments/{id}/tasks): the pages together are the job's tasks in the
// order of GET /deployments/{id}, each page carries the job without its tasks, and a later sweep with
// changedSince lists the tasks written since, with their new state.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, joinAgent, type TestApp } from '../../test/helpers.js';

describe('deployment tasks page', () => {
  let t: TestApp;
  let jobId: string;
  let agent: { id: string; credential: string };
  const agentCall = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    t.agentCall('POST', url, undefined, body, headers);

  beforeAll(async () => {
    t = await createTestApp();
    const env = (await t.call('POST', '/api/v1/environments', { name: 'prod' })).body.id;
    // Names out of creation order, so the job's order (batch, then name) is not the order of the ids.
    for (const name of ['web-5', 'web-3', 'web-1', 'web-4', 'web-2']) {
      const r = await t.call('POST', '/api/v1/targets', {
        name,
        environmentId: env,
        targetType: 'docker_host',
        connection: { dockerHost: 'unix:///x.sock' },
      });
      expect(r.status).toBe(201);
    }
    await t.call('POST', '/api/v1/components', { name: 'web', imageRepository: 'r.example.com/web' });
    const rel = await t.call('POST', '/api/v1/releases', {
      name: 'v1',
      components: [{ component: 'web', digest: `sha256:${'a'.repeat(64)}` }],
    });
    expect((await t.call('POST', `/api/v1/releases/${rel.body.id}/ready`)).status).toBe(200);
    const joined = await joinAgent(t, 'edge-1');
    agent = { id: joined.id, credential: joined.credential };
    const job = await t.call('POST', '/api/v1/deployments', {
      releaseId: 'v1',
      environmentId: 'prod',
      strategy: 'rolling',
      strategyConfig: { batchSize: 2 },
    });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    jobId = job.body.id;
  });

  it('pages through the tasks in the order of the job, with the job without its tasks on each page', async () => {
    const full = (await t.call('GET', `/api/v1/deployments/${jobId}`)).body;
    expect(full.tasks).toHaveLength(5);
    expect(new Set(full.tasks.map((x: { batch: number }) => x.batch)).size).toBe(3);
    const { tasks, plan, ...job } = full;
    const seen: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: any } = await t.call(
        'GET',
        `/api/v1/deployments/${jobId}/tasks?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.job).toEqual(job);
      expect(page.body.changes).toMatch(/^\d+$/);
      expect(page.body.planSummary).toEqual(plan.summary);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(tasks);
    expect(plan).not.toBeNull();
    expect((await t.call('GET', `/api/v1/deployments/${jobId}/tasks?cursor=nonsense`)).status).toBe(400);
    expect((await t.call('GET', `/api/v1/deployments/${jobId}/tasks?changedSince=x`)).status).toBe(400);
    expect((await t.call('GET', '/api/v1/deployments/00000000-0000-4000-8000-000000000000/tasks')).status).toBe(404);
  });

  it('with changedSince lists the tasks written since, in their new state', async () => {
    const before = (await t.call('GET', `/api/v1/deployments/${jobId}/tasks?limit=500`)).body;
    const leased = await agentCall(`/api/v1/agents/${agent.id}/tasks/lease`, { max: 1 }, { authorization: `Bearer ${agent.credential}` });
    expect(leased.body.tasks).toHaveLength(1);
    const taskId = leased.body.tasks[0].taskId as string;
    const after = (await t.call('GET', `/api/v1/deployments/${jobId}/tasks?limit=500&changedSince=${before.changes}`)).body;
    const full = (await t.call('GET', `/api/v1/deployments/${jobId}`)).body;
    const changed = after.items.find((x: { id: string }) => x.id === taskId);
    expect(changed).toMatchObject({ status: 'assigned', agentId: agent.id });
    expect(before.items.find((x: { id: string }) => x.id === taskId).status).toBe('pending');
    // What comes is the tasks' current state (a task may come again; none is missed).
    for (const x of after.items) expect(x).toEqual(full.tasks.find((y: { id: string }) => y.id === x.id));
    expect(after.job.counts).toEqual(full.counts);
    expect(Number(after.changes)).toBeGreaterThanOrEqual(Number(before.changes));
  });
});
