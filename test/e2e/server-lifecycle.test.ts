// e2e: an operator's first session with `gantry server` on its embedded PostgreSQL — first start and
// bootstrap, the public and authenticated surface, graceful stop, restart on the same data dir, and
// `gantry db migrate` on a fresh one.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  childEnv,
  freePort,
  type GantryProcess,
  killAll,
  pidsWithArg,
  REPO_ROOT,
  runGantry,
  START_TIMEOUT_MS,
  spawnGantry,
  stopGantry,
  stopOrphanPostgres,
  waitReady,
} from './support.js';

const T = START_TIMEOUT_MS;
const tmpDirs: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

async function migrationVersions(): Promise<number[]> {
  const files = (await readdir(path.join(REPO_ROOT, 'src/store/migrations'))).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f));
  return files.map((f) => Number(f.slice(0, 6))).sort((a, b) => a - b);
}

afterAll(async () => {
  await killAll();
  for (const dir of tmpDirs) {
    await stopOrphanPostgres(path.join(dir, 'pg'));
  }
  // Give an orphaned postmaster a moment to exit before its directory goes.
  await new Promise((r) => setTimeout(r, 500));
  for (const dir of tmpDirs) await rm(dir, { recursive: true, force: true }).catch(() => {});
}, T);

describe('gantry server on its embedded PostgreSQL', () => {
  let dataDir: string;
  let port: number;
  let base: string;
  let server: GantryProcess;
  let token: string;
  let tokenMtime: number;
  let envId: string;

  beforeAll(async () => {
    dataDir = await tempDir('gantry-e2e-life-');
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
  });

  const start = () => spawnGantry(['server'], childEnv({ GANTRY_DATA_DIR: dataDir, GANTRY_PORT: String(port) }));

  it(
    'starts on an empty data dir, bootstraps once and writes admin.token with mode 0600',
    async () => {
      server = start();
      await waitReady(server, base);
      const tokenFile = path.join(dataDir, 'admin.token');
      const st = await stat(tokenFile);
      expect(st.mode & 0o777).toBe(0o600);
      token = (await readFile(tokenFile, 'utf8')).trim();
      tokenMtime = st.mtimeMs;
      expect(token).toMatch(/^gty_[\w-]{20,}$/);
      // The token is printed once on first start so the operator can copy it.
      expect(server.stderr()).toContain(token);
      const who = await api(base, 'GET', '/api/v1/whoami', token);
      expect(who.status, who.text).toBe(200);
      expect(who.body).toMatchObject({ tenant: { name: 'default' }, user: { username: 'admin' }, roles: ['admin'] });
    },
    T,
  );

  it('creates an environment through the API', async () => {
    const created = await api(base, 'POST', '/api/v1/environments', token, { name: 'dev', displayName: 'Development' });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ name: 'dev', displayName: 'Development' });
    envId = created.body.id;
    const list = await api(base, 'GET', '/api/v1/environments', token);
    expect(list.status).toBe(200);
    expect(list.body.items.map((e: { name: string }) => e.name)).toEqual(['dev']);
  });

  it('answers /healthz, /readyz, /metrics, the OpenAPI document and /docs without a token', async () => {
    const health = await api(base, 'GET', '/healthz', undefined);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await api(base, 'GET', '/readyz', undefined);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready' } });

    const metrics = await api(base, 'GET', '/metrics', undefined);
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toMatch(/^text\/plain/);
    expect(metrics.text).toContain('# TYPE gantry_http_requests_total counter');
    expect(metrics.text).toMatch(/gantry_http_requests_total\{[^}]*route="\/api\/v1\/environments"[^}]*\} \d+/);

    const oas = await api(base, 'GET', '/api/v1/openapi.json', undefined);
    expect(oas.status).toBe(200);
    expect(oas.body.openapi).toMatch(/^3\.1\.\d+$/);
    expect(Object.keys(oas.body.paths)).toContain('/api/v1/environments');

    const docs = await fetch(`${base}/docs`, { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await docs.text()).toMatch(/<html/i);
  });

  it('refuses an API request without a token with a 401 problem document', async () => {
    const res = await api(base, 'GET', '/api/v1/environments', undefined);
    expect(res.status).toBe(401);
    expect(res.contentType).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 401, code: 'unauthorized', title: 'Unauthorized' });
    expect(typeof res.body.detail).toBe('string');
    const wrong = await api(base, 'GET', '/api/v1/environments', 'gty_not-a-real-token');
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('unauthorized');
  });

  it(
    'stops on SIGTERM with exit code 0 and stops its embedded PostgreSQL',
    async () => {
      const pgDir = path.join(dataDir, 'pg');
      expect(await pidsWithArg(pgDir)).not.toEqual([]);
      const code = await stopGantry(server);
      expect(code, server.stderr()).toBe(0);
      expect(await pidsWithArg(pgDir)).toEqual([]);
      expect((await readdir(pgDir)).includes('postmaster.pid')).toBe(false);
    },
    T,
  );

  it(
    'starts again on the same data dir with its data and without a second bootstrap',
    async () => {
      server = start();
      await waitReady(server, base);
      const st = await stat(path.join(dataDir, 'admin.token'));
      expect((await readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim()).toBe(token);
      expect(st.mtimeMs).toBe(tokenMtime);
      expect(server.stderr()).not.toContain('bootstrapped');
      const got = await api(base, 'GET', '/api/v1/environments/dev', token);
      expect(got.status, got.text).toBe(200);
      expect(got.body).toMatchObject({ id: envId, name: 'dev', displayName: 'Development' });
      const users = await api(base, 'GET', '/api/v1/users', token);
      expect(users.body.items.map((u: { username: string }) => u.username)).toEqual(['admin']);
      const code = await stopGantry(server);
      expect(code, server.stderr()).toBe(0);
      expect(await pidsWithArg(path.join(dataDir, 'pg'))).toEqual([]);
    },
    T,
  );
});

describe('gantry db migrate', () => {
  it(
    'migrates a fresh embedded store, reports it as JSON, and is a no-op the second time',
    async () => {
      const dataDir = await tempDir('gantry-e2e-migrate-');
      const versions = await migrationVersions();
      expect(versions.length).toBeGreaterThan(0);

      const first = await runGantry(['db', 'migrate', '--data-dir', dataDir, '--json'], childEnv({}));
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toEqual({ applied: versions, current: versions[versions.length - 1] });

      const again = await runGantry(['db', 'migrate', '--data-dir', dataDir, '--json'], childEnv({}));
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toEqual({ applied: [], current: versions[versions.length - 1] });

      // The command starts the embedded store only for the migration and stops it again.
      expect(await pidsWithArg(path.join(dataDir, 'pg'))).toEqual([]);
      // Migrating does not bootstrap: that is the server's first start.
      await expect(stat(path.join(dataDir, 'admin.token'))).rejects.toThrow();
    },
    2 * T,
  );
});
