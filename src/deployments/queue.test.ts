// Busy environments over HTTP: promotions approved while their environment has a running job queue
// behind it in request order, say so, and deploy one after another; none ends decided but not deployed.
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { stickerFor } from '../protocol/deployment.js';

let f: PromotionFixture;
let base: string;
let agent: { id: string; credential: string };

async function http(method: string, url: string, token: string, body?: unknown) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  // any: tests read arbitrary JSON response shapes
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any };
}
const admin = (method: string, url: string, body?: unknown) => http(method, url, f.tokens.admin!, body);
const asAgent = (method: string, url: string, body?: unknown) => http(method, url, agent.credential, body);

beforeAll(async () => {
  f = await promotionFixture({ alice: ['release_manager'] });
  await f.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
  const env = await admin('POST', '/api/v1/environments', { name: 'qa' });
  expect(env.status).toBe(201);
  const target = await admin('POST', '/api/v1/targets', {
    name: 'qa-1',
    environmentId: env.body.id,
    targetType: 'docker_host',
    connection: { dockerHost: 'unix:///var/run/docker.sock' },
  });
  expect(target.status).toBe(201);
  const tok = (await admin('POST', '/api/v1/agents/tokens', {})).body.token;
  const reg = await fetch(`${base}/api/v1/agents/register`, {
    method: 'POST',
    headers: { 'x-agent-token': tok, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'qa-agent', capabilities: { executors: ['docker_host'] } }),
  });
  const r = (await reg.json()) as { agentId: string; credential: string };
  agent = { id: r.agentId, credential: r.credential };
  expect((await asAgent('POST', `/api/v1/agents/${agent.id}/heartbeat`, { sessionId: 'queue-test' })).status).toBeLessThan(300);
});

/** Plays the agent: leases the one open task, runs it and reports success; returns its job id. */
async function deployOneTask(): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const lease = await asAgent('POST', `/api/v1/agents/${agent.id}/tasks/lease`, { max: 1 });
    const task = lease.body.tasks[0];
    if (task) {
      expect(
        (
          await asAgent('POST', `/api/v1/agents/${agent.id}/tasks/${task.taskId}/start`, {
            attempt: task.attempt,
            fencingToken: task.fencingToken,
          })
        ).status,
      ).toBe(200);
      const rep = await asAgent('POST', `/api/v1/agents/${agent.id}/tasks/${task.taskId}/report`, {
        attempt: task.attempt,
        fencingToken: task.fencingToken,
        status: 'succeeded',
        sticker: stickerFor(task, new Date()),
      });
      expect(rep.status).toBe(200);
      return task.jobId as string;
    }
    if (Date.now() > deadline) throw new Error('no task to lease');
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function jobOf(promotionId: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await f.db.query<{ id: string; status: string; started_at: Date | null; completed_at: Date | null }>(
      'SELECT id, status, started_at, completed_at FROM deployment_jobs WHERE promotion_id = $1',
      [promotionId],
    );
    if (r.rows[0]) return r.rows[0];
    if (Date.now() > deadline) throw new Error(`promotion ${promotionId} has no deployment job`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('promotions into a busy environment', () => {
  it('queue behind the running job in request order, say so, and each deploys when the one before ends', async () => {
    for (const v of ['1.0.0', '1.1.0', '1.2.0']) await f.readyRelease(v, 'admin');
    const promote = async (release: string) => {
      const r = await http('POST', '/api/v1/promotions', f.tokens.alice!, { releaseId: release, targetEnvironmentId: 'qa', reason: 'q' });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.id as string;
    };
    const first = await promote('1.0.0');
    const firstJob = await jobOf(first);
    expect(firstJob.status).toBe('running');
    const second = await promote('1.1.0');
    const third = await promote('1.2.0');
    const [j2, j3] = [await jobOf(second), await jobOf(third)];
    expect([j2.status, j3.status]).toEqual(['pending', 'pending']);

    // Both are decided and wait with a reason instead of failing with "still active".
    const p2 = (await admin('GET', `/api/v1/promotions/${second}`)).body;
    const p3 = (await admin('GET', `/api/v1/promotions/${third}`)).body;
    expect(p2.status).toBe('deploying');
    expect(p2.blockedReason).toBe(`queued: environment "qa" is busy with deployment ${firstJob.id}; this promotion deploys next`);
    expect(p3.blockedReason).toBe(`queued: environment "qa" is busy with deployment ${firstJob.id}; 1 promotion(s) ahead of this one`);
    const queued = (await admin('GET', `/api/v1/deployments/${j2.id}`)).body;
    expect(queued.status).toBe('pending');
    // A direct deployment is not queued: it is refused while the environment is busy, as before.
    const direct = await admin('POST', '/api/v1/deployments', { releaseId: '1.0.0', environmentId: 'qa' });
    expect(direct.status).toBe(409);
    expect(direct.body.code).toBe('deployment_in_progress');

    expect(await deployOneTask()).toBe(firstJob.id);
    expect((await f.waitFor(first, ['deployed'])).status).toBe('deployed');
    expect((await jobOf(second)).status).toBe('running');
    const p3b = (await admin('GET', `/api/v1/promotions/${third}`)).body;
    expect(p3b.blockedReason).toBe(`queued: environment "qa" is busy with deployment ${j2.id}; this promotion deploys next`);
    expect((await admin('GET', `/api/v1/promotions/${second}`)).body.blockedReason).toBeNull();

    expect(await deployOneTask()).toBe(j2.id);
    expect((await f.waitFor(second, ['deployed'])).status).toBe('deployed');
    expect(await deployOneTask()).toBe(j3.id);
    expect((await f.waitFor(third, ['deployed'])).status).toBe('deployed');

    const jobs = await Promise.all([first, second, third].map(jobOf));
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // One after another: each started once the one before had ended.
    expect(jobs[1]!.started_at!.getTime()).toBeGreaterThanOrEqual(jobs[0]!.completed_at!.getTime());
    expect(jobs[2]!.started_at!.getTime()).toBeGreaterThanOrEqual(jobs[1]!.completed_at!.getTime());
    const packets = await f.db.query<{ promotion_id: string; n: number }>(
      `SELECT promotion_id, count(*)::int AS n FROM evidence_packets WHERE packet_type = 'release_decision' GROUP BY promotion_id`,
    );
    expect(packets.rows.map((p) => p.n)).toEqual([1, 1, 1]);
  });

  it('ends a queued promotion whose job is cancelled, and the queue goes on', async () => {
    for (const v of ['2.0.0', '2.1.0']) await f.readyRelease(v, 'admin');
    const a = (await http('POST', '/api/v1/promotions', f.tokens.alice!, { releaseId: '2.0.0', targetEnvironmentId: 'qa', reason: 'c' }))
      .body.id as string;
    const ja = await jobOf(a);
    const b = (await http('POST', '/api/v1/promotions', f.tokens.alice!, { releaseId: '2.1.0', targetEnvironmentId: 'qa', reason: 'c' }))
      .body.id as string;
    const jb = await jobOf(b);
    expect(jb.status).toBe('pending');
    expect((await admin('POST', `/api/v1/deployments/${jb.id}/cancel`)).status).toBe(200);
    expect((await f.waitFor(b, ['failed', 'cancelled'])).status).toMatch(/failed|cancelled/);
    expect(await deployOneTask()).toBe(ja.id);
    expect((await f.waitFor(a, ['deployed'])).status).toBe('deployed');
  });
});
