import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../../test/cli.js';
import { createTestDb, loopbackOutbound } from '../../test/helpers.js';
import { scriptedAgent } from '../../test/scripted-agent.js';
import type { App } from '../http/types.js';
import { buildApp } from '../server.js';
import type { Db } from '../store/db.js';
import { bootstrap } from '../tenancy/service.js';
import { ApiClient, type FetchLike } from './client.js';
import type { Connection } from './config.js';
import { runDoctor } from './doctor.js';

let app: App;
let db: Db;
let server: string;
let adminToken: string;
let home: string;

function gantry(args: string[]): Promise<CliRun> {
  return runCli(args, { home, env: { GANTRY_SERVER: server, GANTRY_TOKEN: adminToken } });
}

/** A port with nothing listening. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

beforeAll(async () => {
  ({ db } = await createTestDb());
  adminToken = (await bootstrap(db)).token!;
  app = await buildApp({ db, logger: false, outbound: loopbackOutbound() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  server = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  home = mkdtempSync(path.join(os.tmpdir(), 'gantry-doctor-'));
});

afterAll(async () => {
  await app?.close();
});

describe('gantry doctor', () => {
  it('finds no problem on a healthy installation, and names an offline agent and an unreachable registry with what to do', async () => {
    const healthy = await gantry(['doctor']);
    expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);
    expect(healthy.stdout).toMatch(/^ok {4}server +http:\/\/127\.0\.0\.1:\d+ answered in \d+ ms: Gantry 0\.1\.0, this CLI 0\.1\.0$/m);
    expect(healthy.stdout).toMatch(/^ok {4}database +the server reaches its PostgreSQL/m);
    expect(healthy.stdout).toMatch(/^ok {4}clock +the server's clock is within 1 s/m);
    expect(healthy.stdout).toMatch(/^ok {4}token +admin in tenant default/m);
    expect(healthy.stdout).toMatch(/^ok {4}agents +no agents registered yet/m);
    expect(healthy.stdout).toMatch(/No problems found\.\n$/);

    await scriptedAgent(server, adminToken, 'edge-1');
    await scriptedAgent(server, adminToken, 'edge-2');
    // edge-2 stopped sending heartbeats long ago (the liveness sweep would have marked it so).
    await db.query(`UPDATE agents SET status = 'offline', last_heartbeat = now() - interval '1 hour' WHERE name = 'edge-2'`);
    const port = await closedPort();
    const created = await gantry([
      'integration',
      'create',
      'local-registry',
      '--type',
      'oci_registry',
      '--config',
      JSON.stringify({ url: `http://127.0.0.1:${port}`, insecure: true }),
    ]);
    expect(created.code, created.stderr).toBe(0);

    const sick = await gantry(['doctor', '--json']);
    expect(sick.code, sick.stderr).toBe(1);
    const report = JSON.parse(sick.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toBe(2);
    const by = Object.fromEntries(report.checks.map((c: { name: string }) => [c.name, c]));
    expect(by.agents).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^1 of 2 online; edge-2 offline \(last heartbeat /) });
    expect(by.agents.fix).toMatch(/systemctl status gantry-agent/);
    expect(by['registry local-registry']).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/gantry integration get local-registry/),
    });
    expect(by['registry local-registry'].detail).toMatch(/ECONNREFUSED|refused|connect/i);
    for (const name of ['server', 'database', 'clock', 'token']) expect(by[name].status, name).toBe('ok');

    const human = await gantry(['doctor']);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^FAIL {2}agents +1 of 2 online/m);
    expect(human.stdout).toMatch(/^ +→ on each host named: systemctl status gantry-agent/m);
    expect(human.stdout).toMatch(/2 problems found\.\n$/);
  });

  it('says what to do when the server is down, the database is not ready, or the clocks disagree', async () => {
    const conn: Connection = { server: 'http://127.0.0.1:9', serverSource: 'test', token: 't', tokenSource: 'test' };
    const down: FetchLike = async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    };
    const unreachable = await runDoctor({ conn, client: new ApiClient(conn, down), fetch: down, cliVersion: '0.1.0' });
    expect(unreachable[0]).toMatchObject({ name: 'server', status: 'fail', detail: 'http://127.0.0.1:9 is not reachable (ECONNREFUSED)' });
    expect(unreachable[0]!.fix).toMatch(/gantry server/);
    expect(unreachable.slice(1).every((c) => c.status === 'skip')).toBe(true);

    // A server whose clock is two minutes ahead, whose database is down, running another version.
    const now = Date.parse('2026-12-03T10:00:00.000Z');
    const answer = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json', date: new Date(now + 120_000).toUTCString() },
      });
    const sick: FetchLike = async (url) => {
      if (url.endsWith('/healthz')) return answer(200, { status: 'ok' });
      if (url.endsWith('/readyz')) return answer(503, { status: 'database unavailable' });
      if (url.endsWith('/openapi.json')) return answer(200, { info: { version: '0.2.0' } });
      if (url.includes('/whoami')) return answer(200, { user: { username: 'admin' }, tenant: { name: 'default' }, roles: ['admin'] });
      return answer(200, { items: [], nextCursor: null });
    };
    const checks = await runDoctor({ conn, client: new ApiClient(conn, sick), fetch: sick, cliVersion: '0.1.0', now: () => now });
    const by = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(by.server).toMatchObject({ status: 'warn', detail: expect.stringMatching(/Gantry 0\.2\.0, this CLI 0\.1\.0/) });
    expect(by.database).toMatchObject({ status: 'fail', detail: '/readyz answered 503: database unavailable' });
    expect(by.database!.fix).toMatch(/DATABASE_URL/);
    expect(by.clock).toMatchObject({ status: 'fail', detail: "the server's clock is 120.5 s ahead of this machine's" });
    expect(by.clock!.fix).toMatch(/chrony|timesyncd/);
  });
});
