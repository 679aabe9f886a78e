// Tenancy and auth through the API: tokens, roles on every route, and tenant isolation (another tenant's resource is 404).
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

let t: TestApp;
let tokenB: string;
let viewerToken: string;

beforeAll(async () => {
  t = await createTestApp();
  const created = await t.call('POST', '/api/v1/tenants', { name: 'beta', admin: { username: 'bea' } });
  expect(created.status).toBe(201);
  tokenB = created.body.adminToken;
  const viewer = await t.call('POST', '/api/v1/users', { username: 'vic', roles: ['viewer'] });
  expect(viewer.status).toBe(201);
  const tok = await t.call('POST', '/api/v1/tokens', { name: 'vic-cli', userId: viewer.body.id });
  expect(tok.status).toBe(201);
  viewerToken = tok.body.secret;
});

describe('authentication', () => {
  it('answers 401 without a token, with a wrong one, and with a revoked one', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/api/v1/environments' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(JSON.parse(none.body).code).toBe('unauthorized');
    expect((await t.call('GET', '/api/v1/environments', undefined, 'gty_nope')).status).toBe(401);
    const mine = await t.call('POST', '/api/v1/tokens', { name: 'short-lived' });
    expect((await t.call('GET', '/api/v1/whoami', undefined, mine.body.secret)).status).toBe(200);
    expect((await t.call('DELETE', `/api/v1/tokens/${mine.body.token.id}`)).status).toBe(200);
    const revoked = await t.call('GET', '/api/v1/whoami', undefined, mine.body.secret);
    expect(revoked.status).toBe(401);
    expect(revoked.body.detail).toMatch(/revoked/);
  });

  it('expires tokens by the clock', async () => {
    const tok = await t.call('POST', '/api/v1/tokens', { name: 'one-day', expiresInDays: 1 });
    expect((await t.call('GET', '/api/v1/whoami', undefined, tok.body.secret)).status).toBe(200);
    t.clock.advance(2 * 86_400_000);
    const expired = await t.call('GET', '/api/v1/whoami', undefined, tok.body.secret);
    expect(expired.status).toBe(401);
    expect(expired.body.detail).toMatch(/expired/);
  });

  it('stores only a hash of each token', async () => {
    const tok = await t.call('POST', '/api/v1/tokens', { name: 'hash-check' });
    const rows = await t.db.query(`SELECT * FROM api_tokens WHERE id = $1`, [tok.body.token.id]);
    expect(JSON.stringify(rows.rows[0])).not.toContain(tok.body.secret);
    expect(rows.rows[0].token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lists tokens without their secrets', async () => {
    const list = await t.call('GET', '/api/v1/tokens');
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThan(2);
    expect(list.body.items.every((x: Record<string, unknown>) => !('secret' in x) && !('tokenHash' in x))).toBe(true);
  });
});

describe('roles', () => {
  it('lets a viewer read but not write', async () => {
    expect((await t.call('GET', '/api/v1/environments', undefined, viewerToken)).status).toBe(200);
    const w = await t.call('POST', '/api/v1/environments', { name: 'qa' }, viewerToken);
    expect(w.status).toBe(403);
    expect(w.body.code).toBe('forbidden');
    expect(w.body.detail).toMatch(/admin/);
    expect((await t.call('POST', '/api/v1/users', { username: 'eve', roles: ['admin'] }, viewerToken)).status).toBe(403);
    expect((await t.call('POST', '/api/v1/tenants', { name: 'gamma', admin: { username: 'g' } }, viewerToken)).status).toBe(403);
  });

  it('lets a viewer manage only their own tokens', async () => {
    const own = await t.call('POST', '/api/v1/tokens', { name: 'mine' }, viewerToken);
    expect(own.status).toBe(201);
    const admins = await t.call('GET', '/api/v1/tokens', undefined, viewerToken);
    expect(admins.body.items.every((x: { username: string }) => x.username === 'vic')).toBe(true);
    const who = await t.call('GET', '/api/v1/whoami');
    const forOther = await t.call('POST', '/api/v1/tokens', { name: 'steal', userId: who.body.user.id }, viewerToken);
    expect(forOther.status).toBe(403);
  });

  it('changes roles and removes users', async () => {
    const u = await t.call('POST', '/api/v1/users', { username: 'rita', roles: ['release_manager'] });
    expect(u.body.roles).toEqual(['release_manager']);
    const upd = await t.call('PATCH', `/api/v1/users/${u.body.id}`, { roles: ['approver', 'deployer'] });
    expect(upd.body.roles).toEqual(['approver', 'deployer']);
    const dup = await t.call('POST', '/api/v1/users', { username: 'rita', roles: ['viewer'] });
    expect(dup.status).toBe(409);
    expect((await t.call('DELETE', `/api/v1/users/${u.body.id}`)).status).toBe(204);
    expect((await t.call('GET', `/api/v1/users/${u.body.id}`)).status).toBe(404);
  });
});

describe('tenant isolation', () => {
  let envA: string;
  beforeAll(async () => {
    envA = (await t.call('POST', '/api/v1/environments', { name: 'secret-prod' })).body.id;
  });

  it('answers 404 to another tenant for reads, changes and deletes', async () => {
    expect((await t.call('GET', `/api/v1/environments/${envA}`, undefined, tokenB)).status).toBe(404);
    expect((await t.call('GET', '/api/v1/environments/secret-prod', undefined, tokenB)).status).toBe(404);
    expect((await t.call('PATCH', `/api/v1/environments/${envA}`, { displayName: 'x' }, tokenB)).status).toBe(404);
    expect((await t.call('DELETE', `/api/v1/environments/${envA}`, undefined, tokenB)).status).toBe(404);
    const still = await t.call('GET', `/api/v1/environments/${envA}`);
    expect(still.body.displayName).toBe('');
  });

  it('does not list another tenant’s resources, users or tokens', async () => {
    const envs = await t.call('GET', '/api/v1/environments', undefined, tokenB);
    expect(envs.body.items).toEqual([]);
    const users = await t.call('GET', '/api/v1/users', undefined, tokenB);
    expect(users.body.items.map((u: { username: string }) => u.username)).toEqual(['bea']);
    const tokens = await t.call('GET', '/api/v1/tokens', undefined, tokenB);
    expect(tokens.body.items.every((x: { username: string }) => x.username === 'bea')).toBe(true);
    const adminUser = (await t.call('GET', '/api/v1/whoami')).body.user.id;
    expect((await t.call('GET', `/api/v1/users/${adminUser}`, undefined, tokenB)).status).toBe(404);
    const tenants = await t.call('GET', '/api/v1/tenants', undefined, tokenB);
    expect(tenants.body.items.map((x: { name: string }) => x.name)).toEqual(['beta']);
  });

  it('lets each tenant use the same names', async () => {
    expect((await t.call('POST', '/api/v1/environments', { name: 'secret-prod' }, tokenB)).status).toBe(201);
  });

  it('does not let one tenant revoke another tenant’s token', async () => {
    const mine = await t.call('POST', '/api/v1/tokens', { name: 'keep' });
    expect((await t.call('DELETE', `/api/v1/tokens/${mine.body.token.id}`, undefined, tokenB)).status).toBe(404);
    expect((await t.call('GET', '/api/v1/whoami', undefined, mine.body.secret)).status).toBe(200);
  });
});

describe('every route is protected', () => {
  it('declares an access level on every /api/v1 route and answers 401 without a token', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const paths = Object.entries(doc.paths).filter(([p]) => p.startsWith('/api/v1/') && p !== '/api/v1/agents/register');
    expect(paths.length).toBeGreaterThan(5);
    for (const [p, ops] of paths) {
      for (const method of Object.keys(ops)) {
        const url = p.replace(/\{[^}]+\}/g, '00000000-0000-7000-8000-000000000000');
        const res = await t.app.inject({ method: method.toUpperCase() as 'GET', url, ...(method === 'get' ? {} : { payload: {} }) });
        expect(res.statusCode, `${method} ${p}`).toBe(401);
      }
    }
  });
});
