import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { createLogger } from '../core/logger.js';
import { ephemeralSigner } from '../evidence/signer.js';
import { stickerFor } from '../protocol/deployment.js';
import { DeploymentScheduler } from './scheduler.js';
import { DEFAULT_SETTINGS } from './settings.js';

// Control semantics at the store level, with a scripted agent: pause → resume → completes, a canary whose
// last wave fails its verification rolls back, and the rollback of a first-ever deployment removes.
describe('deployment control: pause and resume, canary last wave, first-deployment rollback', () => {
  let t: TestApp;
  let scheduler: DeploymentScheduler;
  let agent: { id: string; credential: string };
  const d0 = `sha256:${'0'.repeat(64)}`;
  const d1 = `sha256:${'1'.repeat(64)}`;
  const agentCall: TestApp['agentCall'] = (...a) => t.agentCall(...a);

  const base = () => `/api/v1/agents/${agent.id}/tasks`;
  const heartbeat = (capabilities?: Record<string, unknown>) =>
    agentCall('POST', `/api/v1/agents/${agent.id}/heartbeat`, agent.credential, {
      sessionId: 'control-session-1',
      ...(capabilities ? { capabilities } : {}),
    });
  const lease = async () => (await agentCall('POST', `${base()}/lease`, agent.credential, { max: 10 })).body.tasks as any[];
  /** What a converged target reports: each component's container at its digest, healthy (or gone, for a removal). */
  const observedFor = (task: any) =>
    task.components.map((c: any, i: number) =>
      task.action === 'remove'
        ? {
            component: c.name,
            containerName: `gantry-${task.target.name}-${c.name}`,
            containerId: null,
            image: null,
            digest: null,
            running: false,
            observedAt: new Date().toISOString(),
            health: { status: 'absent', detail: 'no container' },
          }
        : {
            component: c.name,
            containerName: `gantry-${task.target.name}-${c.name}`,
            containerId: `c0ffee${i}`,
            image: `${c.image}@${c.digest}`,
            digest: c.digest,
            running: true,
            observedAt: new Date().toISOString(),
            health: { status: 'healthy', detail: 'healthy', probes: 1 },
          },
    );
  const report = async (task: any, status: 'succeeded' | 'failed') => {
    await agentCall('POST', `${base()}/${task.taskId}/start`, agent.credential, { attempt: task.attempt, fencingToken: task.fencingToken });
    const r = await agentCall('POST', `${base()}/${task.taskId}/report`, agent.credential, {
      attempt: task.attempt,
      fencingToken: task.fencingToken,
      status,
      ...(status === 'failed' ? { error: 'web is unhealthy: GET / answered 500' } : {}),
      ...(status === 'succeeded' && task.action !== 'remove' ? { sticker: stickerFor(task, new Date()) } : {}),
      observed: observedFor(task),
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  const observe = (task: any, running: boolean) =>
    agentCall('POST', `/api/v1/agents/${agent.id}/observations`, agent.credential, {
      observations: [
        {
          targetId: task.target.id,
          components: [
            {
              component: 'web',
              containerName: `gantry-${task.target.name}-web`,
              containerId: 'c0ffee',
              image: null,
              digest: task.components[0].digest,
              running,
            },
          ],
          sticker: null,
        },
      ],
    });
  const job = async (id: string) => (await t.call('GET', `/api/v1/deployments/${id}`)).body;
  const sweep = async () => {
    await heartbeat();
    await scheduler.sweep();
  };
  const deploy = async (release: string, env: string, strategy: string, cfg: Record<string, unknown>) => {
    const r = await t.call('POST', '/api/v1/deployments', { releaseId: release, environmentId: env, strategy, strategyConfig: cfg });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  };
  const packetOf = async (jobId: string) =>
    (await t.db.query(`SELECT packet_type, content FROM evidence_packets WHERE content->'job'->>'id' = $1`, [jobId])).rows[0];

  beforeAll(async () => {
    t = await createTestApp();
    scheduler = new DeploymentScheduler({
      db: t.db,
      clock: t.clock,
      settings: DEFAULT_SETTINGS,
      progress: { signer: ephemeralSigner() },
      logger: createLogger('silent'),
    });
    for (const env of ['pz', 'cl', 'fe']) {
      const e = await t.call('POST', '/api/v1/environments', { name: env });
      for (const n of ['1', '2', '3']) {
        if (env !== 'pz' && n === '3') continue;
        const r = await t.call('POST', '/api/v1/targets', {
          name: `${env}-${n}`,
          environmentId: e.body.id,
          targetType: 'docker_host',
          connection: { dockerHost: 'unix:///x.sock' },
        });
        expect(r.status).toBe(201);
      }
    }
    await t.call('POST', '/api/v1/components', { name: 'web', imageRepository: 'r.example.com/web' });
    for (const [name, digest] of [
      ['v0', d0],
      ['v1', d1],
    ] as const) {
      const rel = await t.call('POST', '/api/v1/releases', { name, components: [{ component: 'web', digest }] });
      expect((await t.call('POST', `/api/v1/releases/${rel.body.id}/ready`)).status).toBe(200);
    }
    const tok = await t.call('POST', '/api/v1/agents/tokens', { expiresInSeconds: 60 });
    const reg = await agentCall(
      'POST',
      '/api/v1/agents/register',
      undefined,
      { name: 'control-agent', capabilities: { executors: ['docker_host'] } },
      { 'x-agent-token': tok.body.token },
    );
    agent = { id: reg.body.agentId, credential: reg.body.credential };
    await heartbeat();
  });

  it('pause → resume → completes: the failures that caused the pause are acknowledged, a new one pauses again', async () => {
    const id = await deploy('v1', 'pz', 'rolling', { batchSize: 1, failureBehavior: 'pause' });
    const b1 = await lease();
    expect(b1.map((x) => x.target.name)).toEqual(['pz-1']);
    await report(b1[0], 'failed');
    expect(await job(id)).toMatchObject({ status: 'running', pausedReason: 'failure', currentBatch: 0, acknowledgedFailures: 0 });
    expect(await lease()).toHaveLength(0);
    await sweep(); // the scheduler does not move a paused job on
    expect(await job(id)).toMatchObject({ pausedReason: 'failure', currentBatch: 0 });

    const resumed = await t.call('POST', `/api/v1/deployments/${id}/resume`);
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    // The next batch is released by the resume itself; the job does not pause again on the old failure.
    expect(resumed.body).toMatchObject({ status: 'running', pausedReason: null, currentBatch: 1, acknowledgedFailures: 1 });
    const b2 = await lease();
    expect(b2.map((x) => x.target.name)).toEqual(['pz-2']);
    await report(b2[0], 'failed'); // a new failure still counts
    expect(await job(id)).toMatchObject({ status: 'running', pausedReason: 'failure', currentBatch: 1 });

    expect((await t.call('POST', `/api/v1/deployments/${id}/resume`)).body).toMatchObject({ currentBatch: 2, acknowledgedFailures: 2 });
    const b3 = await lease();
    expect(b3.map((x) => x.target.name)).toEqual(['pz-3']);
    await report(b3[0], 'succeeded');
    const done = await job(id);
    expect(done).toMatchObject({ status: 'succeeded', pausedReason: null, acknowledgedFailures: 2 });
    expect(done.tasks.map((x: any) => [x.targetName, x.status])).toEqual([
      ['pz-1', 'failed'],
      ['pz-2', 'failed'],
      ['pz-3', 'succeeded'],
    ]);
    const packet = await packetOf(id);
    expect(packet.content).toMatchObject({ outcome: 'succeeded', acknowledgedFailures: 2 });
  });

  it('canary verifies the last wave too, and a failed last-wave verification rolls the job back', async () => {
    // Both targets run v0 first, so the rollback has somewhere to return to.
    const first = await deploy('v0', 'cl', 'all_at_once', {});
    for (const x of await lease()) await report(x, 'succeeded');
    expect((await job(first)).status).toBe('succeeded');

    const id = await deploy('v1', 'cl', 'canary', { waves: [50, 100], verifySeconds: 60, failureBehavior: 'rollback' });
    const wave1 = await lease();
    expect(wave1.map((x) => x.target.name)).toEqual(['cl-1']);
    await report(wave1[0], 'succeeded');
    await sweep(); // opens wave 1's window
    const verifying = await job(id);
    expect(verifying).toMatchObject({ pausedReason: 'verify', currentBatch: 0 });
    expect(Date.parse(verifying.verifyUntil) - Date.parse(verifying.verifyStartedAt)).toBe(60_000);
    t.clock.advance(60_001);
    await sweep();
    const wave2 = await lease();
    expect(wave2.map((x) => x.target.name)).toEqual(['cl-2']);
    await report(wave2[0], 'succeeded');
    // The last wave's tasks ended, but the job waits for its verification.
    expect(await job(id)).toMatchObject({ status: 'running', currentBatch: 1, pausedReason: 'verify' });
    await sweep();
    const last = await job(id);
    expect(last.verifyUntil).not.toBeNull();
    expect(last.verification).toMatchObject([{ wave: 1, outcome: 'passed' }]);
    t.clock.advance(20_000);
    await observe(wave2[0], false); // cl-2's container stopped during the last window
    await sweep();

    const failed = await job(id);
    expect(failed).toMatchObject({ status: 'failed', verifyUntil: null });
    expect(failed.error).toContain('canary verification of wave 2 failed: cl-2 reported unhealthy');
    expect(failed.verification).toMatchObject([
      { wave: 1, outcome: 'passed' },
      { wave: 2, outcome: 'failed', unhealthy: ['cl-2'] },
    ]);
    expect(Date.parse(failed.verification[1].until) - Date.parse(failed.verification[1].startedAt)).toBe(60_000);
    const rb = await t.db.query('SELECT id FROM deployment_jobs WHERE rollback_of = $1', [id]);
    expect(rb.rows).toHaveLength(1);
    const rollback = await job(rb.rows[0].id);
    expect(rollback.tasks.map((x: any) => [x.targetName, x.action, x.components[0].digest])).toEqual([
      ['cl-1', 'deploy', d0],
      ['cl-2', 'deploy', d0],
    ]);
    for (const x of await lease()) await report(x, 'succeeded');
    expect((await job(rb.rows[0].id)).status).toBe('succeeded');
    expect((await packetOf(id)).content.verification).toHaveLength(2);
  });

  it('rolls back a first-ever deployment by removing what Gantry created, and the evidence says so per target', async () => {
    // fe-2 ran v0 before; fe-1 never ran anything.
    const seed = await deploy('v0', 'fe', 'all_at_once', {});
    const seeded = await lease();
    expect(seeded).toHaveLength(2);
    await report(
      seeded.find((x) => x.target.name === 'fe-2'),
      'succeeded',
    );
    await report(
      seeded.find((x) => x.target.name === 'fe-1'),
      'failed',
    );
    expect((await job(seed)).status).toBe('failed');
    expect((await t.call('GET', '/api/v1/targets/fe-1')).body.currentDigest).toBeNull();

    const id = await deploy('v1', 'fe', 'all_at_once', {});
    for (const x of await lease()) await report(x, 'succeeded');
    const deployed = await job(id);
    expect(deployed.status).toBe('succeeded');
    expect(deployed.tasks[0].observed).toMatchObject([{ containerId: 'c0ffee0', digest: d1, health: { status: 'healthy' } }]);
    const dp = await packetOf(id);
    for (const target of dp.content.targets) {
      expect(target.observed).toMatchObject([{ component: 'web', containerId: 'c0ffee0', digest: d1, health: { status: 'healthy' } }]);
      expect(typeof target.observed[0].observedAt).toBe('string');
    }

    const rb = await t.call('POST', `/api/v1/deployments/${id}/rollback`);
    expect(rb.status, JSON.stringify(rb.body)).toBe(201);
    const byName = Object.fromEntries(rb.body.tasks.map((x: any) => [x.targetName, x]));
    expect(byName['fe-1']).toMatchObject({ action: 'remove', components: [{ name: 'web', digest: d1 }] });
    expect(byName['fe-2']).toMatchObject({ action: 'deploy', components: [{ name: 'web', digest: d0 }] });

    // An agent that does not declare removal tasks never gets one (it would deploy instead), and the task says why it waits.
    expect(byName['fe-1'].waitingReason).toMatch(
      /^no online agent serves fe-1: the removal \(rollback of a first-ever deployment\) needs an agent that runs removal tasks/,
    );
    expect(byName['fe-2'].waitingReason).toBeNull();
    const plain = await lease();
    expect(plain.map((x) => [x.target.name, x.action])).toEqual([['fe-2', 'deploy']]);
    await report(plain[0], 'succeeded');
    expect(await lease()).toHaveLength(0);
    await heartbeat({ executors: ['docker_host'], actions: ['deploy', 'remove'] });
    await scheduler.sweep();
    expect((await job(rb.body.id)).tasks.find((x: any) => x.targetName === 'fe-1').waitingReason).toBeNull();
    const removal = await lease();
    expect(removal.map((x) => [x.target.name, x.action, x.mode])).toEqual([['fe-1', 'remove', 'rollback']]);
    await report(removal[0], 'succeeded');

    const done = await job(rb.body.id);
    expect(done.status).toBe('succeeded');
    const fe1 = (await t.call('GET', '/api/v1/targets/fe-1')).body;
    expect(fe1).toMatchObject({ currentDigest: null });
    expect((await t.call('GET', '/api/v1/targets/fe-2')).body.currentDigest).toBe(d0);
    const packet = await packetOf(rb.body.id);
    expect(packet.packet_type).toBe('rollback');
    const targets = Object.fromEntries(packet.content.targets.map((x: any) => [x.target.name, x]));
    expect(targets['fe-1']).toMatchObject({
      action: 'remove',
      removal: { removed: true },
      observed: [{ containerId: null, health: { status: 'absent' } }],
    });
    expect(targets['fe-1'].removal.reason).toContain('first to this target');
    expect(targets['fe-2'].action).toBe('deploy');
    expect(targets['fe-2'].removal).toBeUndefined();
  });
});
