// Secret references and the tenant secret store, on a real `gantry server` over HTTP: a second tenant's
// admin cannot point credentialRef at the server's own secrets (admin token, PostgreSQL password,
// GANTRY_* settings; also not through "..", a symbolic link or a hard link), what the operator allows
// works, secret:<name> round-trips without the value ever coming back, stays inside its tenant, and
// `gantry admin rotate-secret-key` re-wraps every data key so the old key is no longer needed.
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers.js';
import { type FakeServer, startReceiver } from './plugin-fakes.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';

const tag = randomBytes(6).toString('hex');
const BOOTSTRAP = `gty_bootstrap-${tag}`;
const PG_PASSWORD = `pg-password-${tag}`;
const ALLOWED_ENV = `env-allowed-${tag}`;
const ALLOWED_FILE = `file-allowed-${tag}`;
const STORE_A = `store-a-${tag}`;
const STORE_B = `store-b-${tag}`;

let tdb: TestDb;
let root: string;
let dataDir: string;
let allowed: string;
let receiver: FakeServer;
let server: GantryProcess | undefined;
let base: string;
let adminA: string;
let adminB: string;

function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return childEnv({
    DATABASE_URL: tdb.url,
    GANTRY_DATA_DIR: dataDir,
    GANTRY_BOOTSTRAP_TOKEN: BOOTSTRAP,
    // The operator opens a prefix and the whole temp directory, which holds the data dir: the data dir
    // and its files must stay unreachable all the same.
    GANTRY_SECRET_ENV_PREFIX: 'TEST_SECRET_',
    GANTRY_SECRET_DIRS: os.tmpdir(),
    GANTRY_OUTBOUND_ALLOW: '127.0.0.1',
    GANTRY_INTEGRATION_CHECK_SECONDS: '0',
    TEST_SECRET_ALLOWED: ALLOWED_ENV,
    ...extra,
  });
}

async function startServer(extra: Record<string, string> = {}): Promise<void> {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawnGantry(['server', '--port', String(port)], serverEnv(extra));
  await waitReady(server, base);
}

const sentAuth = () => receiver.requests.map((r) => r.headers.authorization ?? '');

beforeAll(async () => {
  tdb = await createTestDb();
  root = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-secret-refs-'));
  dataDir = path.join(root, 'data');
  allowed = path.join(root, 'allowed');
  await mkdir(allowed);
  await mkdir(dataDir, { mode: 0o700 });
  // What an embedded store keeps beside admin.token; written here since this server uses DATABASE_URL.
  await writeFile(path.join(dataDir, 'pg.password'), `${PG_PASSWORD}\n`, { mode: 0o600 });
  await writeFile(path.join(allowed, 'token'), `${ALLOWED_FILE}\n`);
  receiver = await startReceiver();
  await startServer();
  adminA = BOOTSTRAP;
  const b = await api(base, 'POST', '/api/v1/tenants', adminA, { name: 'tenant-b', admin: { username: 'b-admin' } });
  expect(b.status).toBe(201);
  adminB = b.body.adminToken;
}, 120_000);

afterAll(async () => {
  await killAll();
  await receiver?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const hook = (name: string, credentialRef: string) => ({
  name,
  typeId: 'scanner_webhook',
  config: { url: `${receiver.url}/${name}` },
  credentialRef,
});

describe('secret references (defect: server secrets out through credentialRef)', () => {
  const serverRefs = () => [
    `file:${dataDir}/admin.token`,
    `file:${dataDir}/pg.password`,
    'env:GANTRY_BOOTSTRAP_TOKEN',
    `file:${allowed}/../data/admin.token`,
    `file:${dataDir}/secrets.key`,
    'env:DATABASE_URL',
  ];

  it('refuses the server’s own secrets at create and update, naming the reference and the rule, never the value', async () => {
    for (const [i, ref] of serverRefs().entries()) {
      const r = await api(base, 'POST', '/api/v1/integrations', adminB, hook(`steal-${i}`, ref));
      expect([r.status, r.body.code], ref).toEqual([422, 'credential_ref_forbidden']);
      expect(r.body.errors[0].path).toBe('body.credentialRef');
      expect(r.body.detail).toContain(ref);
      expect(r.body.detail).toMatch(/never resolvable/);
      for (const v of [BOOTSTRAP, PG_PASSWORD, tdb.url]) expect(r.text).not.toContain(v);
    }
    const ok = await api(base, 'POST', '/api/v1/integrations', adminB, hook('legit', 'env:TEST_SECRET_ALLOWED'));
    expect(ok.status).toBe(201);
    const upd = await api(base, 'PATCH', '/api/v1/integrations/legit', adminB, { credentialRef: `file:${dataDir}/admin.token` });
    expect([upd.status, upd.body.code, upd.body.errors[0].path]).toEqual([422, 'credential_ref_forbidden', 'body.credentialRef']);
    const outside = await api(base, 'POST', '/api/v1/integrations', adminB, hook('etc', 'file:/etc/hostname'));
    expect([outside.status, outside.body.code]).toEqual([422, 'credential_ref_forbidden']);
    expect(outside.body.detail).toMatch(/GANTRY_SECRET_DIRS/);
    const prefix = await api(base, 'POST', '/api/v1/integrations', adminB, hook('home', 'env:HOME'));
    expect([prefix.status, prefix.body.code]).toEqual([422, 'credential_ref_forbidden']);
    expect(prefix.body.detail).toMatch(/GANTRY_SECRET_ENV_PREFIX/);
  });

  it('refuses them at check too (a row stored before the rule existed) and sends nothing to the tenant’s URL', async () => {
    const tenantB = (await api(base, 'GET', '/api/v1/whoami', adminB)).body.tenant.id;
    const before = receiver.requests.length;
    for (const [i, ref] of serverRefs().entries()) {
      const name = `planted-${i}`;
      await tdb.db.query(
        `INSERT INTO integrations (tenant_id, name, type_id, config, credential_ref) VALUES ($1, $2, 'scanner_webhook', $3, $4)`,
        [tenantB, name, JSON.stringify({ url: `${receiver.url}/${name}` }), ref],
      );
      const r = await api(base, 'POST', `/api/v1/integrations/${name}/check`, adminB);
      expect([r.status, r.body.code], ref).toEqual([422, 'credential_ref_forbidden']);
      expect(r.body.detail).toContain(ref);
      const row = await api(base, 'GET', `/api/v1/integrations/${name}`, adminB);
      expect(row.body.healthStatus).toBe('unhealthy');
    }
    expect(receiver.requests.length).toBe(before);
    for (const v of [BOOTSTRAP, PG_PASSWORD]) expect(sentAuth().some((a) => a.includes(v))).toBe(false);
  });

  it('follows links at use: a symbolic link out of the allowed directories or a hard link to a key file is refused', async () => {
    await symlink(path.join(dataDir, 'admin.token'), path.join(allowed, 'to-admin-token'));
    await symlink('/etc/hostname', path.join(allowed, 'to-etc'));
    await symlink(dataDir, path.join(allowed, 'to-data'));
    await link(path.join(dataDir, 'admin.token'), path.join(allowed, 'hard-admin-token')).catch(() => undefined);
    const before = receiver.requests.length;
    for (const file of ['to-admin-token', 'to-data/pg.password', 'hard-admin-token']) {
      const ref = `file:${allowed}/${file}`;
      // Lexically inside an allowed directory, so the write is accepted; the use is not.
      const c = await api(base, 'POST', '/api/v1/integrations', adminB, hook(`link-${file.replace(/[/.]/g, '-')}`, ref));
      expect(c.status, ref).toBe(201);
      const r = await api(base, 'POST', `/api/v1/integrations/${c.body.id}/check`, adminB);
      expect([r.status, r.body.code], ref).toEqual([422, 'credential_ref_forbidden']);
      expect(r.body.detail).toMatch(/never resolves/);
    }
    const etc = await api(base, 'POST', '/api/v1/integrations', adminB, hook('link-etc', `file:${allowed}/to-etc`));
    expect(etc.status).toBe(201);
    const e = await api(base, 'POST', '/api/v1/integrations/link-etc/check', adminB);
    expect([e.status, e.body.code]).toEqual([422, 'credential_ref_forbidden']);
    expect(e.body.detail).toMatch(/outside the directories GANTRY_SECRET_DIRS allows/);
    expect(e.body.detail).not.toContain('/etc/hostname');
    expect(receiver.requests.length).toBe(before);
    expect(sentAuth().some((a) => a.includes(BOOTSTRAP) || a.includes(PG_PASSWORD))).toBe(false);
  });

  it('resolves what the operator allows: a prefixed variable and a file in an allowed directory', async () => {
    const f = await api(base, 'POST', '/api/v1/integrations', adminB, hook('from-file', `file:${allowed}/token`));
    expect(f.status).toBe(201);
    expect((await api(base, 'POST', '/api/v1/integrations/from-file/check', adminB)).body.healthStatus).toBe('healthy');
    expect((await api(base, 'POST', '/api/v1/integrations/legit/check', adminB)).body.healthStatus).toBe('healthy');
    expect(receiver.requests.find((r) => r.url === '/from-file')?.headers.authorization).toBe(`Bearer ${ALLOWED_FILE}`);
    expect(receiver.requests.find((r) => r.url === '/legit')?.headers.authorization).toBe(`Bearer ${ALLOWED_ENV}`);
  });
});

describe('tenant secret store', () => {
  it('writes a secret, lists it without its value, and uses it from an integration check', async () => {
    const put = await api(base, 'PUT', '/api/v1/secrets/hook-token', adminA, { value: STORE_A });
    expect([put.status, put.body.name, put.body.version, put.body.updatedBy]).toEqual([201, 'hook-token', 1, 'admin']);
    expect(put.text).not.toContain(STORE_A);
    const again = await api(base, 'PUT', '/api/v1/secrets/hook-token', adminA, { value: STORE_A });
    expect([again.status, again.body.version]).toEqual([200, 2]);
    const list = await api(base, 'GET', '/api/v1/secrets', adminA);
    expect(list.body.items.map((s: { name: string; version: number }) => [s.name, s.version])).toEqual([['hook-token', 2]]);
    expect(Object.keys(list.body.items[0]).sort()).toEqual(['createdAt', 'name', 'updatedAt', 'updatedBy', 'version']);
    expect(list.text).not.toContain(STORE_A);
    const stored = await tdb.db.query<{ row: string }>(`SELECT row_to_json(s)::text AS row FROM tenant_secrets s`);
    expect(stored.rows.some((r) => r.row.includes(STORE_A) || r.row.includes(Buffer.from(STORE_A).toString('hex')))).toBe(false);

    expect((await api(base, 'POST', '/api/v1/integrations', adminA, hook('store-a', 'secret:hook-token'))).status).toBe(201);
    expect((await api(base, 'POST', '/api/v1/integrations/store-a/check', adminA)).body.healthStatus).toBe('healthy');
    expect(receiver.requests.filter((r) => r.url === '/store-a').at(-1)?.headers.authorization).toBe(`Bearer ${STORE_A}`);
  });

  it('keeps a secret in its tenant: another tenant neither lists nor uses it, and its own secret of that name is its own', async () => {
    expect((await api(base, 'GET', '/api/v1/secrets', adminB)).body.items).toEqual([]);
    expect((await api(base, 'POST', '/api/v1/integrations', adminB, hook('store-b', 'secret:hook-token'))).status).toBe(201);
    const before = receiver.requests.length;
    const r = await api(base, 'POST', '/api/v1/integrations/store-b/check', adminB);
    expect([r.status, r.body.healthStatus]).toEqual([200, 'unhealthy']);
    expect(r.body.healthMessage).toMatch(/secret "hook-token", which does not exist in this tenant/);
    expect(receiver.requests.length).toBe(before);
    expect((await api(base, 'DELETE', '/api/v1/secrets/hook-token', adminB)).status).toBe(404);
    expect((await api(base, 'PUT', '/api/v1/secrets/hook-token', adminB, { value: STORE_B })).status).toBe(201);
    expect((await api(base, 'POST', '/api/v1/integrations/store-b/check', adminB)).body.healthStatus).toBe('healthy');
    expect(receiver.requests.filter((r) => r.url === '/store-b').at(-1)?.headers.authorization).toBe(`Bearer ${STORE_B}`);
    // A's value is unchanged by B's write of the same name.
    await api(base, 'POST', '/api/v1/integrations/store-a/check', adminA);
    expect(receiver.requests.filter((r) => r.url === '/store-a').at(-1)?.headers.authorization).toBe(`Bearer ${STORE_A}`);
  });

  it('is for admins: a viewer can neither list nor write, and no token cannot either', async () => {
    const u = await api(base, 'POST', '/api/v1/users', adminA, { username: 'viewer-1', roles: ['viewer'] });
    expect(u.status).toBe(201);
    const tok = await api(base, 'POST', '/api/v1/tokens', adminA, { name: 'v', userId: u.body.id });
    const viewer = tok.body.secret as string;
    expect((await api(base, 'GET', '/api/v1/secrets', viewer)).status).toBe(403);
    expect((await api(base, 'PUT', '/api/v1/secrets/x', viewer, { value: 'v' })).status).toBe(403);
    expect((await api(base, 'DELETE', '/api/v1/secrets/hook-token', viewer)).status).toBe(403);
    expect((await api(base, 'GET', '/api/v1/secrets', undefined)).status).toBe(401);
    const bad = await api(base, 'PUT', '/api/v1/secrets/x', adminA, { value: '' });
    expect([bad.status, bad.body.errors[0].path]).toEqual([400, 'body.value']);
  });

  it('is written and listed from the CLI without the value on the command line or in any output', async () => {
    const env = childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: adminA });
    const file = path.join(root, 'cli-value');
    await writeFile(file, `${STORE_A}-cli\n`, { mode: 0o600 });
    const set = await runGantry(['secret', 'set', 'cli-secret', '--from-file', file, '--json'], env);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ name: 'cli-secret', version: 1 });
    const empty = await runGantry(['secret', 'set', 'cli-empty'], env);
    expect(empty.code).toBe(2);
    const list = await runGantry(['secret', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).map((x: { name: string }) => x.name)).toEqual(['cli-secret', 'hook-token']);
    for (const out of [set.stdout, set.stderr, list.stdout, list.stderr]) expect(out).not.toContain(STORE_A);
    expect((await api(base, 'POST', '/api/v1/integrations', adminA, hook('cli-used', 'secret:cli-secret'))).status).toBe(201);
    await api(base, 'POST', '/api/v1/integrations/cli-used/check', adminA);
    expect(receiver.requests.filter((r) => r.url === '/cli-used').at(-1)?.headers.authorization).toBe(`Bearer ${STORE_A}-cli`);
    const del = await runGantry(['secret', 'delete', 'cli-secret'], env);
    expect(del.code, del.stderr).toBe(0);
  }, 120_000);

  it('rotates the master key: every data key re-wrapped in one go, the old key file no longer needed', async () => {
    expect(await stopGantry(server!)).toBe(0);
    const oldKeyFile = path.join(dataDir, 'secrets.key');
    const newKeyFile = path.join(root, 'secrets-new.key');
    const before = await tdb.db.query<{ key_id: string; ciphertext: Buffer }>('SELECT key_id, ciphertext FROM tenant_secrets ORDER BY id');
    expect(new Set(before.rows.map((r) => r.key_id)).size).toBe(1);
    const r = await runGantry(['admin', 'rotate-secret-key', '--new-key-file', newKeyFile, '--json'], serverEnv());
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ rewrapped: 2, alreadyNew: 0, fromKeyId: before.rows[0]!.key_id, newKeyCreated: true });
    const after = await tdb.db.query<{ key_id: string; ciphertext: Buffer }>('SELECT key_id, ciphertext FROM tenant_secrets ORDER BY id');
    expect(after.rows.every((x) => x.key_id === out.toKeyId)).toBe(true);
    // Only the data keys were re-wrapped; the values' ciphertexts are the same bytes.
    expect(after.rows.map((x) => x.ciphertext.toString('hex'))).toEqual(before.rows.map((x) => x.ciphertext.toString('hex')));
    await rm(oldKeyFile);
    await startServer({ GANTRY_SECRET_KEY_FILE: newKeyFile });
    await api(base, 'POST', '/api/v1/integrations/store-a/check', adminA);
    expect(receiver.requests.filter((x) => x.url === '/store-a').at(-1)?.headers.authorization).toBe(`Bearer ${STORE_A}`);
    await api(base, 'POST', '/api/v1/integrations/store-b/check', adminB);
    expect(receiver.requests.filter((x) => x.url === '/store-b').at(-1)?.headers.authorization).toBe(`Bearer ${STORE_B}`);
    expect((await api(base, 'PUT', '/api/v1/secrets/new-one', adminA, { value: 'v' })).status).toBe(201);
    const keys = await tdb.db.query<{ key_id: string }>('SELECT DISTINCT key_id FROM tenant_secrets');
    expect(keys.rows.map((x) => x.key_id)).toEqual([out.toKeyId]);
  }, 120_000);
});
