import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../../test/cli.js';
import { createTestDb, loopbackOutbound, type TestDb } from '../../test/helpers.js';
import { systemClock } from '../core/clock.js';
import type { App } from '../http/types.js';
import { notify } from '../integrations/notify.js';
import { NotificationDispatcher } from '../notifications/dispatcher.js';
import { buildApp } from '../server.js';
import { withTenant } from '../store/db.js';
import { bootstrap } from '../tenancy/service.js';

// Each CLI run is a new Node process; on a busy machine a few of them take a while.
const T = 120_000;

let t: TestDb;
let app: App;
let server: string;
let token: string;
let home: string;
let hookStatus = 503;
let hook: http.Server;

function gantry(args: string[]): Promise<CliRun> {
  return runCli(args, { home, cwd: process.cwd(), env: { GANTRY_SERVER: server, GANTRY_TOKEN: token, NO_COLOR: '1' } });
}

beforeAll(async () => {
  t = await createTestDb();
  token = (await bootstrap(t.db)).token!;
  // The webhook receiver listens on loopback, which the outbound door allows only when told to.
  app = await buildApp({ db: t.db, logger: false, outbound: loopbackOutbound() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  home = mkdtempSync(path.join(os.tmpdir(), 'gantry-cli-notify-'));
  hook = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(hookStatus).end());
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  await app?.close();
  hook?.close();
});

describe('gantry CLI: retry-safe creates and notifications', () => {
  it(
    'returns the first answer when a create is run again with the same --idempotency-key',
    async () => {
      const first = await gantry(['env', 'create', 'qa', '--idempotency-key', 'qa-once', '--json']);
      expect(first.code, first.stderr).toBe(0);
      const again = await gantry(['env', 'create', 'qa', '--idempotency-key', 'qa-once', '--json']);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).id).toBe(JSON.parse(first.stdout).id);
      // Without the key the second create is a second request, refused as a duplicate name (exit 5).
      const unkeyed = await gantry(['env', 'create', 'qa']);
      expect(unkeyed.code).toBe(5);
      // The same key for another request is an error that says so (exit 2).
      const reused = await gantry(['env', 'create', 'qa2', '--idempotency-key', 'qa-once']);
      expect([reused.code, reused.stderr]).toEqual([2, expect.stringContaining('Idempotency-Key "qa-once" was first used for')]);
    },
    T,
  );

  it(
    'lists dead letters and re-sends one',
    async () => {
      const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const created = await gantry([
        'integration',
        'create',
        'chat',
        '--type',
        'notification_webhook',
        '--config',
        JSON.stringify({ url: hookUrl }),
      ]);
      expect(created.code, created.stderr).toBe(0);
      const tenantId = (await t.db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
      const event = { type: 'deployment.failed' as const, data: { jobId: '0190aaaa-0000-7000-8000-000000000001', release: '1.0.0' } };
      expect(await withTenant(t.db, tenantId, (tx) => notify(tx, tenantId, event, new Date()))).toBe(1);
      const settings = { pollMs: 50, timeoutMs: 1000, backoffBaseMs: 1, backoffMaxMs: 1, maxAttempts: 1, concurrency: 2 };
      const dispatcher = new NotificationDispatcher({ db: t.db, clock: systemClock, settings, outbound: loopbackOutbound() });
      await dispatcher.drain();

      const [dead, table] = await Promise.all([
        gantry(['notification', 'list', '--status', 'dead', '--json']),
        gantry(['notification', 'list', '--status', 'dead']),
      ]);
      expect(dead.code, dead.stderr).toBe(0);
      const rows = JSON.parse(dead.stdout) as { id: string; event: string; channel: string; status: string; lastError: string }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        event: 'deployment.failed',
        channel: 'chat',
        status: 'dead',
        lastError: `${hookUrl} answered HTTP 503`,
      });
      expect(table.stdout).toMatch(/deployment\.failed\s+deployment:0190aaaa-0000-7000-8000-000000000001\s+chat\s+dead\s+1/);
      const shown = await gantry(['notification', 'get', rows[0]!.id]);
      expect(shown.stdout).toContain('answered HTTP 503');

      hookStatus = 200;
      const resent = await gantry(['notification', 'resend', rows[0]!.id]);
      expect([resent.code, resent.stdout]).toEqual([0, `queued notification ${rows[0]!.id} (deployment.failed → chat) again\n`]);
      await dispatcher.drain();
      const after = JSON.parse((await gantry(['notification', 'get', rows[0]!.id, '--json'])).stdout);
      expect([after.status, after.deliveries.map((d: { ok: boolean }) => d.ok)]).toEqual(['delivered', [false, true]]);
      expect(JSON.parse((await gantry(['notification', 'list', '--status', 'dead', '--json'])).stdout)).toEqual([]);
    },
    T,
  );

  it(
    'filters deployment jobs by promotion',
    async () => {
      const [none, bad] = await Promise.all([
        gantry(['deploy', 'list', '--promotion', '0190aaaa-0000-7000-8000-000000000002', '--json']),
        gantry(['deploy', 'list', '--promotion', 'not-an-id']),
      ]);
      expect([none.code, JSON.parse(none.stdout)]).toEqual([0, []]);
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('querystring.promotion')]);
    },
    T,
  );
});
