// Revoking an agent on a real PostgreSQL: its next request is refused (403 agent_revoked, not the 401 of a
// rotated credential), its leased task returns to the queue and is never handed to it again, a lease
// racing the revocation hands out nothing, and one client certificate can be revoked by fingerprint.
// (Mutual TLS with real certificates, across replicas: test/e2e/agent-network.test.ts.)
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { leaseTasks, type Runner } from '../deployments/lease.js';

let t: TestApp;

async function registerAgent(name: string): Promise<{ agentId: string; credential: string; tenantId: string }> {
  const tok = await t.call('POST', '/api/v1/agents/tokens', {});
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/agents/register',
    headers: { 'content-type': 'application/json', 'x-agent-token': tok.body.token },
    payload: JSON.stringify({ name, capabilities: { executors: ['docker_host'] } }),
  });
  expect(res.statusCode, res.body).toBe(201);
  return JSON.parse(res.body);
}

const asAgent = (a: { credential: string }, url: string, body: unknown = {}) => t.call('POST', url, body, a.credential);

/** A running deployment with one pending task on a target pinned to the agent `name`. */
async function deploymentFor(name: string): Promise<string> {
  const env = await t.call('POST', '/api/v1/environments', { name: `env-${name}` });
  const target = await t.call('POST', '/api/v1/targets', {
    name: `web-${name}`,
    environmentId: env.body.id,
    targetType: 'docker_host',
    connection: { dockerHost: 'unix:///nowhere.sock' },
    labels: { agent: name },
  });
  expect(target.status, JSON.stringify(target.body)).toBe(201);
  const rel = await t.call('POST', '/api/v1/releases', {
    name: `rel-${name}`,
    components: [{ component: 'app', digest: `sha256:${'c'.repeat(64)}` }],
  });
  expect((await t.call('POST', `/api/v1/releases/${rel.body.id}/ready`)).status).toBe(200);
  const job = await t.call('POST', '/api/v1/deployments', { releaseId: rel.body.id, environmentId: env.body.id });
  expect(job.status, JSON.stringify(job.body)).toBe(201);
  return job.body.id as string;
}

const taskOf = async (jobId: string) => (await t.call('GET', `/api/v1/deployments/${jobId}`)).body.tasks[0];

beforeAll(async () => {
  t = await createTestApp();
  expect((await t.call('POST', '/api/v1/components', { name: 'app', imageRepository: 'r.example.com/app' })).status).toBe(201);
});

describe('agent revocation', () => {
  it('refuses the next request with 403 agent_revoked, re-queues its task and never hands it tasks again', async () => {
    const a = await registerAgent('edge-r');
    const jobId = await deploymentFor('edge-r');
    expect((await asAgent(a, `/api/v1/agents/${a.agentId}/heartbeat`, { sessionId: 'edge-r-session-1' })).status).toBe(200);
    const leased = await asAgent(a, `/api/v1/agents/${a.agentId}/tasks/lease`, { max: 1 });
    expect(leased.status).toBe(200);
    expect(leased.body.tasks).toHaveLength(1);
    expect(await taskOf(jobId)).toMatchObject({ status: 'assigned' });

    const revoked = await t.call('POST', '/api/v1/agents/edge-r/revoke', {});
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect(await taskOf(jobId)).toMatchObject({ status: 'pending' });

    for (const [url, body] of [
      [`/api/v1/agents/${a.agentId}/heartbeat`, { sessionId: 'edge-r-session-1' }],
      [`/api/v1/agents/${a.agentId}/tasks/lease`, { max: 1 }],
      [
        `/api/v1/agents/${a.agentId}/tasks/${leased.body.tasks[0].taskId}/report`,
        { attempt: 1, fencingToken: leased.body.tasks[0].fencingToken, status: 'succeeded', artifacts: [], observed: [] },
      ],
    ] as const) {
      const r = await asAgent(a, url, body);
      expect(r.status, url).toBe(403);
      expect(r.body).toMatchObject({ code: 'agent_revoked' });
      expect(r.body.detail).toContain('edge-r');
    }
    expect(await taskOf(jobId)).toMatchObject({ status: 'pending' });

    // Below the HTTP check: the lease query itself hands a revoked agent nothing.
    const runner: Runner = {
      agentId: a.agentId,
      agentName: 'edge-r',
      tenantId: a.tenantId,
      owner: `agent:${a.agentId}`,
      targetTypes: ['docker_host'],
    };
    expect(await leaseTasks(t.db, runner, 5, t.clock.now(), 60)).toEqual([]);
    expect(await taskOf(jobId)).toMatchObject({ status: 'pending' });
  });

  it('a lease racing the revocation waits for it and hands out nothing', async () => {
    const a = await registerAgent('edge-race');
    const jobId = await deploymentFor('edge-race');
    const runner: Runner = {
      agentId: a.agentId,
      agentName: 'edge-race',
      tenantId: a.tenantId,
      owner: `agent:${a.agentId}`,
      targetTypes: ['docker_host'],
    };
    // The revocation's first statement (as revokeAgent runs it), in a transaction held open.
    const c = await t.db.connect();
    try {
      await c.query('BEGIN');
      await c.query(`UPDATE agents SET revoked_at = now(), status = 'offline', session_id = NULL WHERE id = $1`, [a.agentId]);
      let settled = false;
      const lease = leaseTasks(t.db, runner, 5, t.clock.now(), 60).finally(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false); // waits on the agent's row
      await c.query('COMMIT');
      expect(await lease).toEqual([]);
    } finally {
      c.release();
    }
    expect(await taskOf(jobId)).toMatchObject({ status: 'pending' });
  });

  it('a rotated-away credential is still 401 (not revoked); the agent keeps working with the new one', async () => {
    const a = await registerAgent('edge-rot');
    const rotated = await asAgent(a, `/api/v1/agents/${a.agentId}/rotate`);
    expect(rotated.status).toBe(200);
    const old = await asAgent(a, `/api/v1/agents/${a.agentId}/heartbeat`, { sessionId: 'edge-rot-session' });
    expect(old.status).toBe(401);
    expect(old.body.code).toBe('unauthorized');
    const fresh = await t.call('POST', `/api/v1/agents/${a.agentId}/heartbeat`, { sessionId: 'edge-rot-session' }, rotated.body.credential);
    expect(fresh.status).toBe(200);
  });

  it('revokes one certificate by fingerprint (openssl form accepted) and keeps the agent', async () => {
    await registerAgent('edge-cert');
    const bad = await t.call('POST', '/api/v1/agents/edge-cert/revoke', { certificate: 'not-a-fingerprint' });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('SHA-256 fingerprint');
    const hex = 'ab'.repeat(32);
    const openssl = `sha256 Fingerprint=${hex.toUpperCase().match(/../g)!.join(':')}`;
    const r = await t.call('POST', '/api/v1/agents/edge-cert/revoke', { certificate: openssl });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.revokedAt).toBeNull();
    expect(r.body.certificates).toEqual([
      expect.objectContaining({ fingerprint: `sha256:${hex}`, serial: null, revokedAt: expect.any(String) }),
    ]);
    const got = await t.call('GET', '/api/v1/agents/edge-cert');
    expect(got.body.certificates).toHaveLength(1);
    // Other tenants' admins do not see or revoke it.
    const other = await t.call('POST', '/api/v1/tenants', { name: 'other-rev', admin: { username: 'other-rev-admin' } });
    const cross = await t.call('POST', '/api/v1/agents/edge-cert/revoke', {}, other.body.adminToken);
    expect(cross.status).toBe(404);
  });
});
