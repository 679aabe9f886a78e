// Deployment plans and approvals bound to them, against a real PostgreSQL with a running engine (no
// agents: the deployment job is created and its tasks wait): the plan a promotion shows, an approval
// given for a plan, a target joining afterwards (the approval no longer counts, the promotion says why,
// the approver is told), re-approval, and the job executing exactly the approved plan.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';

let f: PromotionFixture;
let envId: string;
let hooksUrl: string;
let hookServer: http.Server;
const hooks: { event?: string; data?: Record<string, unknown> }[] = [];

beforeAll(async () => {
  f = await promotionFixture({ rita: ['release_manager'], bob: ['approver'], carol: ['approver'] });
  hookServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      hooks.push(JSON.parse(body));
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  hooksUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
  const hook = await f.call('admin', 'POST', '/api/v1/integrations', {
    name: 'approvers-chat',
    typeId: 'notification_webhook',
    config: { url: hooksUrl, events: ['promotion.plan_changed'] },
  });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  const env = await f.call('admin', 'POST', '/api/v1/environments', {
    name: 'prod',
    requiredApprovals: 2,
    config: { deployment: { strategy: 'rolling', batchSize: 1 }, targetSelector: { tier: 'web' } },
  });
  expect(env.status, JSON.stringify(env.body)).toBe(201);
  envId = env.body.id;
  for (const [name, tier] of [
    ['web-1', 'web'],
    ['web-2', 'web'],
    ['db-1', 'db'],
  ] as const) {
    const t = await addTarget(name, tier);
    expect(t.status, JSON.stringify(t.body)).toBe(201);
  }
});
afterAll(() => hookServer.close());

const addTarget = (name: string, tier: string) =>
  f.call('admin', 'POST', '/api/v1/targets', {
    name,
    environmentId: envId,
    targetType: 'docker_host',
    connection: { dockerHost: 'unix:///var/run/docker.sock' },
    labels: { tier },
  });

describe('deployment plans', () => {
  it('shows the plan before approval; a target joining after an approval voids it, says why, tells the approver; re-approval deploys exactly the new plan', async () => {
    await f.readyRelease('2.0.0', 'rita');
    const dry = await f.call('rita', 'POST', '/api/v1/deployments/plan', { release: '2.0.0', environment: 'prod' });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.strategy).toBe('rolling');
    expect(dry.body.targets.map((t: { name: string; action: string; batch: number | null }) => [t.name, t.action, t.batch])).toEqual([
      ['web-1', 'deploy', 0],
      ['web-2', 'deploy', 1],
      ['db-1', 'skip', null],
    ]);
    expect(dry.body.targets[2].why).toMatch(/target selector/);
    const created = dry.body.targets[0].components[0];
    expect(created).toMatchObject({ name: 'api', action: 'create', fromDigest: null });
    expect(created.toDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(dry.body.hash).toMatch(/^sha256:[0-9a-f]{64}$/);

    const preview = await f.call('rita', 'POST', '/api/v1/promotions/preview', { releaseId: '2.0.0', targetEnvironmentId: 'prod' });
    expect(preview.body.plan.hash).toBe(dry.body.hash);

    const p = await f.call('rita', 'POST', '/api/v1/promotions', { releaseId: '2.0.0', targetEnvironmentId: 'prod', reason: 'plan test' });
    expect(p.status, JSON.stringify(p.body)).toBe(201);
    const id = p.body.id as string;
    expect(p.body.planHash).toBe(dry.body.hash);
    await f.waitFor(id, ['awaiting_approval']);
    const first = await f.call('bob', 'GET', `/api/v1/promotions/${id}/plan`);
    expect(first.body.plan.hash).toBe(dry.body.hash);

    const bob = await f.call('bob', 'POST', `/api/v1/promotions/${id}/approve`, {
      comment: 'two targets, fine',
      planHash: first.body.planHash,
    });
    expect(bob.status, JSON.stringify(bob.body)).toBe(200);
    expect(bob.body.approvals[0]).toMatchObject({ planHash: dry.body.hash, forCurrentPlan: true });

    // A third web target joins before the second approval: the plan changes.
    expect((await addTarget('web-3', 'web')).status).toBe(201);
    // The approval step looks again (recheck every second here) and records the new plan.
    let changed: any;
    for (let i = 0; i < 100; i++) {
      changed = (await f.call('admin', 'GET', `/api/v1/promotions/${id}`)).body;
      if (changed.planHash !== dry.body.hash) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(changed.planHash).not.toBe(dry.body.hash);
    expect(changed.planChanges.at(-1)).toMatchObject({ from: dry.body.hash, to: changed.planHash });
    expect(changed.planChanges.at(-1).changes).toEqual(['target web-3 joined (deploy)']);
    expect(changed.status).toBe('awaiting_approval');
    expect(changed.blockedReason).toMatch(/0 of 2 approvals.*bob approved an earlier plan.*target web-3 joined/);
    expect(changed.approvals[0]).toMatchObject({ approver: { username: 'bob' }, forCurrentPlan: false });
    // The approver who saw the old plan is told.
    for (let i = 0; i < 100 && !hooks.some((h) => h.event === 'promotion.plan_changed'); i++) await new Promise((r) => setTimeout(r, 50));
    const told = hooks.find((h) => h.event === 'promotion.plan_changed');
    expect(told?.data).toMatchObject({ promotionId: id, approvers: ['bob'], changes: ['target web-3 joined (deploy)'] });

    // Approving the plan one saw before it changed is refused and records nothing.
    const stale = await f.call('carol', 'POST', `/api/v1/promotions/${id}/approve`, { planHash: dry.body.hash });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe('plan_changed');
    expect(stale.body.detail).toMatch(/target web-3 joined/);

    const plan = (await f.call('carol', 'GET', `/api/v1/promotions/${id}/plan`)).body.plan;
    expect(plan.targets.filter((t: { action: string }) => t.action === 'deploy').map((t: { name: string }) => t.name)).toEqual([
      'web-1',
      'web-2',
      'web-3',
    ]);
    expect((await f.call('carol', 'POST', `/api/v1/promotions/${id}/approve`, { planHash: plan.hash })).status).toBe(200);
    expect((await f.call('admin', 'GET', `/api/v1/promotions/${id}`)).body.status).toBe('awaiting_approval');
    // Bob approves again, for the new plan: one person, one approval per plan.
    const again = await f.call('bob', 'POST', `/api/v1/promotions/${id}/approve`, { planHash: plan.hash });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    const done = await f.waitFor(id, ['deploying', 'approved']);
    expect(done.decisionRecord.plan.hash).toBe(plan.hash);

    // The release_decision packet carries the approved plan; the job executes it, target for target.
    const packet = await f.db.query<{ content: any }>(
      `SELECT content FROM evidence_packets WHERE promotion_id = $1 AND packet_type = 'release_decision'`,
      [id],
    );
    expect(packet.rows[0]!.content.plan.hash).toBe(plan.hash);
    let jobId: string | undefined;
    for (let i = 0; i < 100 && !jobId; i++) {
      jobId = (await f.call('admin', 'GET', `/api/v1/promotions/${id}`)).body.deploymentJobIds[0];
      if (!jobId) await new Promise((r) => setTimeout(r, 50));
    }
    const job = (await f.call('admin', 'GET', `/api/v1/deployments/${jobId}`)).body;
    expect(job.planHash).toBe(plan.hash);
    expect(job.plan.hash).toBe(plan.hash);
    const planned = plan.targets
      .filter((t: { action: string }) => t.action !== 'skip')
      .map((t: { name: string; batch: number; components: { name: string; toDigest: string }[] }) => ({
        target: t.name,
        batch: t.batch,
        digests: t.components.map((c) => `${c.name}@${c.toDigest}`),
      }));
    const tasks = job.tasks.map((t: { targetName: string; batch: number; components: { name: string; digest: string }[] }) => ({
      target: t.targetName,
      batch: t.batch,
      digests: t.components.map((c) => `${c.name}@${c.digest}`),
    }));
    expect(tasks).toEqual(planned);
  });

  it('explains a changed strategy and settings, and a target leaving', async () => {
    await f.readyRelease('2.1.0', 'rita');
    const before = (await f.call('rita', 'POST', '/api/v1/deployments/plan', { release: '2.1.0', environment: 'prod' })).body;
    const other = (
      await f.call('rita', 'POST', '/api/v1/deployments/plan', {
        release: '2.1.0',
        environment: 'prod',
        strategyConfig: { services: { api: { env: { LOG_LEVEL: 'debug' } } } },
      })
    ).body;
    expect(other.hash).not.toBe(before.hash);
    const { planChanges } = await import('../deployments/plan.js');
    expect(planChanges(before, other)).toEqual(["the environment's deployment settings changed"]);
    const fewer = { ...before, targets: before.targets.filter((t: { name: string }) => t.name !== 'web-2'), hash: 'x' };
    expect(planChanges(before, fewer)).toEqual(['target web-2 left the environment']);
  });
});
