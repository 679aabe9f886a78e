// e2e: two `gantry server` replicas started at the same moment on one EMPTY external database must
// migrate once and bootstrap once (advisory locks), and then both serve the same data.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withDatabase } from '../helpers.js';
import {
  api,
  childEnv,
  freePort,
  type GantryProcess,
  killAll,
  REPO_ROOT,
  START_TIMEOUT_MS,
  spawnGantry,
  stopGantry,
  waitReady,
} from './support.js';

const T = START_TIMEOUT_MS;

describe('two replicas starting together on an empty database', () => {
  const adminUrl = inject('pgAdminUrl');
  const dbName = `gantry_e2e_concurrent_${process.pid}_${randomBytes(3).toString('hex')}`;
  const bootstrapToken = `gty_${randomBytes(32).toString('base64url')}`;
  const dirs: string[] = [];
  const replicas: { proc: GantryProcess; base: string; dataDir: string }[] = [];
  let dbUrl: string;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      // Not cloned from the migrated template: the replicas must create the schema themselves.
      await admin.query(`CREATE DATABASE ${dbName}`);
    } finally {
      await admin.end();
    }
    dbUrl = withDatabase(adminUrl, dbName);
  }, T);

  afterAll(async () => {
    await killAll();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }, T);

  it(
    'both become ready; the schema is migrated once and tenant "default" and user "admin" exist once',
    async () => {
      for (let i = 0; i < 2; i++) {
        const dataDir = await mkdtemp(path.join(os.tmpdir(), `gantry-e2e-replica${i}-`));
        dirs.push(dataDir);
        const port = await freePort();
        replicas.push({ proc: undefined as unknown as GantryProcess, base: `http://127.0.0.1:${port}`, dataDir });
      }
      // Same tick: both processes race for the migration and bootstrap locks.
      for (const r of replicas) {
        r.proc = spawnGantry(
          ['server'],
          childEnv({
            DATABASE_URL: dbUrl,
            GANTRY_BOOTSTRAP_TOKEN: bootstrapToken,
            GANTRY_DATA_DIR: r.dataDir,
            GANTRY_PORT: new URL(r.base).port,
          }),
        );
      }
      await Promise.all(replicas.map((r) => waitReady(r.proc, r.base)));

      const files = (await readdir(path.join(REPO_ROOT, 'src/store/migrations'))).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f));
      const versions = files.map((f) => Number(f.slice(0, 6))).sort((a, b) => a - b);
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      try {
        const mig = await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        expect(mig.rows.map((r) => r.version)).toEqual(versions);
        const tenants = await c.query<{ name: string }>('SELECT name FROM tenants');
        expect(tenants.rows.map((r) => r.name)).toEqual(['default']);
        const users = await c.query<{ username: string }>('SELECT username FROM users');
        expect(users.rows.map((r) => r.username)).toEqual(['admin']);
        const tokens = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM api_tokens');
        expect(tokens.rows[0]!.n).toBe(1);
      } finally {
        await c.end();
      }

      // Only the replica that bootstrapped writes the token file, with the preset token.
      const written = replicas.filter((r) => existsSync(path.join(r.dataDir, 'admin.token')));
      expect(written).toHaveLength(1);
      expect((await readFile(path.join(written[0]!.dataDir, 'admin.token'), 'utf8')).trim()).toBe(bootstrapToken);
    },
    2 * T,
  );

  it('both serve the API with the bootstrap token and see each other’s writes', async () => {
    const [a, b] = replicas;
    const created = await api(a!.base, 'POST', '/api/v1/environments', bootstrapToken, { name: 'staging' });
    expect(created.status, created.text).toBe(201);
    for (const r of replicas) {
      const list = await api(r.base, 'GET', '/api/v1/environments', bootstrapToken);
      expect(list.status, list.text).toBe(200);
      expect(list.body.items.map((e: { name: string }) => e.name)).toEqual(['staging']);
    }
    const dup = await api(b!.base, 'POST', '/api/v1/environments', bootstrapToken, { name: 'staging' });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('already_exists');
  });

  it(
    'both stop cleanly on SIGTERM',
    async () => {
      const codes = await Promise.all(replicas.map((r) => stopGantry(r.proc)));
      expect(codes, replicas.map((r) => r.proc.stderr()).join('\n---\n')).toEqual([0, 0]);
    },
    T,
  );
});
