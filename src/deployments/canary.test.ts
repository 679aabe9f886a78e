import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { createLogger } from '../core/logger.js';
import { ephemeralSigner } from '../evidence/signer.js';
import { stickerFor } from '../protocol/deployment.js';
import { DeploymentScheduler } from './scheduler.js';
import { DEFAULT_SETTINGS } from './settings.js';

describe('canary verification between waves', () => {
  let t: TestApp;
  let scheduler: DeploymentScheduler;
  let agent: { id: string; credential: string };
  const digest = `sha256:${'c'.repeat(64)}`;
  const agentCall: TestApp['agentCall'] = (...a) => t.agentCall(...a);

  const base = () => `/api/v1/agents/${agent.id}/tasks`;
  const heartbeat = () => agentCall('POST', `/api/v1/agents/${agent.id}/heartbeat`, agent.credential, { sessionId: 'canary-session-1' });
  const lease = async () => (await agentCall('POST', `${base()}/lease`, agent.credential, { max: 10 })).body.tasks as any[];
  const stickers = new Map<string, ReturnType<typeof stickerFor>>();
  const succeed = async (task: any) => {
    stickers.set(task.target.id, stickerFor(task, new Date()));
    await agentCall('POST', `${base()}/${task.taskId}/start`, agent.credential, { attempt: task.attempt, fencingToken: task.fencingToken });
    const r = await agentCall('POST', `${base()}/${task.taskId}/report`, agent.credential, {
      attempt: task.attempt,
      fencingToken: task.fencingToken,
      status: 'succeeded',
      sticker: stickers.get(task.target.id),
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  const observe = (task: any, running: boolean) =>
    agentCall('POST', `/api/v1/agents/${agent.id}/observations`, agent.credential, {
      observations: [
        {
          targetId: task.target.id,
          components: [
            { component: 'app', containerName: `gantry-${task.target.name}-app`, containerId: 'c0ffee', image: null, digest, running },
          ],
          sticker: stickers.get(task.target.id) ?? null,
        },
      ],
    });
  const job = async (id: string) => (await t.call('GET', `/api/v1/deployments/${id}`)).body;
  const sweep = async () => {
    await heartbeat();
    await scheduler.sweep();
  };
  const deploy = async (env: string, cfg: Record<string, unknown>) => {
    const r = await t.call('POST', '/api/v1/deployments', { releaseId: 'c1', environmentId: env, strategy: 'canary', strategyConfig: cfg });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  };

  beforeAll(async () => {
    t = await createTestApp();
    const signer = ephemeralSigner();
    scheduler = new DeploymentScheduler({
      db: t.db,
      clock: t.clock,
      settings: DEFAULT_SETTINGS,
      progress: { signer },
      logger: createLogger('silent'),
    });
    for (const env of ['ok', 'bad']) {
      const e = await t.call('POST', '/api/v1/environments', { name: env });
      for (const n of ['1', '2', '3']) {
        const r = await t.call('POST', '/api/v1/targets', {
          name: `${env}-${n}`,
          environmentId: e.body.id,
          targetType: 'docker_host',
          connection: { dockerHost: 'unix:///x.sock' },
        });
        expect(r.status).toBe(201);
      }
    }
    await t.call('POST', '/api/v1/components', { name: 'app', imageRepository: 'r.example.com/app' });
    const rel = await t.call('POST', '/api/v1/releases', { name: 'c1', components: [{ component: 'app', digest }] });
    expect((await t.call('POST', `/api/v1/releases/${rel.body.id}/ready`)).status).toBe(200);
    const tok = await t.call('POST', '/api/v1/agents/tokens', { expiresInSeconds: 60 });
    const reg = await agentCall(
      'POST',
      '/api/v1/agents/register',
      undefined,
      { name: 'canary-agent', capabilities: { executors: ['docker_host'] } },
      { 'x-agent-token': tok.body.token },
    );
    agent = { id: reg.body.agentId, credential: reg.body.credential };
    await heartbeat();
  });

  it('holds the next wave for verifySeconds, then releases it after a healthy window', async () => {
    const id = await deploy('ok', { waves: [30, 100], verifySeconds: 60 });
    const wave1 = await lease();
    expect(wave1.map((x) => x.target.name)).toEqual(['ok-1']);
    await succeed(wave1[0]);
    expect(await job(id)).toMatchObject({ status: 'running', currentBatch: 0, pausedReason: 'verify' });
    expect(await lease()).toHaveLength(0);
    expect((await t.call('POST', `/api/v1/deployments/${id}/resume`)).body.code).toBe('deployment_verifying');

    await sweep(); // opens the window: now + 60 s
    t.clock.advance(30_000);
    expect((await observe(wave1[0], true)).status).toBe(200); // the agent sees it running during the window
    await sweep();
    expect(await job(id)).toMatchObject({ currentBatch: 0, pausedReason: 'verify' });
    expect(await lease()).toHaveLength(0);

    t.clock.advance(30_001);
    await sweep();
    expect(await job(id)).toMatchObject({ status: 'running', currentBatch: 1, pausedReason: null });
    const wave2 = await lease();
    expect(wave2.map((x) => x.target.name).sort()).toEqual(['ok-2', 'ok-3']);
    for (const x of wave2) await succeed(x);
    // The last wave is verified too: the job ends only when its window ended healthy.
    expect(await job(id)).toMatchObject({ status: 'running', currentBatch: 1, pausedReason: 'verify' });
    await sweep();
    const last = await job(id);
    expect(Date.parse(last.verifyUntil) - Date.parse(last.verifyStartedAt)).toBe(60_000);
    t.clock.advance(59_000);
    await sweep();
    expect((await job(id)).status).toBe('running');
    t.clock.advance(1_001);
    await sweep();
    expect(await job(id)).toMatchObject({ status: 'succeeded', verifyUntil: null });

    const lines = (await t.call('GET', `/api/v1/deployments/${id}/logs`)).body.lines.map((l: any) => l.line);
    expect(lines.some((l: string) => l.startsWith('canary: verifying wave 1 (ok-1) until '))).toBe(true);
    expect(lines).toContain('canary: wave 1 verified healthy (ok-1)');
    expect(lines).toContain('canary: wave 2 verified healthy (ok-2, ok-3)');
    const packet = await t.db.query(`SELECT content FROM evidence_packets WHERE content->'job'->>'id' = $1`, [id]);
    expect(packet.rows[0].content.verification).toMatchObject([
      { wave: 1, outcome: 'passed', unhealthy: [], targets: [{ name: 'ok-1', healthStatus: 'healthy', observedInWindow: true }] },
      { wave: 2, outcome: 'passed', unhealthy: [] },
    ]);
  });

  it('fails the job when a target of the wave is reported unhealthy during the window', async () => {
    const id = await deploy('bad', { waves: [30, 100], verifySeconds: 120, failureBehavior: 'rollback' });
    const wave1 = await lease();
    expect(wave1.map((x) => x.target.name)).toEqual(['bad-1']);
    await succeed(wave1[0]);
    await sweep();
    t.clock.advance(10_000);
    await sweep();
    expect(await job(id)).toMatchObject({ status: 'running', pausedReason: 'verify' });

    t.clock.advance(10_000);
    await observe(wave1[0], false); // the container stopped
    expect(await lease()).toHaveLength(0);
    await sweep(); // fails at once, before the window ends
    const j = await job(id);
    expect(j).toMatchObject({ status: 'failed', currentBatch: 0 });
    expect(j.error).toContain('canary verification of wave 1 failed: bad-1 reported unhealthy');
    const byName = Object.fromEntries(j.tasks.map((x: any) => [x.targetName, x]));
    expect(byName['bad-1']).toMatchObject({ status: 'failed' });
    expect(byName['bad-1'].error).toContain('bad-1 reported unhealthy');
    expect(byName['bad-2'].status).toBe('skipped');
    expect(byName['bad-3'].status).toBe('skipped');
    expect(await lease()).toHaveLength(0);
    const packet = await t.db.query(`SELECT content FROM evidence_packets WHERE content->'job'->>'id' = $1`, [id]);
    expect(packet.rows[0].content).toMatchObject({
      outcome: 'failed',
      verification: [{ wave: 1, outcome: 'failed', unhealthy: ['bad-1'] }],
    });
  });
});
