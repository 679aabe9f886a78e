import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

let t: TestApp;
let otherToken: string;
let viewerToken: string;

// Rows written as the schema owner: these tests are about the read API (agent-protocol.test.ts registers).
async function insertAgent(tenant: string, name: string, extra: { status?: string; heartbeat?: Date; revoked?: Date } = {}) {
  // UUIDv7 ids order by millisecond only: keep inserts a few ms apart so listing order is creation order
  await new Promise((r) => setTimeout(r, 3));
  const r = await t.db.query(
    `INSERT INTO agents (tenant_id, name, version, capabilities, status, last_heartbeat, revoked_at)
     SELECT id, $2, '0.1.0', '{"executors":["docker","compose"]}', $3, $4, $5 FROM tenants WHERE name = $1 RETURNING id`,
    [tenant, name, extra.status ?? 'offline', extra.heartbeat ?? null, extra.revoked ?? null],
  );
  return r.rows[0].id as string;
}

beforeAll(async () => {
  t = await createTestApp();
  const tenant = await t.call('POST', '/api/v1/tenants', { name: 'other', admin: { username: 'other-admin' } });
  otherToken = tenant.body.adminToken;
  const viewer = await t.call('POST', '/api/v1/users', { username: 'viewer1', roles: ['viewer'] });
  viewerToken = (await t.call('POST', '/api/v1/tokens', { name: 'viewer', userId: viewer.body.id })).body.secret;
  await insertAgent('default', 'edge-1', { status: 'online', heartbeat: new Date('2026-01-02T03:04:05Z') });
  await insertAgent('default', 'edge-2', { revoked: new Date('2026-01-03T00:00:00Z') });
  await insertAgent('default', 'edge-3');
  await insertAgent('other', 'b-agent');
});

describe('agents API', () => {
  it('lists the tenant’s agents with a cursor', async () => {
    const p1 = await t.call('GET', '/api/v1/agents?limit=2');
    expect(p1.status).toBe(200);
    expect(p1.body.items.map((a: { name: string }) => a.name)).toEqual(['edge-1', 'edge-2']);
    const p2 = await t.call('GET', `/api/v1/agents?limit=2&cursor=${p1.body.nextCursor}`);
    expect(p2.body.items.map((a: { name: string }) => a.name)).toEqual(['edge-3']);
    expect(p2.body.nextCursor).toBeNull();
  });

  it('gets an agent by id or name in camelCase', async () => {
    const byName = await t.call('GET', '/api/v1/agents/edge-1');
    expect(byName.status).toBe(200);
    expect(byName.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'edge-1',
      version: '0.1.0',
      capabilities: { executors: ['docker', 'compose'] },
      labels: {},
      resources: {},
      statusReason: null,
      status: 'online',
      lastHeartbeat: '2026-01-02T03:04:05.000Z',
      revokedAt: null,
      createdAt: expect.any(String),
      certificates: [],
    });
    const byId = await t.call('GET', `/api/v1/agents/${byName.body.id}`);
    expect(byId.body).toEqual(byName.body);
    const revoked = await t.call('GET', '/api/v1/agents/edge-2');
    expect(revoked.body).toMatchObject({ status: 'offline', lastHeartbeat: null, revokedAt: '2026-01-03T00:00:00.000Z' });
  });

  it('answers 404 or 400 for refs and queries it cannot serve', async () => {
    expect((await t.call('GET', '/api/v1/agents/nope')).status).toBe(404);
    expect((await t.call('GET', '/api/v1/agents/00000000-0000-0000-0000-00000000000z')).status).toBe(404);
    // Fastify refuses path parameters over 100 characters (414), or routes them nowhere (404).
    const long = await t.call('GET', `/api/v1/agents/${'a'.repeat(101)}`);
    expect([404, 414]).toContain(long.status);
    const badLimit = await t.call('GET', '/api/v1/agents?limit=0');
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.errors[0].path).toBe('querystring.limit');
    expect((await t.call('GET', '/api/v1/agents?cursor=xyz')).status).toBe(400);
  });

  it('keeps tenants apart', async () => {
    const a = (await t.call('GET', '/api/v1/agents/edge-1')).body;
    for (const ref of [a.id, a.name]) {
      expect((await t.call('GET', `/api/v1/agents/${ref}`, undefined, otherToken)).status).toBe(404);
      expect((await t.call('PATCH', `/api/v1/agents/${ref}`, { name: 'x' }, otherToken)).status).toBe(404);
      expect((await t.call('DELETE', `/api/v1/agents/${ref}`, undefined, otherToken)).status).toBe(404);
    }
    const list = await t.call('GET', '/api/v1/agents', undefined, otherToken);
    expect(list.body.items.map((x: { name: string }) => x.name)).toEqual(['b-agent']);
    expect((await t.call('GET', '/api/v1/agents/b-agent')).status).toBe(404);
  });

  it('lets viewers read', async () => {
    const list = await t.call('GET', '/api/v1/agents', undefined, viewerToken);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(3);
    expect((await t.call('GET', '/api/v1/agents/edge-3', undefined, viewerToken)).status).toBe(200);
  });
});
