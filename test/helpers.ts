// Test helpers: a database per test file cloned from the migrated template, and an app with a bootstrapped admin.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { ManualClock } from '../src/core/clock.js';
import { Outbound } from '../src/http/outbound.js';
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

let loopback: Outbound | undefined;

/**
 * The outbound door of test servers: loopback (127.0.0.0/8) allowed, because the fakes and real services
 * tests talk to listen there; everything else as in production. Security tests build their own, denying one.
 */
export function loopbackOutbound(): Outbound {
  loopback ??= new Outbound({ allow: ['127.0.0.0/8'] });
  return loopback;
}

export interface TestApp extends TestDb {
  app: App;
  adminToken: string;
  clock: ManualClock;
  /** The app's outbound door (loopbackOutbound()), for tests that call services or schedulers directly. */
  outbound: Outbound;
  /** Sends a request with a token (default: the admin's) and returns status and parsed JSON. */
  call: (method: string, url: string, body?: unknown, token?: string) => Promise<{ status: number; body: any }>;
  /** An agent protocol request (`credential`: the agent's, as a bearer token; `headers`: e.g. x-agent-token). */
  agentCall: (
    method: string,
    url: string,
    credential: string | undefined,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: any }>;
}

export async function createTestApp(): Promise<TestApp> {
  const tdb = await createTestDb();
  const boot = await bootstrap(tdb.db);
  const clock = new ManualClock(new Date());
  const outbound = loopbackOutbound();
  const app = await buildApp({ db: tdb.db, clock, logger: false, secrets: testSecretAccess(), outbound });
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
  const agentCall: TestApp['agentCall'] = async (method, url, credential, body, headers = {}) => {
    const res = await app.inject({
      method: method as 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(credential ? { authorization: `Bearer ${credential}` } : {}), ...headers },
      payload: JSON.stringify(body ?? {}),
    });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
  };
  return { ...tdb, app, adminToken, clock, outbound, call, agentCall };
}

/** Registers an agent serving docker_host targets with a fresh join token, and heartbeats it once (online). */
export async function joinAgent(t: TestApp, name: string): Promise<{ id: string; credential: string; token: string }> {
  const tok = await t.call('POST', '/api/v1/agents/tokens', { expiresInSeconds: 60 });
  const r = await t.agentCall(
    'POST',
    '/api/v1/agents/register',
    undefined,
    { name, capabilities: { executors: ['docker_host'] } },
    { 'x-agent-token': tok.body.token },
  );
  if (r.status !== 201) throw new Error(`registering agent ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  await t.agentCall('POST', `/api/v1/agents/${r.body.agentId}/heartbeat`, r.body.credential, { sessionId: `session-${name}-1` });
  return { id: r.body.agentId as string, credential: r.body.credential as string, token: tok.body.token as string };
}
