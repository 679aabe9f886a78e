import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, joinAgent, type TestApp } from '../../test/helpers.js';
import { sweepLiveness } from '../agents/liveness.js';
import { ephemeralSigner } from '../evidence/signer.js';
import { planBatches } from './batches.js';
import { expireLeases } from './lease.js';
import { DEFAULT_SETTINGS } from './settings.js';

describe('planBatches', () => {
  it('splits rolling by size or percent and canary by cumulative waves', () => {
    expect(planBatches(5, 'rolling', { batchSize: 2 })).toEqual({ batches: [0, 0, 1, 1, 2], count: 3 });
    expect(planBatches(10, 'rolling', { batchPercent: 50 })).toEqual({ batches: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], count: 2 });
    expect(planBatches(10, 'canary', {})).toEqual({ batches: [0, 1, 1, 1, 1, 2, 2, 2, 2, 2], count: 3 });
    expect(planBatches(2, 'canary', { waves: [10, 50] })).toEqual({ batches: [0, 1], count: 2 });
    expect(planBatches(3, 'all_at_once', {})).toEqual({ batches: [0, 0, 0], count: 1 });
  });
});

describe('agent protocol and job progress', () => {
  let t: TestApp;
  let envId: string;
  const signer = ephemeralSigner();
  const agentCall: TestApp['agentCall'] = (...a) => t.agentCall(...a);
  const register = (name: string) => joinAgent(t, name);

  beforeAll(async () => {
    t = await createTestApp();
    const env = await t.call('POST', '/api/v1/environments', { name: 'prod' });
    envId = env.body.id;
    for (const n of ['a', 'b', 'c']) {
      expect(
        (
          await t.call('POST', '/api/v1/targets', {
            name: n,
            environmentId: envId,
            targetType: 'docker_host',
            connection: { dockerHost: 'unix:///x.sock' },
          })
        ).status,
      ).toBe(201);
    }
    await t.call('POST', '/api/v1/components', { name: 'app', imageRepository: 'r.example.com/app' });
    for (const [name, d] of [
      ['v1', 'a'],
      ['v2', 'b'],
    ]) {
      const r = await t.call('POST', '/api/v1/releases', { name, components: [{ component: 'app', digest: `sha256:${d!.repeat(64)}` }] });
      expect((await t.call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    }
  });

  it('join tokens work once and expire', async () => {
    const a = await register('edge-1');
    const again = await agentCall('POST', '/api/v1/agents/register', undefined, { name: 'edge-x' }, { 'x-agent-token': a.token });
    expect(again.status).toBe(401);
    const tok = await t.call('POST', '/api/v1/agents/tokens', { expiresInSeconds: 60 });
    t.clock.advance(61_000);
    const late = await agentCall('POST', '/api/v1/agents/register', undefined, { name: 'edge-y' }, { 'x-agent-token': tok.body.token });
    expect(late.status).toBe(401);
    const user = await agentCall('POST', `/api/v1/agents/${a.id}/heartbeat`, t.adminToken, { sessionId: 'whatever-1' });
    expect(user.status).toBe(401);
  });

  it('moves agents online → degraded → offline by heartbeat age, and revocation locks them out', async () => {
    const a = await register('edge-2');
    expect((await t.call('GET', '/api/v1/agents/edge-2')).body.status).toBe('online');
    await sweepLiveness(t.db, new Date(t.clock.now().getTime() + 25_000), DEFAULT_SETTINGS);
    expect((await t.call('GET', '/api/v1/agents/edge-2')).body).toMatchObject({ status: 'degraded', statusReason: 'heartbeat late' });
    await sweepLiveness(t.db, new Date(t.clock.now().getTime() + 61_000), DEFAULT_SETTINGS);
    expect((await t.call('GET', '/api/v1/agents/edge-2')).body.status).toBe('offline');
    const rot = await agentCall('POST', `/api/v1/agents/${a.id}/rotate`, a.credential);
    expect((await agentCall('POST', `/api/v1/agents/${a.id}/heartbeat`, a.credential, { sessionId: 'session-2' })).status).toBe(401);
    expect((await agentCall('POST', `/api/v1/agents/${a.id}/heartbeat`, rot.body.credential, { sessionId: 'session-2' })).status).toBe(200);
    const revoked = await t.call('POST', '/api/v1/agents/edge-2/revoke');
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect((await agentCall('POST', `/api/v1/agents/${a.id}/heartbeat`, rot.body.credential, { sessionId: 'session-2' })).status).toBe(403);
  });

  it('runs a canary with approval between waves, re-queues expired leases and records stickers and evidence', async () => {
    const a = await register('edge-3');
    const created = await t.call('POST', '/api/v1/deployments', {
      releaseId: 'v1',
      environmentId: 'prod',
      strategy: 'canary',
      strategyConfig: { waves: [30, 100], approvalBetweenWaves: true },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ batchCount: 2, status: 'running' });
    expect((await t.call('POST', '/api/v1/deployments', { releaseId: 'v1', environmentId: 'prod' })).status).toBe(409);
    const base = `/api/v1/agents/${a.id}/tasks`;
    const lease = await agentCall('POST', `${base}/lease`, a.credential, { max: 10 });
    expect(lease.body.tasks).toHaveLength(1); // wave 1 only
    const task = lease.body.tasks[0];
    expect(task).toMatchObject({ target: { name: 'a' }, attempt: 1, mode: 'deploy' });
    // the lease expires: the task returns to pending and the next lease is attempt 2 with the next fencing token
    await expireLeases(t.db, new Date(Date.parse(task.leaseExpiresAt) + 1000), { signer });
    const again = (await agentCall('POST', `${base}/lease`, a.credential, { max: 10 })).body.tasks[0];
    expect(again).toMatchObject({ attempt: 2, fencingToken: task.fencingToken + 1 });
    const stale = await agentCall('POST', `${base}/${task.taskId}/start`, a.credential, { attempt: 1, fencingToken: task.fencingToken });
    expect(stale).toMatchObject({ status: 409, body: { code: 'lease_superseded' } });
    expect(
      (await agentCall('POST', `${base}/${again.taskId}/start`, a.credential, { attempt: 2, fencingToken: again.fencingToken })).status,
    ).toBe(200);
    const logs = { attempt: 2, fencingToken: again.fencingToken, lines: [{ seq: 0, at: new Date().toISOString(), line: 'hello' }] };
    await agentCall('POST', `${base}/${again.taskId}/logs`, a.credential, logs);
    await agentCall('POST', `${base}/${again.taskId}/logs`, a.credential, logs); // re-sent: no duplicate
    const { stickerFor } = await import('../protocol/deployment.js');
    const report = { attempt: 2, fencingToken: again.fencingToken, status: 'succeeded', sticker: stickerFor(again, new Date()) };
    expect((await agentCall('POST', `${base}/${again.taskId}/report`, a.credential, report)).status).toBe(200);
    let job = (await t.call('GET', `/api/v1/deployments/${created.body.id}`)).body;
    expect(job).toMatchObject({ currentBatch: 1, pausedReason: 'approval', status: 'running' });
    expect((await agentCall('POST', `${base}/lease`, a.credential, { max: 10 })).body.tasks).toHaveLength(0);
    expect((await t.call('GET', `/api/v1/deployments/${created.body.id}/logs`)).body.lines).toHaveLength(1);
    await t.call('POST', `/api/v1/deployments/${created.body.id}/resume`);
    const rest = (await agentCall('POST', `${base}/lease`, a.credential, { max: 10 })).body.tasks;
    expect(rest.map((x: any) => x.target.name).sort()).toEqual(['b', 'c']);
    for (const x of rest) {
      await agentCall('POST', `${base}/${x.taskId}/start`, a.credential, { attempt: 1, fencingToken: x.fencingToken });
      await agentCall('POST', `${base}/${x.taskId}/report`, a.credential, {
        attempt: 1,
        fencingToken: x.fencingToken,
        status: 'succeeded',
        sticker: stickerFor(x, new Date()),
      });
    }
    job = (await t.call('GET', `/api/v1/deployments/${created.body.id}`)).body;
    expect(job.status).toBe('succeeded');
    const target = (await t.call('GET', '/api/v1/targets/b')).body;
    expect(target).toMatchObject({ currentDigest: `sha256:${'a'.repeat(64)}`, healthStatus: 'healthy' });
    const packets = await t.db.query(`SELECT content FROM evidence_packets WHERE packet_type = 'deployment'`);
    expect(packets.rows[0].content).toMatchObject({ outcome: 'succeeded', environment: { name: 'prod' }, promotion: null });
    expect((await t.call('GET', '/api/v1/releases/v1')).body.status).toBe('deployed');
    // a bad sticker hash is refused
    const next = await t.call('POST', '/api/v1/deployments', { releaseId: 'v2', environmentId: 'prod' });
    const tasks = (await agentCall('POST', `${base}/lease`, a.credential, { max: 10 })).body.tasks;
    await agentCall('POST', `${base}/${tasks[0].taskId}/start`, a.credential, { attempt: 1, fencingToken: tasks[0].fencingToken });
    const bad = await agentCall('POST', `${base}/${tasks[0].taskId}/report`, a.credential, {
      attempt: 1,
      fencingToken: tasks[0].fencingToken,
      status: 'succeeded',
      sticker: { content: { x: 1 }, contentHash: `sha256:${'0'.repeat(64)}` },
    });
    expect(bad.status).toBe(400);
    expect((await t.call('POST', `/api/v1/deployments/${next.body.id}/cancel`)).body.status).toBe('cancelled');
  });
});
