// Test helpers: a database per test file cloned from the migrated template, and an app with a bootstrapped admin.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { ManualClock } from '../src/core/clock.js';
import type { App } from '../src/http/types.js';
import { type SecretAccess, secretAccess } from '../src/integrations/secrets.js';
import { ephemeralMasterKey } from '../src/secrets/envelope.js';
import { buildApp } from '../src/server.js';
import { createPool, type Db } from '../src/store/db.js';
import { bootstrap } from '../src/tenancy/service.js';

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDb {
  db: Db;
  url: string;
  name: string;
}

/** Creates an isolated database for this test file; dropped after the file's tests. */
export async function createTestDb(): Promise<TestDb> {
  const adminUrl = inject('pgAdminUrl');
  const template = inject('pgTemplate');
  const name = `gantry_t_${template.replace('gantry_tpl_', '')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  // Clones of one template are serialised by PostgreSQL; retry if another clone holds it.
  for (let i = 0; ; i++) {
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      break;
    } catch (err) {
      if (i > 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100 + i * 50));
    }
  }
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const db = createPool(url, 10);
  afterAll(async () => {
    await db.end();
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  return { db, url, name };
}

/** The env: names test servers resolve (GANTRY_SECRET_ENV_PREFIX) and the directories file: refs may use (GANTRY_SECRET_DIRS). */
export const TEST_SECRET_ENV_PREFIX = 'TEST_SECRET_';
export const TEST_SECRET_DIRS = [os.tmpdir(), '/etc/gantry'];

/** The secret policy of in-process test apps: the test prefix and directories, an ephemeral store key. */
export function testSecretAccess(): SecretAccess {
  return secretAccess({ envPrefix: TEST_SECRET_ENV_PREFIX, dirs: TEST_SECRET_DIRS, keyFile: '', protectedPaths: [] }, ephemeralMasterKey());
}

export interface TestApp extends TestDb {
  app: App;
  adminToken: string;
  clock: ManualClock;
  /** Sends a request with a token (default: the admin's) and returns status and parsed JSON. */
  call: (method: string, url: string, body?: unknown, token?: string) => Promise<{ status: number; body: any }>;
}

export async function createTestApp(): Promise<TestApp> {
  const tdb = await createTestDb();
  const boot = await bootstrap(tdb.db);
  const clock = new ManualClock(new Date());
  const app = await buildApp({ db: tdb.db, clock, logger: false, secrets: testSecretAccess() });
  await app.ready();
  afterAll(() => app.close());
  const adminToken = boot.token!;
  const call: TestApp['call'] = async (method, url, body, token = adminToken) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    // any: tests read arbitrary JSON response shapes
    let parsed: any;
    try {
      parsed = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      parsed = res.body;
    }
    return { status: res.statusCode, body: parsed };
  };
  return { ...tdb, app, adminToken, clock, call };
}
