// Issue 13, defect 1 over HTTP: a tenant admin cannot adopt, rename, remove or mint tokens for a user of
// another tenant or a platform admin, no token a tenant admin can mint has platform powers, and a token of
// tenant B sees nothing of tenant A. Platform admin is granted only by a platform admin or on the server host.
import { beforeAll, describe, expect, it } from 'vitest';
import { childEnv, runGantry } from '../e2e/support.js';
import { type LiveServer, liveServer } from './support.js';

let s: LiveServer;
let root: string; // platform admin "admin", tenant "default" (A)
let tokenB: string; // admin "bob" of tenant "beta" (B)
let rootId: string;
let alice: { id: string; token: string }; // admin of A, created by the platform admin
let carol: { id: string }; // viewer of A
let envA: string;

const api = (m: string, u: string, tok: string | undefined, b?: unknown) => s.call(m, `/api/v1${u}`, tok, b);
const rowsOf = async (sql: string, params: unknown[] = []) => (await s.db.query(sql, params)).rows;

beforeAll(async () => {
  s = await liveServer();
  root = s.rootToken;
  rootId = (await api('GET', '/whoami', root)).body.user.id;
  const b = await api('POST', '/tenants', root, { name: 'beta', admin: { username: 'bob' } });
  expect(b.status).toBe(201);
  tokenB = b.body.adminToken;
  const a = await api('POST', '/users', root, { username: 'alice', roles: ['admin'] });
  expect(a.status).toBe(201);
  const at = await api('POST', '/tokens', root, { name: 'alice', userId: a.body.id });
  expect(at.status).toBe(201);
  alice = { id: a.body.id, token: at.body.secret };
  carol = { id: (await api('POST', '/users', root, { username: 'carol', roles: ['viewer'] })).body.id };
  envA = (await api('POST', '/environments', root, { name: 'prod' })).body.id;
});

describe('the platform takeover of issue 13 is refused at every step', () => {
  it('POST /users with the platform admin’s username in tenant B answers 409 username_taken and binds nothing', async () => {
    const r = await api('POST', '/users', tokenB, { username: 'admin', roles: ['admin'] });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('username_taken');
    // The answer is the same as for any other tenant's user: it does not say the name is a platform admin.
    expect(r.text).not.toMatch(/platform/i);
    const other = await api('POST', '/users', tokenB, { username: 'carol', roles: ['viewer'] });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('username_taken');
    expect(other.body.detail).toBe(r.body.detail.replace('"admin"', '"carol"'));
    const beta = (await rowsOf(`SELECT id FROM tenants WHERE name = 'beta'`))[0].id;
    expect(await rowsOf('SELECT * FROM role_bindings WHERE tenant_id = $1 AND user_id = ANY($2)', [beta, [rootId, carol.id]])).toEqual([]);
  });

  it('POST /tokens for the platform admin (or any user of A) from tenant B answers 404 and mints nothing', async () => {
    for (const id of [rootId, alice.id, carol.id]) {
      const r = await api('POST', '/tokens', tokenB, { name: 'x', userId: id });
      expect(r.status, id).toBe(404);
    }
    expect(await rowsOf(`SELECT 1 FROM api_tokens WHERE name = 'x'`)).toEqual([]);
  });

  it('no token tenant B’s admin can mint says isPlatformAdmin, and platform routes answer 403', async () => {
    const own = await api('POST', '/tokens', tokenB, { name: 'mine' });
    const dave = await api('POST', '/users', tokenB, { username: 'dave', roles: ['admin'] });
    const forDave = await api('POST', '/tokens', tokenB, { name: 'dave', userId: dave.body.id });
    expect([own.status, dave.status, forDave.status]).toEqual([201, 201, 201]);
    for (const tok of [tokenB, own.body.secret, forDave.body.secret]) {
      const who = await api('GET', '/whoami', tok);
      expect(who.status).toBe(200);
      expect(who.body.isPlatformAdmin).toBe(false);
      expect((await api('POST', '/tenants', tok, { name: 'evil', admin: { username: 'evil' } })).status).toBe(403);
      expect((await api('POST', '/plugins', tok, { archive: 'AAAA' })).status).toBe(403);
      expect((await api('POST', '/platform/admins', tok, { username: 'bob' })).status).toBe(403);
      expect((await api('GET', '/platform/admins', tok)).status).toBe(403);
    }
    const plat = await api('POST', '/tokens', tokenB, { name: 'plat', platform: true });
    expect(plat.status).toBe(403);
    expect(await rowsOf('SELECT 1 FROM api_tokens WHERE platform AND user_id <> $1', [rootId])).toEqual([]);
    expect(await rowsOf(`SELECT 1 FROM tenants WHERE name = 'evil'`)).toEqual([]);
  });

  it('PATCH and DELETE /users of another tenant’s user answer 404 and change nothing', async () => {
    const before = await rowsOf('SELECT * FROM users ORDER BY id');
    const bindings = await rowsOf('SELECT * FROM role_bindings ORDER BY id');
    for (const id of [rootId, alice.id, carol.id]) {
      expect((await api('PATCH', `/users/${id}`, tokenB, { displayName: 'pwned' })).status).toBe(404);
      expect((await api('PATCH', `/users/${id}`, tokenB, { roles: ['viewer'] })).status).toBe(404);
      expect((await api('DELETE', `/users/${id}`, tokenB)).status).toBe(404);
      expect((await api('GET', `/users/${id}`, tokenB)).status).toBe(404);
    }
    expect(await rowsOf('SELECT * FROM users ORDER BY id')).toEqual(before);
    expect(await rowsOf('SELECT * FROM role_bindings ORDER BY id')).toEqual(bindings);
  });

  it('a token of tenant B gets 404s and lists without A’s rows', async () => {
    expect((await api('GET', `/environments/${envA}`, tokenB)).status).toBe(404);
    expect((await api('GET', '/environments/prod', tokenB)).status).toBe(404);
    expect((await api('GET', '/environments', tokenB)).body.items).toEqual([]);
    const users = (await api('GET', '/users', tokenB)).body.items.map((u: { username: string }) => u.username).sort();
    expect(users).toEqual(['bob', 'dave']);
    const tokens = (await api('GET', '/tokens', tokenB)).body.items.map((t: { username: string }) => t.username);
    expect(tokens.every((u: string) => u === 'bob' || u === 'dave')).toBe(true);
    expect((await api('GET', '/tenants', tokenB)).body.items.map((t: { name: string }) => t.name)).toEqual(['beta']);
  });
});

describe('inside its own tenant a tenant admin still cannot reach the platform admin', () => {
  it('cannot mint a token for, or rename, the platform admin who is a member of the same tenant', async () => {
    const tok = await api('POST', '/tokens', alice.token, { name: 'steal', userId: rootId });
    expect(tok.status).toBe(403);
    expect(tok.body.code).toBe('user_managed_elsewhere');
    const ren = await api('PATCH', `/users/${rootId}`, alice.token, { displayName: 'pwned', email: 'x@example.com' });
    expect(ren.status).toBe(403);
    expect(ren.body.code).toBe('user_managed_elsewhere');
    expect(await rowsOf('SELECT display_name, email FROM users WHERE id = $1', [rootId])).toEqual([
      { display_name: 'Administrator', email: null },
    ]);
    const rm = await api('DELETE', `/users/${rootId}`, alice.token);
    expect([rm.status, rm.body.code]).toEqual([403, 'user_managed_elsewhere']);
    expect((await api('GET', '/whoami', root)).body.isPlatformAdmin).toBe(true);
    const who = await api('GET', '/whoami', alice.token);
    expect(who.body.isPlatformAdmin).toBe(false);
  });

  it('manages its own users: rename, tokens, roles, remove (the removed user’s tokens stop working)', async () => {
    const ren = await api('PATCH', `/users/${carol.id}`, alice.token, { displayName: 'Carol' });
    expect(ren.status).toBe(200);
    expect(ren.body.managedHere).toBe(true);
    const tok = await api('POST', '/tokens', alice.token, { name: 'carol', userId: carol.id });
    expect(tok.status).toBe(201);
    expect(tok.body.token.platform).toBe(false);
    expect((await api('GET', '/whoami', tok.body.secret)).status).toBe(200);
    expect((await api('DELETE', `/users/${carol.id}`, alice.token)).status).toBe(204);
    expect((await api('GET', '/whoami', tok.body.secret)).status).toBe(401);
    // The tenant that removed her may add her back; nobody else may take the name.
    const back = await api('POST', '/users', alice.token, { username: 'carol', roles: ['viewer'] });
    expect(back.status).toBe(201);
    expect(back.body.id).toBe(carol.id);
    expect((await api('POST', '/users', tokenB, { username: 'carol', roles: ['viewer'] })).body.code).toBe('username_taken');
  });

  it('a member managed elsewhere (a membership from before home tenants) keeps its identity out of the guest tenant’s reach', async () => {
    const beta = (await rowsOf(`SELECT id FROM tenants WHERE name = 'beta'`))[0].id;
    await s.db.query(`INSERT INTO role_bindings (tenant_id, user_id, role) VALUES ($1, $2, 'viewer')`, [beta, carol.id]);
    const listed = (await api('GET', '/users', tokenB)).body.items.find((u: { id: string }) => u.id === carol.id);
    expect(listed.managedHere).toBe(false);
    const ren = await api('PATCH', `/users/${carol.id}`, tokenB, { displayName: 'pwned' });
    expect([ren.status, ren.body.code]).toEqual([403, 'user_managed_elsewhere']);
    const tok = await api('POST', '/tokens', tokenB, { name: 'c', userId: carol.id });
    expect([tok.status, tok.body.code]).toEqual([403, 'user_managed_elsewhere']);
    expect((await api('PATCH', `/users/${carol.id}`, tokenB, { roles: ['approver'] })).status).toBe(200);
    expect((await api('DELETE', `/users/${carol.id}`, tokenB)).status).toBe(204);
    // Removing the guest membership leaves carol's home membership in A alone.
    expect((await api('GET', `/users/${carol.id}`, alice.token)).body.displayName).toBe('Carol');
  });
});

describe('tenant creation', () => {
  it('refuses an existing username as the new tenant’s first admin and creates nothing', async () => {
    for (const username of ['admin', 'carol', 'bob']) {
      const r = await api('POST', '/tenants', root, { name: `t-${username}`, admin: { username } });
      expect([r.status, r.body.code], username).toEqual([409, 'username_taken']);
    }
    expect(await rowsOf(`SELECT name FROM tenants WHERE name LIKE 't-%'`)).toEqual([]);
  });
});

describe('platform admin', () => {
  it('has platform powers only with a platform token it minted itself', async () => {
    const plain = await api('POST', '/tokens', root, { name: 'laptop' });
    expect(plain.body.token.platform).toBe(false);
    expect((await api('GET', '/whoami', plain.body.secret)).body.isPlatformAdmin).toBe(false);
    expect((await api('POST', '/tokens', plain.body.secret, { name: 'up', platform: true })).status).toBe(403);
    const plat = await api('POST', '/tokens', root, { name: 'laptop-platform', platform: true });
    expect([plat.status, plat.body.token.platform]).toEqual([201, true]);
    expect((await api('GET', '/whoami', plat.body.secret)).body.isPlatformAdmin).toBe(true);
    expect((await api('POST', '/tokens', root, { name: 'for-alice', userId: alice.id, platform: true })).status).toBe(403);
  });

  it('is granted and revoked only through platform routes, and a grant hands out a fresh platform token', async () => {
    expect((await api('POST', '/platform/admins', alice.token, { username: 'alice' })).status).toBe(403);
    const g = await api('POST', '/platform/admins', root, { username: 'alice' });
    expect(g.status).toBe(201);
    expect(g.body.tenant).toBe('default');
    // Tokens minted before the grant (here by the platform admin) stay tenant-only.
    expect((await api('GET', '/whoami', alice.token)).body.isPlatformAdmin).toBe(false);
    expect((await api('GET', '/whoami', g.body.token)).body.isPlatformAdmin).toBe(true);
    expect((await api('POST', '/platform/admins', root, { username: 'alice' })).body.code).toBe('already_platform_admin');
    const list = await api('GET', '/platform/admins', g.body.token);
    expect(list.body.items.map((a: { username: string }) => a.username)).toEqual(['admin', 'alice']);
    const rv = await api('DELETE', '/platform/admins/alice', root);
    expect(rv.status).toBe(200);
    expect((await api('GET', '/whoami', g.body.token)).body.isPlatformAdmin).toBe(false);
    const last = await api('DELETE', '/platform/admins/admin', root);
    expect([last.status, last.body.code]).toEqual([409, 'last_platform_admin']);
  });

  it('is granted on the server host with `gantry admin grant-platform-admin`, which prints a working platform token', async () => {
    const env = childEnv({ DATABASE_URL: s.url });
    const g = await runGantry(['admin', 'grant-platform-admin', 'bob', '--json'], env);
    expect(g.code, g.stderr).toBe(0);
    const out = JSON.parse(g.stdout);
    expect(out.tenant).toBe('beta');
    expect((await api('GET', '/whoami', out.token)).body.isPlatformAdmin).toBe(true);
    expect((await api('GET', '/whoami', tokenB)).body.isPlatformAdmin).toBe(false);
    const list = await runGantry(['admin', 'list-platform-admins', '--json'], env);
    expect(JSON.parse(list.stdout).map((a: { username: string }) => a.username)).toEqual(['admin', 'bob']);
    const r = await runGantry(['admin', 'revoke-platform-admin', 'bob'], env);
    expect(r.code, r.stderr).toBe(0);
    expect((await api('GET', '/whoami', out.token)).body.isPlatformAdmin).toBe(false);
    const missing = await runGantry(['admin', 'grant-platform-admin', 'nobody'], env);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/nobody/);
  });

  it('`gantry platform admins` works with a platform token and exits 3 with a tenant admin’s token', async () => {
    const cli = (token: string) => runGantry(['platform', 'admins', '--json'], childEnv({ GANTRY_SERVER: s.base, GANTRY_TOKEN: token }));
    const ok = await cli(root);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).map((a: { username: string }) => a.username)).toEqual(['admin']);
    const refused = await cli(tokenB);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/platform token/);
  });
});
