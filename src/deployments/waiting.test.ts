import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, runGantry } from '../../test/e2e/support.js';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { sweepLiveness } from '../agents/liveness.js';
import { createLogger } from '../core/logger.js';
import { ephemeralSigner } from '../evidence/signer.js';
import { DeploymentScheduler } from './scheduler.js';
import { DEFAULT_SETTINGS } from './settings.js';
import { type SeenAgent, unservedReason } from './waiting.js';

const online = (name: string, executors: string[]): SeenAgent => ({
  name,
  status: 'online',
  executors,
  revoked: false,
  lastHeartbeat: null,
});

describe('unservedReason', () => {
  const web9 = { name: 'web-9', type: 'docker_host', pinned: 'edge-2' };
  it('names the agent a pinned target needs and what is wrong with it', () => {
    expect(unservedReason(web9, [online('edge-1', ['docker_host'])])).toMatch(
      /^no online agent serves web-9: needs agent=edge-2, and no agent has that name/,
    );
    const at = new Date('2026-01-02T03:04:05Z');
    expect(unservedReason(web9, [{ ...online('edge-2', ['docker_host']), status: 'offline', lastHeartbeat: at }])).toBe(
      'no online agent serves web-9: needs agent=edge-2, which is offline (last heartbeat 2026-01-02T03:04:05.000Z)',
    );
    expect(unservedReason(web9, [{ ...online('edge-2', ['docker_host']), revoked: true }])).toBe(
      'no online agent serves web-9: needs agent=edge-2, which is revoked',
    );
    expect(unservedReason(web9, [online('edge-2', ['compose_host'])])).toBe(
      'no online agent serves web-9: needs agent=edge-2, which has no docker_host executor (it serves: compose_host)',
    );
    expect(unservedReason(web9, [{ ...online('edge-2', ['docker_host']), status: 'degraded' }])).toBeNull();
  });

  it('asks for the executor when the target is not pinned; the server itself runs ssh_host targets', () => {
    const t = { name: 'db-1', type: 'compose_host', pinned: null };
    expect(unservedReason(t, [])).toBe(
      'no online agent serves db-1: needs an online agent with the compose_host executor, and no agent is online',
    );
    expect(unservedReason(t, [online('edge-1', ['docker_host']), { ...online('edge-3', ['compose_host']), status: 'offline' }])).toBe(
      'no online agent serves db-1: needs an agent with the compose_host executor (online: edge-1 [docker_host])',
    );
    expect(unservedReason(t, [online('edge-3', ['compose_host', 'docker_host'])])).toBeNull();
    expect(unservedReason({ name: 's', type: 'ssh_host', pinned: null }, [])).toBeNull();
  });
});

describe('tasks no online agent can serve, over HTTP and in the CLI', () => {
  let t: TestApp;
  let base: string;
  const signer = ephemeralSigner();
  const settings = { ...DEFAULT_SETTINGS, waitTimeoutSeconds: 30 };
  let scheduler: DeploymentScheduler;
  // any: JSON answers of the API
  const http = async (method: string, url: string, body?: unknown, bearer?: string): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${bearer ?? t.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const gantry = (...args: string[]) => runGantry(args, childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: t.adminToken }));

  beforeAll(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = t.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    scheduler = new DeploymentScheduler({ db: t.db, clock: t.clock, settings, progress: { signer }, logger: createLogger('silent') });
    const env = await http('POST', '/api/v1/environments', { name: 'edge' });
    const target = await http('POST', '/api/v1/targets', {
      name: 'web-9',
      environmentId: env.body.id,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///nowhere.sock' },
      labels: { agent: 'edge-2' },
    });
    expect(target.status, JSON.stringify(target.body)).toBe(201);
    await http('POST', '/api/v1/components', { name: 'app', imageRepository: 'r.example.com/app' });
    for (const [name, d] of [
      ['v1', 'a'],
      ['v2', 'b'],
    ] as const) {
      const r = await http('POST', '/api/v1/releases', { name, components: [{ component: 'app', digest: `sha256:${d.repeat(64)}` }] });
      expect((await http('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    }
  });
  afterAll(() => scheduler.stop());

  it('says at once why a task waits, follows the agent coming and going, and fails the task after the timeout', async () => {
    const created = await http('POST', '/api/v1/deployments', { releaseId: 'v1', environmentId: 'edge' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const missing = /^no online agent serves web-9: needs agent=edge-2, and no agent has that name/;
    expect(created.body.waitingReason).toMatch(missing);
    expect(created.body.tasks[0]).toMatchObject({ status: 'pending', waitingSince: null });
    expect(created.body.tasks[0].waitingReason).toMatch(missing);
    const list = await http('GET', '/api/v1/deployments');
    expect(list.body.items[0].waitingReason).toMatch(missing);

    const shown = await gantry('deploy', 'get', id);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('no online agent serves web-9: needs agent=edge-2');
    const listed = await gantry('deploy', 'list');
    expect(listed.stdout).toContain('needs agent=edge-2');

    await scheduler.sweep(); // the wait's clock starts
    const since = (await http('GET', `/api/v1/deployments/${id}`)).body.tasks[0].waitingSince;
    expect(since).toBe(t.clock.now().toISOString());

    // edge-2 registers and heartbeats: the reason goes away (nothing leases here, so the task stays pending)
    const tok = await http('POST', '/api/v1/agents/tokens', { expiresInSeconds: 600 });
    const reg = await fetch(`${base}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-token': tok.body.token },
      body: JSON.stringify({ name: 'edge-2', capabilities: { executors: ['docker_host'] } }),
    });
    const agent = (await reg.json()) as { agentId: string; credential: string };
    await http('POST', `/api/v1/agents/${agent.agentId}/heartbeat`, { sessionId: 'edge-2-session' }, agent.credential);
    await scheduler.sweep();
    let job = (await http('GET', `/api/v1/deployments/${id}`)).body;
    expect(job.waitingReason).toBeNull();
    expect(job.tasks[0]).toMatchObject({ status: 'pending', waitingReason: null, waitingSince: null });

    // it goes offline: the reason says so, and the wait starts again
    t.clock.advance((settings.offlineSeconds + 1) * 1000);
    await sweepLiveness(t.db, t.clock.now(), settings);
    await scheduler.sweep();
    job = (await http('GET', `/api/v1/deployments/${id}`)).body;
    expect(job.waitingReason).toMatch(/^no online agent serves web-9: needs agent=edge-2, which is offline \(last heartbeat /);
    expect(job.tasks[0].waitingSince).toBe(t.clock.now().toISOString());

    t.clock.advance(29_000);
    await scheduler.sweep();
    expect((await http('GET', `/api/v1/deployments/${id}`)).body.status).toBe('running');
    t.clock.advance(1_000);
    await scheduler.sweep();
    job = (await http('GET', `/api/v1/deployments/${id}`)).body;
    expect(job.status).toBe('failed');
    expect(job.tasks[0].status).toBe('failed');
    expect(job.tasks[0].error).toMatch(
      /^no online agent serves web-9: needs agent=edge-2, which is offline .*; gave up after waiting 30 s/,
    );
    expect(job.error).toMatch(/1 target\(s\) failed .*: no online agent serves web-9: needs agent=edge-2, which is offline/);
    expect(job.waitingReason).toBeNull();
    const failed = await gantry('deploy', 'get', id);
    expect(failed.stdout).toContain('gave up after waiting 30 s');
  });

  it('takes the wait timeout of the job (strategyConfig.waitTimeoutSeconds) over the server setting', async () => {
    const created = await http('POST', '/api/v1/deployments', {
      releaseId: 'v2',
      environmentId: 'edge',
      strategyConfig: { waitTimeoutSeconds: 5 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.waitingReason).toMatch(/needs agent=edge-2, which is offline/);
    await scheduler.sweep();
    t.clock.advance(5_000);
    await scheduler.sweep();
    const job = (await http('GET', `/api/v1/deployments/${created.body.id}`)).body;
    expect(job.status).toBe('failed');
    expect(job.tasks[0].error).toMatch(/gave up after waiting 5 s/);
  });
});
