// Promotion ↔ deployment job links and per-attempt task records over HTTP on real PostgreSQL: a promotion
// names its job, the job names its promotion, GET /deployments?promotion= filters, and each attempt of a
// task (one whose lease expired, then one that succeeded) is readable with its agent, times, outcome and log.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { type ScriptedAgent, scriptedAgent } from '../../test/scripted-agent.js';
import { ephemeralSigner } from '../evidence/signer.js';
import { expireLeases } from './lease.js';

let f: PromotionFixture;
let base: string;
let agent: ScriptedAgent;

// any: tests read arbitrary JSON response shapes
async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${f.tokens.admin}` } });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  f = await promotionFixture({ alice: ['release_manager'] });
  await f.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
  const ops = await f.call('admin', 'POST', '/api/v1/environments', { name: 'ops' });
  const target = { name: 'ops-1', environmentId: ops.body.id, targetType: 'docker_host', connection: { dockerHost: 'unix:///x.sock' } };
  expect((await f.call('admin', 'POST', '/api/v1/targets', target)).status).toBe(201);
  agent = await scriptedAgent(base, f.tokens.admin!, 'edge-1');
});
afterAll(async () => {
  await f?.app.close();
});

describe('retry-safe reads', () => {
  it('links a promotion and its deployment job both ways, filters jobs by promotion, and shows every attempt of a task', async () => {
    await f.readyRelease('1.0.0', 'alice');
    const p = await f.call('alice', 'POST', '/api/v1/promotions', { releaseId: '1.0.0', targetEnvironmentId: 'ops', reason: 'go' });
    expect(p.status).toBe(201);
    expect(p.body.deploymentJobIds).toEqual([]);
    await f.waitFor(p.body.id, ['deploying']);
    let jobIds: string[] = [];
    for (let i = 0; i < 200 && jobIds.length === 0; i++) {
      jobIds = (await get(`/api/v1/promotions/${p.body.id}`)).body.deploymentJobIds;
      if (jobIds.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(jobIds).toHaveLength(1);
    const jobId = jobIds[0]!;
    const job = (await get(`/api/v1/deployments/${jobId}`)).body;
    expect(job.promotionId).toBe(p.body.id);
    const listed = (await get(`/api/v1/promotions?release=1.0.0`)).body.items[0];
    expect(listed.deploymentJobIds).toEqual([jobId]);

    // The filter lists the promotion's jobs only; a promotion without jobs lists none.
    expect((await get(`/api/v1/deployments?promotion=${p.body.id}`)).body.items.map((j: { id: string }) => j.id)).toEqual([jobId]);
    expect((await get('/api/v1/deployments?promotion=00000000-0000-7000-8000-000000000000')).body.items).toEqual([]);
    const bad = await get('/api/v1/deployments?promotion=nope');
    expect([bad.status, bad.body.errors?.[0]?.path]).toEqual([400, 'querystring.promotion']);

    // Attempt 1 starts, logs and loses its lease; attempt 2 succeeds.
    const [first] = await agent.lease();
    expect(first).toMatchObject({ jobId, attempt: 1 });
    expect(await agent.start(first!)).toBe(200);
    expect(await agent.log(first!, ['pulling image', 'first try'])).toBe(200);
    await expireLeases(f.db, new Date(Date.parse(first!.leaseExpiresAt) + 1000), { signer: ephemeralSigner() });
    const [second] = await agent.lease();
    expect(second).toMatchObject({ taskId: first!.taskId, attempt: 2 });
    expect(await agent.start(second!)).toBe(200);
    expect(await agent.log(second!, ['second try'])).toBe(200);
    expect(await agent.report(second!, 'succeeded')).toBe(200);
    await f.waitFor(p.body.id, ['deployed']);

    const attempts = await get(`/api/v1/deployments/${jobId}/tasks/${first!.taskId}/attempts`);
    expect(attempts.status).toBe(200);
    const [a1, a2] = attempts.body.items;
    expect(attempts.body.items).toHaveLength(2);
    expect(a1).toMatchObject({
      attempt: 1,
      agentId: agent.id,
      agentName: 'edge-1',
      outcome: 'lease_expired',
      error: 'lease expired; re-queued',
    });
    expect(a1.log.map((l: { line: string }) => l.line)).toEqual(['pulling image', 'first try']);
    expect(a2).toMatchObject({ attempt: 2, agentName: 'edge-1', outcome: 'succeeded', error: null });
    expect(a2.log.map((l: { line: string }) => l.line)).toEqual(['second try']);
    for (const a of [a1, a2]) {
      expect(a.runner).toMatch(/./);
      for (const k of ['leasedAt', 'leaseExpiresAt', 'startedAt', 'finishedAt']) expect(Number.isNaN(Date.parse(a[k])), k).toBe(false);
    }
    expect(Date.parse(a2.leasedAt)).toBeGreaterThanOrEqual(Date.parse(a1.leasedAt));

    const other = await get(`/api/v1/deployments/${jobId}/tasks/00000000-0000-7000-8000-000000000000/attempts`);
    expect(other.status).toBe(404);
  }, 60_000);
});
