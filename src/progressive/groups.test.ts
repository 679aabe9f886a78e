// Rollouts as target groups (no router) over HTTP on real PostgreSQL: ten docker_host targets of an
// environment run the stable release; a scripted agent leases and succeeds (or fails) the deployment
// tasks; the ticker is driven by hand. Checked: each stage change is one job restricted to the targets
// that change sides (1 of 10 at 10 %, 4 more at 50 %, the last 5 at the promotion), a stage that moves no
// target starts no job, a rollback at 50 % returns exactly those 5 to the stable release, a failed job
// pauses the rollout with its error (the next stage change takes its target along), the evidence names
// both groups and the job, and specs mixing the two models (or an environment busy deploying) are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackOutbound } from '../../test/helpers.js';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { type ScriptedAgent, scriptedAgent } from '../../test/scripted-agent.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/logger.js';
import { ephemeralSigner } from '../evidence/signer.js';
import { candidateTargets } from './split.js';
import { RolloutTicker } from './ticker.js';

let f: PromotionFixture;
let agent: ScriptedAgent;
let ticker: RolloutTicker;
const WEB = Array.from({ length: 10 }, (_, i) => `web-${String(i + 1).padStart(2, '0')}`);

// any: tests read arbitrary JSON response shapes
const get = async (path: string): Promise<any> => {
  const r = await f.call('admin', 'GET', path);
  expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body;
};

async function waitJob(id: string): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const j = await get(`/api/v1/deployments/${id}`);
    if (j.status !== 'pending' && j.status !== 'running') return j;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`deployment ${id} did not end`);
}

/** Lets the background agent finish the rollout's job, then steps the ticker until the rollout rests. */
async function settle(id: string): Promise<any> {
  let r = await get(`/api/v1/rollouts/${id}`);
  for (let i = 0; i < 10 && ['running', 'promoting', 'rolling_back'].includes(r.status); i++) {
    if (r.job && ['pending', 'running'].includes(r.job.status)) await waitJob(r.job.id);
    await ticker.step(id, f.tenantId);
    r = await get(`/api/v1/rollouts/${id}`);
  }
  return r;
}

/** The targets a job has tasks for, by name. */
async function touched(jobId: string): Promise<string[]> {
  const j = await get(`/api/v1/deployments/${jobId}`);
  return j.tasks.map((t: { targetName: string }) => t.targetName).sort();
}

async function releasesNow(): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const name of WEB) out[name] = (await get(`/api/v1/targets/${name}`)).currentRelease?.name ?? null;
  return out;
}

const running = (release: string, names: string[]) => Object.fromEntries(names.map((n) => [n, release]));

function spec(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    kind: 'ab',
    environment: 'prod',
    targets: { selector: { tier: 'web' } },
    variations: [
      { name: 'stable', release: 'r1' },
      { name: 'candidate', release: 'r2' },
    ],
    stages: [
      { weight: 10, holdSeconds: 0, approval: true },
      { weight: 50, holdSeconds: 0, approval: true },
      { weight: 100, holdSeconds: 0, approval: true },
    ],
    ...extra,
  };
}

async function packetsOf(id: string): Promise<any[]> {
  const packets = await get('/api/v1/evidence?type=ab_promotion&limit=50');
  return packets.items.filter((p: any) => p.content.rollout.id === id).sort((a: any, b: any) => a.content.at.localeCompare(b.content.at));
}

/** Every web target back on the stable release (a deployment of r1 to the whole environment). */
async function resetToStable(): Promise<void> {
  const job = await f.call('rita', 'POST', '/api/v1/deployments', { releaseId: 'r1', environmentId: 'prod' });
  expect(job.status, JSON.stringify(job.body)).toBe(201);
  const run = agent.run(10);
  expect((await waitJob(job.body.id)).status).toBe('succeeded');
  await run.stop();
  expect(await releasesNow()).toEqual(running('r1', WEB));
}

beforeAll(async () => {
  f = await promotionFixture({ rita: ['release_manager'] });
  const addr = await f.app.listen({ port: 0, host: '127.0.0.1' });
  const env = await f.call('admin', 'POST', '/api/v1/environments', { name: 'prod' });
  expect(env.status).toBe(201);
  for (const [name, tier] of [...WEB.map((n) => [n, 'web']), ['db-1', 'db']] as const) {
    const t = await f.call('admin', 'POST', '/api/v1/targets', {
      name,
      environmentId: env.body.id,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///x.sock' },
      labels: { tier },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
  }
  await f.readyRelease('r1', 'rita');
  await f.readyRelease('r2', 'rita');
  agent = await scriptedAgent(addr, f.tokens.admin!, 'web-agent', ['deploy', 'remove']);
  ticker = new RolloutTicker({
    db: f.db,
    deps: { signer: ephemeralSigner(), clock: systemClock, outbound: loopbackOutbound() },
    logger: createLogger('silent'),
  });
});

let runner: { stop(): Promise<void> } | undefined;
afterAll(async () => {
  await runner?.stop();
});

describe('rollouts as target groups', () => {
  it('puts ceil(weight% × N) of the group on the candidate, in the group order', () => {
    const n = (size: number, w: number) =>
      candidateTargets(
        Array.from({ length: size }, (_, i) => i),
        w,
      );
    expect([0, 10, 11, 50, 99, 100].map((w) => n(10, w).length)).toEqual([0, 1, 2, 5, 10, 10]);
    expect(n(3, 50)).toEqual([0, 1]);
    expect(n(1, 1)).toEqual([0]);
    expect(n(100, 7).length).toBe(7);
  });

  it('deploys the candidate to 1, then 5, then all 10 targets, one job per stage restricted to the targets that change', async () => {
    await resetToStable();
    runner = agent.run(10);
    const c = await f.call('rita', 'POST', '/api/v1/rollouts', spec('web', { reason: 'new front page' }));
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body).toMatchObject({ mode: 'targets', routerTarget: null, router: null, targetSelector: { tier: 'web' }, weight: 10 });
    expect(c.body.variations.map((v: any) => [v.name, v.targets])).toEqual([
      ['stable', WEB.slice(1)],
      ['candidate', ['web-01']],
    ]);
    const id = c.body.id as string;
    const startJob = c.body.job.id as string;
    expect(c.body.steps[0]).toMatchObject({ action: 'start', jobId: startJob });
    expect(await touched(startJob)).toEqual(['web-01']);

    let r = await settle(id);
    expect(r.status).toBe('awaiting_approval');
    expect(r.job).toEqual({ id: startJob, status: 'succeeded', error: null });
    expect(await releasesNow()).toEqual({ ...running('r1', WEB), 'web-01': 'r2' });
    expect((await get('/api/v1/targets/db-1')).currentRelease.name).toBe('r1');

    const adv = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/advance`, { reason: 'clicks up' });
    expect(adv.status, JSON.stringify(adv.body)).toBe(200);
    const advJob = adv.body.job.id as string;
    expect(advJob).not.toBe(startJob);
    expect(await touched(advJob)).toEqual(['web-02', 'web-03', 'web-04', 'web-05']);
    r = await settle(id);
    expect(r.status).toBe('awaiting_approval');
    expect(r.variations[1].targets).toEqual(WEB.slice(0, 5));
    expect(await releasesNow()).toEqual({ ...running('r1', WEB), ...running('r2', WEB.slice(0, 5)) });

    const prom = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/promote`, { reason: 'ship it' });
    expect(prom.status, JSON.stringify(prom.body)).toBe(200);
    expect(prom.body.status).toBe('promoting');
    const promJob = prom.body.job.id as string;
    expect(await touched(promJob)).toEqual(WEB.slice(5));
    r = await settle(id);
    expect(r.status).toBe('promoted');
    expect(r.variations.map((v: any) => [v.name, v.weight, v.targets])).toEqual([
      ['stable', 0, []],
      ['candidate', 100, WEB],
    ]);
    expect(r.steps.map((s: any) => [s.action, s.jobId ?? null])).toEqual([
      ['start', startJob],
      ['advance', advJob],
      ['promote', promJob],
      ['applied', null],
    ]);
    expect(await releasesNow()).toEqual(running('r2', WEB));

    // Each job deployed its release only to its targets; the others are in its plan as skipped, with why.
    const job = await get(`/api/v1/deployments/${advJob}`);
    expect(job).toMatchObject({ releaseName: 'r2', promotionId: null, status: 'succeeded' });
    expect(job.plan.summary).toMatchObject({ deploy: 4, skip: 7 });
    expect(job.plan.targets.find((t: any) => t.name === 'web-01').why).toMatch(/not one of the targets this deployment was asked for/);

    const packets = await packetsOf(id);
    expect(packets.map((p) => p.content.action)).toEqual(['start', 'advance', 'promote']);
    expect(packets[0].content).not.toHaveProperty('router');
    expect(packets[0].content).not.toHaveProperty('split');
    expect(packets[0].content.targets).toEqual({ candidate: ['web-01'], stable: WEB.slice(1) });
    expect(packets[0].content.job).toEqual({ id: startJob, deploys: ['web-01'] });
    expect(packets[1].content.targets.candidate).toEqual(WEB.slice(0, 5));
    expect(packets[1].content.actor.username).toBe('rita');
    expect(packets[2].content.targets).toEqual({ candidate: WEB, stable: [] });
    expect(packets[2].content.job.id).toBe(promJob);
    expect(packets[2].content.variations[1].release.name).toBe('r2');
    await runner.stop();
    runner = undefined;
  });

  it('moves through the stages on the schedule; a stage that changes no target starts no job', async () => {
    await resetToStable();
    runner = agent.run(10);
    const stages = [10, 50, 100].map((weight) => ({ weight, holdSeconds: 0 }));
    const c = await f.call('rita', 'POST', '/api/v1/rollouts', spec('web-auto', { stages }));
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const r = await settle(c.body.id);
    expect(r.status).toBe('promoted');
    const jobs = r.steps.map((s: any) => [s.action, s.actor, s.jobId ? (s.jobId as string) : null]);
    expect(jobs.map((s: any[]) => s.slice(0, 2))).toEqual([
      ['start', 'user:rita'],
      ['advance', 'schedule'],
      ['advance', 'schedule'],
      ['promote', 'schedule'],
      ['applied', 'deployment'],
    ]);
    expect(await touched(jobs[0][2])).toEqual(['web-01']);
    expect(await touched(jobs[1][2])).toEqual(WEB.slice(1, 5));
    expect(await touched(jobs[2][2])).toEqual(WEB.slice(5));
    expect(jobs[3][2]).toBeNull(); // at 100 % every target already runs the candidate
    const promote = (await packetsOf(c.body.id)).find((p) => p.content.action === 'promote');
    expect(promote.content.job).toBeNull();
    expect(promote.content.actor).toEqual({ system: 'schedule' });
    expect(await releasesNow()).toEqual(running('r2', WEB));
    await runner.stop();
    runner = undefined;
  });

  it('a rollback at 50 % deploys the stable release back to exactly those 5 targets', async () => {
    await resetToStable();
    runner = agent.run(10);
    const c = await f.call('rita', 'POST', '/api/v1/rollouts', spec('web-back'));
    const id = c.body.id as string;
    await settle(id);
    await f.call('rita', 'POST', `/api/v1/rollouts/${id}/advance`, { reason: 'more' });
    expect((await settle(id)).status).toBe('awaiting_approval');
    expect(await releasesNow()).toEqual({ ...running('r1', WEB), ...running('r2', WEB.slice(0, 5)) });

    const back = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/rollback`, { reason: 'bounce rate up' });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body.status).toBe('rolling_back');
    const backJob = back.body.job.id as string;
    expect(await touched(backJob)).toEqual(WEB.slice(0, 5));
    expect((await get(`/api/v1/deployments/${backJob}`)).releaseName).toBe('r1');
    const r = await settle(id);
    expect(r.status).toBe('rolled_back');
    expect(r.variations.map((v: any) => [v.name, v.weight, v.targets])).toEqual([
      ['stable', 100, WEB],
      ['candidate', 0, []],
    ]);
    expect(await releasesNow()).toEqual(running('r1', WEB));
    const rollback = (await packetsOf(id)).find((p) => p.content.action === 'rollback');
    expect(rollback.content.targets).toEqual({ candidate: [], stable: WEB });
    expect(rollback.content.job).toEqual({ id: backJob, deploys: WEB.slice(0, 5) });
    expect(rollback.content.reason).toBe('bounce rate up');
    await runner.stop();
    runner = undefined;
  });

  it('a failed deployment pauses the rollout with its error; advancing takes the failed target along, a rollback returns them all', async () => {
    await resetToStable();
    const c = await f.call('rita', 'POST', '/api/v1/rollouts', spec('web-fail'));
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const id = c.body.id as string;
    const [task, ...more] = await agent.lease();
    expect(more).toEqual([]);
    expect(task!.jobId).toBe(c.body.job.id);
    expect(await agent.start(task!)).toBe(200);
    expect(await agent.report(task!, 'failed', 'image pull failed: manifest unknown')).toBe(200);
    expect((await waitJob(c.body.job.id)).status).toBe('failed');
    await ticker.step(id, f.tenantId);
    let r = await get(`/api/v1/rollouts/${id}`);
    expect(r.status).toBe('paused');
    expect(r.statusReason).toMatch(
      /the deployment failed at stage 1: deployment \S+ failed: .*; advance to go on to the next stage \(its change is made in full, so it also retries this one\), or roll back/,
    );
    expect(r.job).toMatchObject({ id: c.body.job.id, status: 'failed' });
    expect(r.steps.at(-1)).toMatchObject({ action: 'failed', actor: 'deployment' });

    // Advancing tries again: the target the failed job left behind is taken along to the next stage.
    runner = agent.run(10);
    const adv = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/advance`, { reason: 'registry fixed' });
    expect(adv.status, JSON.stringify(adv.body)).toBe(200);
    expect(await touched(adv.body.job.id)).toEqual(WEB.slice(0, 5));
    r = await settle(id);
    expect(r.status).toBe('awaiting_approval');
    expect(await releasesNow()).toEqual({ ...running('r1', WEB), ...running('r2', WEB.slice(0, 5)) });
    const back = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/rollback`, { reason: 'pull fails' });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(await touched(back.body.job.id)).toEqual(WEB.slice(0, 5));
    r = await settle(id);
    expect(r.status).toBe('rolled_back');
    expect(await releasesNow()).toEqual(running('r1', WEB));
    await runner.stop();
    runner = undefined;
  });

  it('refuses specs that mix the router and target groups, or lack what their model needs', async () => {
    const both = await f.call('rita', 'POST', '/api/v1/rollouts', {
      ...spec('x'),
      routerTarget: 'web-01',
      router: { type: 'nginx', path: '/etc/nginx/x.json' },
    });
    expect(both.status).toBe(400);
    expect(both.body.detail).toMatch(/either behind a router .* or as target groups .*leave out "routerTarget", "router"/);
    const servers = await f.call('rita', 'POST', '/api/v1/rollouts', {
      ...spec('x'),
      variations: [
        { name: 'stable', release: 'r1', servers: [{ host: '10.0.0.1', port: 80 }] },
        { name: 'candidate', release: 'r2' },
      ],
    });
    expect(servers.status).toBe(400);
    expect(servers.body.detail).toMatch(/leave out the variations' "servers"/);
    const { targets: _t, ...routerSpec } = spec('x');
    const noServers = await f.call('rita', 'POST', '/api/v1/rollouts', {
      ...routerSpec,
      routerTarget: 'web-01',
      router: { type: 'nginx', path: '/etc/nginx/x.json' },
    });
    expect(noServers.status).toBe(400);
    expect(noServers.body.detail).toMatch(/Behind a router each variation needs its "servers".*"stable" and "candidate"/);
    const neither = await f.call('rita', 'POST', '/api/v1/rollouts', routerSpec);
    expect(neither.status).toBe(400);
    expect(neither.body.detail).toMatch(/Give "routerTarget" and "router", or "targets"/);
    const sameRelease = await f.call('rita', 'POST', '/api/v1/rollouts', {
      ...spec('x'),
      variations: [
        { name: 'stable', release: 'r1' },
        { name: 'candidate', release: 'r1' },
      ],
    });
    expect(sameRelease.status).toBe(400);
    expect(sameRelease.body.detail).toMatch(/need different releases/);
    const empty = await f.call('rita', 'POST', '/api/v1/rollouts', { ...spec('x'), targets: { selector: { tier: 'cache' } } });
    expect(empty.status).toBe(422);
    expect(empty.body.detail).toMatch(/no targets with labels \{"tier":"cache"\}/);
    // A stage change is a deployment job: while another job runs in the environment it is refused, and nothing starts.
    const busy = await f.call('rita', 'POST', '/api/v1/deployments', { releaseId: 'r1', environmentId: 'prod' });
    expect(busy.status).toBe(201);
    const refused = await f.call('rita', 'POST', '/api/v1/rollouts', spec('busy'));
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('deployment_in_progress');
    expect((await get('/api/v1/rollouts')).some((r: { name: string }) => r.name === 'busy')).toBe(false);
    expect((await f.call('rita', 'POST', `/api/v1/deployments/${busy.body.id}/cancel`, {})).status).toBe(200);
  });
});
