// Per-target truth (current release from the latest successful task, digests per component, who serves
// the target, last observation, the task waiting on it and why) and the target's history; unobservable
// targets are not drifted; next actions per environment follow what the API would accept.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, joinAgent, type TestApp } from '../../test/helpers.js';
import { type AgentTask, stickerFor } from '../protocol/deployment.js';

describe('per-target truth and next actions', () => {
  let t: TestApp;
  let agent: { id: string; credential: string };
  let viewerToken: string;
  const d = (c: string) => `sha256:${c.repeat(64)}`;

  const agentCall = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    t.agentCall('POST', url, undefined, body, headers);

  const asAgent = {
    get authorization() {
      return `Bearer ${agent.credential}`;
    },
  };

  /** Leases every released task and reports it: succeeded, unless the target is in `fail`. */
  async function runTasks(fail: string[] = []): Promise<number> {
    const base = `/api/v1/agents/${agent.id}/tasks`;
    const leased = (await agentCall(`${base}/lease`, { max: 20 }, { ...asAgent })).body.tasks as (AgentTask & { taskId: string })[];
    for (const task of leased) {
      await agentCall(`${base}/${task.taskId}/start`, { attempt: task.attempt, fencingToken: task.fencingToken }, { ...asAgent });
      const failed = fail.includes(task.target.name);
      const r = await agentCall(
        `${base}/${task.taskId}/report`,
        {
          attempt: task.attempt,
          fencingToken: task.fencingToken,
          status: failed ? 'failed' : 'succeeded',
          ...(failed ? { error: 'container exited' } : { sticker: stickerFor(task, new Date()) }),
        },
        { ...asAgent },
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    return leased.length;
  }

  async function deploy(release: string, env: string, fail: string[] = []) {
    const job = await t.call('POST', '/api/v1/deployments', { releaseId: release, environmentId: env });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    await runTasks(fail);
    return job.body.id as string;
  }

  beforeAll(async () => {
    t = await createTestApp();
    for (const name of ['dev', 'qa', 'prod']) expect((await t.call('POST', '/api/v1/environments', { name })).status).toBe(201);
    const targets: [string, string, Record<string, string>][] = [
      ['dev-1', 'dev', {}],
      ['qa-1', 'qa', { zone: 'a' }],
      ['qa-2', 'qa', { zone: 'b' }],
      ['prod-1', 'prod', { agent: 'edge-9' }],
    ];
    for (const [name, env, labels] of targets) {
      const r = await t.call('POST', '/api/v1/targets', {
        name,
        environmentId: (await t.call('GET', `/api/v1/environments/${env}`)).body.id,
        targetType: 'docker_host',
        connection: { dockerHost: 'unix:///x.sock' },
        labels,
      });
      expect(r.status).toBe(201);
    }
    await t.call('POST', '/api/v1/components', { name: 'web', imageRepository: 'r.example.com/web' });
    for (const [name, c] of [
      ['1.4.0', 'a'],
      ['1.5.0', 'b'],
    ] as const) {
      const r = await t.call('POST', '/api/v1/releases', { name, components: [{ component: 'web', digest: d(c) }] });
      expect((await t.call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    }
    const joined = await joinAgent(t, 'edge-1');
    agent = { id: joined.id, credential: joined.credential };
    const viewer = await t.call('POST', '/api/v1/users', { username: 'vera', roles: ['viewer'] });
    viewerToken = (await t.call('POST', '/api/v1/tokens', { name: 'vera', userId: viewer.body.id })).body.secret;
  });

  it('reports each target’s own release, digests, serving agent and history, not its environment’s last release', async () => {
    // qa: 1.4.0 reaches qa-1 only, then 1.5.0 reaches qa-1 only; qa-2 never gets anything.
    await deploy('1.4.0', 'qa', ['qa-2']);
    await deploy('1.5.0', 'qa', ['qa-2']);
    const q1 = (await t.call('GET', '/api/v1/targets/qa-1')).body;
    expect(q1).toMatchObject({
      currentRelease: { name: '1.5.0' },
      currentComponents: [{ name: 'web', image: 'r.example.com/web', digest: d('b') }],
      servedBy: { kind: 'agent', id: agent.id, name: 'edge-1' },
      observation: { state: 'never', at: null, error: null },
      waiting: null,
    });
    const q2 = (await t.call('GET', '/api/v1/targets/qa-2')).body;
    expect(q2).toMatchObject({ currentRelease: null, currentComponents: [], servedBy: null });
    const list = (await t.call('GET', '/api/v1/targets?environment=qa')).body.items;
    expect(list.map((x: { name: string; currentRelease: { name: string } | null }) => [x.name, x.currentRelease?.name ?? null])).toEqual([
      ['qa-1', '1.5.0'],
      ['qa-2', null],
    ]);

    const h1 = (await t.call('GET', '/api/v1/targets/qa-1/history')).body;
    expect(h1.items.map((x: { release: { name: string }; status: string }) => [x.release.name, x.status])).toEqual([
      ['1.5.0', 'succeeded'],
      ['1.4.0', 'succeeded'],
    ]);
    expect(h1.items[0]).toMatchObject({
      previousRelease: { name: '1.4.0' },
      components: [{ name: 'web', digest: d('b'), previousDigest: d('a') }],
      agent: { id: agent.id, name: 'edge-1' },
      promotionId: null,
      rollback: false,
    });
    expect(h1.items[0].completedAt).toEqual(expect.any(String));
    const h2 = (await t.call('GET', '/api/v1/targets/qa-2/history?limit=1')).body;
    expect(h2.items).toHaveLength(1);
    expect(h2.items[0]).toMatchObject({ release: { name: '1.5.0' }, status: 'failed', error: 'container exited' });
    const more = (await t.call('GET', `/api/v1/targets/qa-2/history?limit=1&cursor=${h2.nextCursor}`)).body;
    expect(more.items[0]).toMatchObject({ release: { name: '1.4.0' }, status: 'failed' });
    expect((await t.call('GET', '/api/v1/targets/nope/history')).status).toBe(404);
  });

  it('says why a target no online agent can serve is waiting, instead of pending with no reason', async () => {
    const job = await t.call('POST', '/api/v1/deployments', { releaseId: '1.5.0', environmentId: 'prod' });
    expect(job.status).toBe(201);
    const p1 = (await t.call('GET', '/api/v1/targets/prod-1')).body;
    expect(p1.waiting).toMatchObject({ jobId: job.body.id, status: 'pending' });
    expect(p1.waiting.reason).toMatch(/no online agent serves prod-1: needs agent=edge-9, and no agent has that name/);
    expect((await t.call('POST', `/api/v1/deployments/${job.body.id}/cancel`)).status).toBe(200);
    expect((await t.call('GET', '/api/v1/targets/prod-1')).body.waiting).toBeNull();
  });

  it('records an observation that cannot see anything as unobservable, not as drift or degraded health', async () => {
    const q1 = (await t.call('GET', '/api/v1/targets/qa-1')).body;
    const r = await agentCall(
      `/api/v1/agents/${agent.id}/observations`,
      { observations: [{ targetId: q1.id, components: [], sticker: null, error: 'the noop executor observes nothing' }] },
      { ...asAgent },
    );
    expect(r.status).toBe(200);
    expect(r.body.drifted).toBe(0);
    const after = (await t.call('GET', '/api/v1/targets/qa-1')).body;
    expect(after.observation).toMatchObject({ state: 'unobservable', error: 'the noop executor observes nothing' });
    expect(after.observation.at).toEqual(expect.any(String));
    expect(after.healthStatus).toBe('healthy');
    const drift = (await t.call('GET', '/api/v1/drift?environment=qa')).body.items.find(
      (x: { targetName: string }) => x.targetName === 'qa-1',
    );
    expect(drift).toMatchObject({ driftDetected: false, drift: [], unobservable: 'the noop executor observes nothing' });
    // A real observation that differs is drift again.
    await agentCall(
      `/api/v1/agents/${agent.id}/observations`,
      {
        observations: [
          {
            targetId: q1.id,
            components: [{ component: 'web', containerName: 'web', containerId: 'c1', image: 'x', digest: d('f'), running: true }],
            sticker: null,
          },
        ],
      },
      { ...asAgent },
    );
    const drifted = (await t.call('GET', '/api/v1/targets/qa-1')).body;
    expect(drifted.observation.state).toBe('observed');
    expect(drifted.healthStatus).toBe('degraded');
  });

  it('next actions: offers only what the API would accept, with the reason for the rest', async () => {
    // dev runs nothing; 1.5.0 → dev is available, and 1.4.0 too (dev is first: no order gate).
    const dev = (await t.call('GET', '/api/v1/environments/dev/next-actions')).body;
    expect(dev.canRequest).toBe(true);
    expect(
      dev.items.map((i: { release: { name: string }; state: string; canRequest: boolean }) => [i.release.name, i.state, i.canRequest]),
    ).toEqual([
      ['1.5.0', 'available', true],
      ['1.4.0', 'available', true],
    ]);
    expect(dev.recommendedReleaseId).toBe(dev.items[0].release.id);
    expect(dev.items[0].gates.map((g: { gate: string }) => g.gate)).toContain('environment_order');

    // Deploy 1.5.0 to dev: now it runs on every dev target, so it is not offered there.
    await deploy('1.5.0', 'dev');
    const dev2 = (await t.call('GET', '/api/v1/environments/dev/next-actions')).body;
    const running = dev2.items.find((i: { release: { name: string } }) => i.release.name === '1.5.0');
    expect(running).toMatchObject({ state: 'running', canRequest: false, targets: { running: 1, total: 1 } });
    expect(running.reason).toMatch(/already runs on every target of "dev"/);

    // qa: 1.5.0 is on one of two targets and passed dev (environment order) → available; 1.4.0 never reached dev → blocked.
    const qa = (await t.call('GET', '/api/v1/environments/qa/next-actions')).body;
    const byName = new Map(qa.items.map((i: { release: { name: string } }) => [i.release.name, i]));
    expect(byName.get('1.5.0')).toMatchObject({ state: 'available', canRequest: true, targets: { running: 1, total: 2 } });
    expect(byName.get('1.4.0')).toMatchObject({ state: 'blocked', canRequest: false });
    expect((byName.get('1.4.0') as { reason: string }).reason).toMatch(/environment_order: release 1\.4\.0 has not been deployed to "dev"/);
    expect(qa.recommendedReleaseId).toBe((byName.get('1.5.0') as { release: { id: string } }).release.id);

    // A promotion in flight: not offered again, and the API refuses the duplicate.
    const p = await t.call('POST', '/api/v1/promotions', { releaseId: '1.5.0', targetEnvironmentId: 'qa', reason: 'test' });
    expect(p.status).toBe(201);
    const qa2 = (await t.call('GET', '/api/v1/environments/qa/next-actions')).body;
    const inFlight = qa2.items.find((i: { release: { name: string } }) => i.release.name === '1.5.0');
    expect(inFlight).toMatchObject({ state: 'in_progress', canRequest: false, activePromotion: { id: p.body.id } });
    expect(qa2.recommendedReleaseId).toBeNull();
    expect((await t.call('POST', '/api/v1/promotions', { releaseId: '1.5.0', targetEnvironmentId: 'qa' })).status).toBe(409);

    // A viewer sees the same verdicts but may request nothing, with the reason.
    const asViewer = (await t.call('GET', '/api/v1/environments/dev/next-actions', undefined, viewerToken)).body;
    expect(asViewer.canRequest).toBe(false);
    expect(asViewer.roleReason).toMatch(/needs the role release_manager or admin; you have viewer/);
    const avail = asViewer.items.find((i: { release: { name: string } }) => i.release.name === '1.4.0');
    expect(avail).toMatchObject({ state: 'available', canRequest: false });
    expect(avail.reason).toBe(asViewer.roleReason);
    expect(asViewer.recommendedReleaseId).toBeNull();
    expect((await t.call('GET', '/api/v1/environments/nope/next-actions')).status).toBe(404);
  });

  it('next actions of every environment in one request answer as each environment’s own', async () => {
    // The gate inputs carry the moment of evaluation; everything else must be the same.
    const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v), (k, x) => (k === 'now' || k === 'requestedAt' ? undefined : x));
    for (const token of [undefined, viewerToken]) {
      const all = await t.call('GET', '/api/v1/next-actions', undefined, token);
      expect(all.status).toBe(200);
      const envs = (await t.call('GET', '/api/v1/environments?limit=500')).body.items as { id: string; name: string }[];
      expect(all.body.items.map((a: { environment: { name: string } }) => a.environment.name)).toEqual(envs.map((e) => e.name));
      const states = new Set<string>();
      for (const [i, env] of envs.entries()) {
        const one = (await t.call('GET', `/api/v1/environments/${env.id}/next-actions`, undefined, token)).body;
        expect(strip(all.body.items[i])).toEqual(strip(one));
        for (const item of one.items as { state: string; release: { id: string }; gates: unknown[] }[]) {
          states.add(item.state);
          if (item.gates.length === 0) continue;
          // Each gate's verdict is the one the promotion preview (the full context, plan included) gives.
          const preview = (
            await t.call('POST', '/api/v1/promotions/preview', { releaseId: item.release.id, targetEnvironmentId: env.id }, token)
          ).body;
          const verdicts = (gs: { gate: string; status: string; reason: string }[]) => gs.map((g) => [g.gate, g.status, g.reason]);
          expect(verdicts(item.gates as never)).toEqual(verdicts(preview.gates));
        }
      }
      // The comparison covers every kind of answer.
      expect([...states].sort()).toEqual(['available', 'blocked', 'in_progress', 'running']);
    }
    expect((await t.call('GET', '/api/v1/next-actions?limit=0')).status).toBe(400);
  });

  it('the target summary per environment counts what the target list and the drift verdicts give', async () => {
    // Every state at once: dev-1 unobservable, qa-1 drifted (above), qa-2 nothing deployed, prod-1 waiting
    // (prod-2 and prod-3 come after the job: nothing to wait for).
    const dev1 = (await t.call('GET', '/api/v1/targets/dev-1')).body;
    await agentCall(
      `/api/v1/agents/${agent.id}/observations`,
      { observations: [{ targetId: dev1.id, components: [], sticker: null, error: 'the noop executor observes nothing' }] },
      { ...asAgent },
    );
    expect((await t.call('POST', '/api/v1/deployments', { releaseId: '1.5.0', environmentId: 'prod' })).status).toBe(201);
    for (const name of ['prod-2', 'prod-3']) {
      const r = await t.call('POST', '/api/v1/targets', {
        name,
        environmentId: (await t.call('GET', '/api/v1/environments/prod')).body.id,
        targetType: 'docker_host',
        connection: { dockerHost: 'unix:///x.sock' },
      });
      expect(r.status).toBe(201);
    }

    type T = {
      id: string;
      name: string;
      environmentId: string;
      healthStatus: 'healthy' | 'degraded' | 'unhealthy' | 'unknown';
      currentRelease: { id: string; name: string } | null;
      observation: { state: string };
      waiting: { reason: string | null } | null;
    };
    const targets = (await t.call('GET', '/api/v1/targets?limit=500')).body.items as T[];
    const drift = new Map(
      ((await t.call('GET', '/api/v1/drift')).body.items as { targetId: string; driftDetected: boolean }[]).map((x) => [x.targetId, x]),
    );
    const envs = (await t.call('GET', '/api/v1/environments?limit=500')).body.items as { id: string; name: string }[];
    const brief = (x: T) => ({
      id: x.id,
      name: x.name,
      healthStatus: x.healthStatus,
      driftDetected: drift.get(x.id)?.driftDetected ?? false,
      observationState: x.observation.state,
      waitingReason: x.waiting?.reason ?? null,
    });
    const expected = (sample: number) =>
      envs.map((env) => {
        const mine = targets.filter((x) => x.environmentId === env.id);
        const health = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
        for (const x of mine) health[x.healthStatus]++;
        const releases: { release: { id: string; name: string } | null; count: number }[] = [];
        for (const x of mine) {
          const g = releases.find((r) => (r.release?.id ?? null) === (x.currentRelease?.id ?? null));
          if (g) g.count++;
          else releases.push({ release: x.currentRelease, count: 1 });
        }
        releases.sort((a, b) => b.count - a.count);
        const waiting = mine.filter((x) => x.waiting?.reason);
        return {
          environmentId: env.id,
          environmentName: env.name,
          total: mine.length,
          health,
          drifted: mine.filter((x) => drift.get(x.id)?.driftDetected).length,
          unobservable: mine.filter((x) => x.observation.state === 'unobservable').length,
          waiting: waiting.length,
          releases,
          targets: mine.slice(0, sample).map(brief),
          waitingTargets: waiting.slice(0, sample).map(brief),
        };
      });

    const all = await t.call('GET', '/api/v1/target-summary');
    expect(all.status).toBe(200);
    expect(all.body.items).toEqual(expected(6));
    // The states the comparison covers (so that equal counts are not all zeros).
    const sum = (k: 'drifted' | 'unobservable' | 'waiting') =>
      all.body.items.reduce((n: number, e: Record<string, number>) => n + (e[k] ?? 0), 0);
    expect([sum('drifted'), sum('unobservable'), sum('waiting')]).toEqual([1, 1, 1]);
    expect(all.body.items.find((e: { environmentName: string }) => e.environmentName === 'qa').releases).toHaveLength(2);

    const one = await t.call('GET', '/api/v1/target-summary?environment=prod&sample=1', undefined, viewerToken);
    expect(one.status).toBe(200);
    expect(one.body.items).toEqual(expected(1).filter((e) => e.environmentName === 'prod'));
    expect(one.body.items[0].targets).toHaveLength(1);
    expect((await t.call('GET', '/api/v1/target-summary?environment=nope')).status).toBe(404);
    expect((await t.call('GET', '/api/v1/target-summary?sample=51')).status).toBe(400);
  });
});
