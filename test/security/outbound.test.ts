// Issue 13, defect 3 (server-side request forgery), on the real server over HTTP: every kind of URL a
// tenant configures (integration check, webhook and OPA gates, scanner gate, notification channel,
// http_call step, registry sync) is refused for loopback, link-local and private targets — at save time
// when the URL is a literal, and at connect time always (a name resolving to loopback, and URLs stored
// before this check existed). The door is the production default (no allow list) except for 127.0.0.2/32,
// which stands in for a public service (redirects from it, what http_call records of its answers).
// Nothing here connects to a non-loopback address: refusals happen before any socket is opened, which the
// door's onConnect spy proves; the "internal" server on 127.0.0.1 proves nothing reached it.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { Engine } from '../../src/engine/index.js';
import { ephemeralSigner } from '../../src/evidence/signer.js';
import { builtinGates } from '../../src/gates/registry.js';
import { Outbound } from '../../src/http/outbound.js';
import { notify } from '../../src/integrations/notify.js';
import { NotificationDispatcher } from '../../src/notifications/dispatcher.js';
import { loadNotificationSettings } from '../../src/notifications/settings.js';
import { buildApp, buildRegistry } from '../../src/server.js';
import { withTenant } from '../../src/store/db.js';
import { bootstrap } from '../../src/tenancy/service.js';
import { childEnv, runGantry } from '../e2e/support.js';
import { createTestDb, type TestDb } from '../helpers.js';

const CANARY = `INTERNAL-ANSWER-${randomBytes(6).toString('hex')}`;
const PUBLIC_CANARY = `PUBLIC-ANSWER-${randomBytes(6).toString('hex')}`;

interface Listening {
  server: Server;
  port: number;
  hits: string[];
}

async function listen(host: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

let t: TestDb;
let token: string;
let base: string;
let tenantId: string;
let engine: Engine;
let outbound: Outbound;
let internal: Listening;
let pub: Listening;
const connects: string[] = [];
const closers: (() => Promise<unknown> | unknown)[] = [];

// any: tests read arbitrary JSON response shapes
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

beforeAll(async () => {
  t = await createTestDb();
  token = (await bootstrap(t.db)).token!;
  internal = await listen('127.0.0.1', (_req, res) => res.end(JSON.stringify({ allow: true, reasons: [CANARY], secret: CANARY })));
  pub = await listen('127.0.0.2', (req, res) => {
    if (req.url === '/redirect') {
      res.statusCode = 302;
      res.setHeader('location', `http://127.0.0.1:${internal.port}/latest/meta-data`);
      res.end();
    } else if (req.url === '/big') {
      res.end(`${PUBLIC_CANARY}${'x'.repeat(200 * 1024)}`);
    } else if (req.url === '/slow') {
      res.write('{"partial":'); // and never finishes
    } else {
      res.end(JSON.stringify({ answer: PUBLIC_CANARY }));
    }
  });
  // The production door, plus 127.0.0.2 as a stand-in public host; names under .rebind.test resolve to loopback.
  outbound = new Outbound({
    allow: ['127.0.0.2/32'],
    resolve: async (host) => (host.endsWith('.rebind.test') ? [{ address: '127.0.0.1', family: 4 }] : lookup(host, { all: true })),
    onConnect: (c) => connects.push(c.address),
  });
  const signer = ephemeralSigner();
  const gates = builtinGates();
  const registry = buildRegistry({ db: t.db, clock: systemClock, signer, gates, outbound });
  const app = await buildApp({ db: t.db, logger: false, signer, gates, registry, outbound });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1`;
  engine = new Engine({ db: t.db, connectionString: t.url, registry, logger: createLogger('silent'), pollMs: 50 });
  await engine.start();
  closers.push(
    () => engine.stop(),
    () => app.close(),
    () => outbound.close(),
    () => internal.server.close(),
    () => {
      pub.server.closeAllConnections();
      pub.server.close();
    },
  );
  tenantId = (await api('GET', '/whoami')).body.tenant.id;
});

afterAll(async () => {
  for (const c of closers) await c();
});

/** Every refusal names the rule and the setting an operator would change. */
function expectRefusal(message: string, rule: RegExp): void {
  expect(message).toMatch(rule);
  expect(message).toContain('GANTRY_OUTBOUND_ALLOW=');
}

const LITERALS: [string, (port: number) => string, RegExp][] = [
  ['127.0.0.1', (p) => `http://127.0.0.1:${p}`, /loopback/],
  ['localhost', (p) => `http://localhost:${p}`, /loopback/],
  ['[::1]', (p) => `http://[::1]:${p}`, /loopback/],
  ['169.254.169.254', () => 'http://169.254.169.254', /link-local/],
  ['10.x', () => 'http://10.11.12.13:8080', /private/],
];

describe('save time: literal forbidden URLs are refused with 422 naming the field', () => {
  const kinds: [string, (url: string) => Record<string, unknown>, string][] = [
    ['oci_registry', (url) => ({ typeId: 'oci_registry', config: { url, insecure: true } }), 'body.config.url'],
    ['secret_store_vault', (url) => ({ typeId: 'secret_store_vault', config: { address: url } }), 'body.config.address'],
    ['notification_webhook', (url) => ({ typeId: 'notification_webhook', config: { url } }), 'body.config.url'],
    ['scanner_webhook', (url) => ({ typeId: 'scanner_webhook', config: { url } }), 'body.config.url'],
    [
      'policy_webhook (webhook and OPA gates)',
      (url) => ({ typeId: 'policy_webhook', config: { url: `${url}/v1/data/gantry` } }),
      'body.config.url',
    ],
  ];
  for (const [kind, body, field] of kinds) {
    it.each(LITERALS)(`${kind} at %s`, async (_name, url, rule) => {
      const r = await api('POST', '/integrations', { name: `lit-${randomBytes(3).toString('hex')}`, ...body(url(internal.port)) });
      expect(r.status).toBe(422);
      expect(r.body.code).toBe('outbound_refused');
      expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual([field]);
      expectRefusal(r.body.detail, rule);
    });
  }

  it('a PATCH to a forbidden URL is refused too', async () => {
    const ok = await api('POST', '/integrations', {
      name: 'patched',
      typeId: 'scanner_webhook',
      config: { url: 'https://scanner.example.com' },
    });
    expect(ok.status).toBe(201);
    const r = await api('PATCH', '/integrations/patched', { config: { url: 'http://169.254.169.254/' } });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('outbound_refused');
    expect((await api('GET', '/integrations/patched')).body.config.url).toBe('https://scanner.example.com');
  });

  it.each(LITERALS)('http_call and notify nodes at %s', async (_name, url, rule) => {
    for (const type of ['http_call', 'notify']) {
      const r = await api('POST', '/workflow-templates', {
        name: `lit-${randomBytes(3).toString('hex')}`,
        nodes: [{ id: 'a', type, config: { url: `${url(internal.port)}/x`, ...(type === 'notify' ? { event: 'e' } : {}) } }],
      });
      expect(r.status).toBe(422);
      expect(r.body.errors[0].path).toBe('body.nodes.0.config.url');
      expectRefusal(r.body.detail, rule);
    }
  });
});

/**
 * Saves a template and runs it; a node whose URL the save-time check would refuse is saved with a
 * placeholder and re-pointed in the table, as a template stored before the check existed would be.
 */
async function runOf(nodes: { id: string; type: string; config: Record<string, unknown> }[], extra: Record<string, unknown> = {}) {
  const name = `wf-${randomBytes(4).toString('hex')}`;
  const placeholder = nodes.map((n) => ({ ...n, ...extra, config: { ...n.config, url: 'https://placeholder.example.com/' } }));
  const created = await api('POST', '/workflow-templates', { name, nodes: placeholder });
  expect(created.status).toBe(201);
  await t.db.query('UPDATE workflow_templates SET nodes = $2 WHERE id = $1', [
    created.body.id,
    JSON.stringify(nodes.map((n) => ({ ...n, ...extra }))),
  ]);
  const started = await api('POST', '/workflow-runs', { template: name });
  expect(started.status).toBe(201);
  for (let i = 0; i < 600; i++) {
    const r = await api('GET', `/workflow-runs/${started.body.id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(r.body.status)) return { run: r.body, text: r.text };
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('run did not finish');
}

describe('connect time: the address actually used is checked', () => {
  const stored: [string, string][] = [];

  beforeAll(async () => {
    // A name resolving to loopback passes the save-time check (names are not resolved then) …
    stored.push(['rebind', `http://internal.rebind.test:${internal.port}`]);
    // … and so did any URL stored before the check existed: written straight into the table here.
    for (const [name, url] of LITERALS) stored.push([name, url(internal.port)]);
  });

  async function integrationAt(typeId: string, url: string, extra: Record<string, unknown> = {}): Promise<string> {
    const name = `${typeId}-${randomBytes(4).toString('hex')}`;
    const created = await api('POST', '/integrations', { name, typeId, config: { url: 'https://placeholder.example.com', ...extra } });
    expect(created.status).toBe(201);
    await t.db.query(`UPDATE integrations SET config = config || jsonb_build_object('url', $2::text) WHERE id = $1`, [
      created.body.id,
      url,
    ]);
    return name;
  }

  async function release(): Promise<string> {
    const comp = await t.db.query<{ id: string }>(
      `INSERT INTO components (tenant_id, name, image_repository) VALUES ($1, 'web', 'registry.example.com/web')
       ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
      [tenantId],
    );
    const name = `r-${randomBytes(3).toString('hex')}`;
    const components = [
      {
        componentId: comp.rows[0]!.id,
        component: 'web',
        imageRepository: 'registry.example.com/web',
        selector: { by: 'tag', value: '1.0.0' },
        tag: '1.0.0',
        semver: '1.0.0',
        channel: 'stable',
        digest: `sha256:${randomBytes(32).toString('hex')}`,
      },
    ];
    const user = await t.db.query<{ id: string }>(`SELECT id FROM users WHERE username = 'admin'`);
    const r = await t.db.query<{ id: string }>(
      'INSERT INTO releases (tenant_id, name, components, created_by) VALUES ($1, $2, $3, $4) RETURNING id',
      [tenantId, name, JSON.stringify(components), user.rows[0]!.id],
    );
    await t.db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [r.rows[0]!.id]);
    return name;
  }

  it('integration check (scanner and policy webhooks) records the refusal as its health', async () => {
    for (const [what, url] of stored) {
      for (const typeId of ['scanner_webhook', 'policy_webhook']) {
        const name = await integrationAt(typeId, url);
        const r = await api('POST', `/integrations/${name}/check`);
        expect(r.status, `${typeId} at ${what}`).toBe(200);
        expect(r.body.healthStatus).toBe('unhealthy');
        expectRefusal(r.body.healthMessage, /loopback|link-local|private/);
      }
    }
  });

  it('webhook gate, OPA gate and scanner gate fail with the refusal (promotion preview)', async () => {
    for (const [what, url] of stored) {
      const webhook = await integrationAt('policy_webhook', url);
      const opa = await integrationAt('policy_webhook', `${url}/v1/data/gantry/allow`);
      const scanner = await integrationAt('scanner_webhook', url);
      const env = `env-${randomBytes(3).toString('hex')}`;
      const e = await api('POST', '/environments', {
        name: env,
        orderIndex: 5,
        config: {
          gates: [
            { id: 'webhook', config: { integration: webhook } },
            { id: 'webhook', config: { integration: opa } },
            { id: 'security_verdict', config: { integration: scanner } },
          ],
        },
      });
      expect(e.status).toBe(201);
      const p = await api('POST', '/promotions/preview', { releaseId: await release(), targetEnvironmentId: env });
      expect(p.status, what).toBe(200);
      expect(p.body.wouldPass).toBe(false);
      expect(p.body.gates).toHaveLength(3);
      for (const g of p.body.gates) {
        expect(g.status).toBe('fail');
        expectRefusal(g.reason, /Refused to connect .*(loopback|link-local|private)/);
      }
      expect(p.text).not.toContain(CANARY);
    }
  });

  it('notification channel: delivery is refused and the integration says why', async () => {
    for (const [what, url] of stored) {
      const name = await integrationAt('notification_webhook', url);
      await withTenant(t.db, tenantId, (tx) =>
        notify(tx, tenantId, { type: 'promotion.requested', data: { release: '1.0.0' } }, new Date()),
      );
      await new NotificationDispatcher({ db: t.db, clock: systemClock, settings: loadNotificationSettings({}), outbound }).drain();
      const i = await api('GET', `/integrations/${name}`);
      expect(i.body.healthStatus, what).toBe('unhealthy');
      expectRefusal(i.body.healthMessage, /loopback|link-local|private/);
      // A refusal is the operator's policy, not a passing outage: the notification is a dead letter at once.
      const sent = await t.db.query<{ status: string; attempts: number }>(
        `SELECT n.status, n.attempts FROM notifications n JOIN integrations i ON i.id = n.integration_id WHERE i.name = $1`,
        [name],
      );
      expect(sent.rows, what).toEqual([{ status: 'dead', attempts: 1 }]);
    }
  });

  it('http_call step fails with the refusal, without retrying, and the run holds no internal answer', async () => {
    for (const [what, url] of stored) {
      const node = { id: 'call', type: 'http_call', config: { url: `${url}/latest/meta-data`, method: 'GET', captureBody: true } };
      const { run, text } = await runOf([node], { retry: { maxAttempts: 3 } });
      expect(run.status, what).toBe('failed');
      expect(run.steps.map((x: { attemptNumber: number }) => x.attemptNumber)).toEqual([1]);
      expectRefusal(run.steps[0].error, /Refused to connect .*(loopback|link-local|private)/);
      expect(text).not.toContain(CANARY);
    }
  });

  it('registry sync is refused with 422 outbound_refused', async () => {
    for (const [what, url] of stored) {
      const reg = await integrationAt('oci_registry', url, { insecure: true });
      const regId = (await api('GET', `/integrations/${reg}`)).body.id;
      const comp = await api('POST', '/components', {
        name: `c-${randomBytes(3).toString('hex')}`,
        imageRepository: 'demo/api',
        registryIntegrationId: regId,
      });
      expect(comp.status).toBe(201);
      const r = await api('POST', `/components/${comp.body.id}/sync-versions`);
      expect(r.status, what).toBe(422);
      expect(r.body.code).toBe('outbound_refused');
      expectRefusal(r.body.detail, /loopback|link-local|private/);
      const check = await api('POST', `/integrations/${reg}/check`);
      expectRefusal(check.body.healthMessage, /loopback|link-local|private/);
    }
  });

  afterAll(() => {
    // No socket was ever opened to anything but the stand-in public host.
    expect(connects.filter((a) => a !== '127.0.0.2')).toEqual([]);
    expect(internal.hits).toEqual([]);
  });
});

describe('what leaves through an allowed host', () => {
  it('a redirect from an allowed host to loopback is refused, and the loopback server sees nothing', async () => {
    const before = internal.hits.length;
    const { run, text } = await runOf([
      { id: 'call', type: 'http_call', config: { url: `http://127.0.0.2:${pub.port}/redirect`, method: 'GET', captureBody: true } },
    ]);
    expect(run.status).toBe('failed');
    expectRefusal(run.steps[0].error, /127\.0\.0\.1 is a loopback address/);
    expect(text).not.toContain(CANARY);
    expect(internal.hits.length).toBe(before);
  });

  it('http_call records only the status by default: GET /workflow-runs/{id} has no answer body', async () => {
    const { run, text } = await runOf([{ id: 'call', type: 'http_call', config: { url: `http://127.0.0.2:${pub.port}/`, method: 'GET' } }]);
    expect(run.status).toBe('succeeded');
    expect(run.steps[0].outputs).toEqual({ status: 200 });
    expect(text).not.toContain(PUBLIC_CANARY);
  });

  it('with captureBody, an oversized answer is cut at 64 KiB', async () => {
    const { run } = await runOf([
      { id: 'call', type: 'http_call', config: { url: `http://127.0.0.2:${pub.port}/big`, method: 'GET', captureBody: true } },
    ]);
    expect(run.status).toBe('succeeded');
    const out = run.steps[0].outputs;
    expect(out.bodyTruncated).toBe(true);
    expect(Buffer.byteLength(out.body)).toBe(64 * 1024);
    expect(out.body.startsWith(PUBLIC_CANARY)).toBe(true);
  });

  it('a slow answer is cut at the step timeout', async () => {
    const { run } = await runOf([
      {
        id: 'call',
        type: 'http_call',
        config: { url: `http://127.0.0.2:${pub.port}/slow`, method: 'GET', captureBody: true, timeoutMs: 500 },
      },
    ]);
    expect(run.status).toBe('failed');
    expect(run.steps[0].error).toMatch(/timeout|aborted/i);
  });
});

describe('configuration', () => {
  it('a server with a bad GANTRY_OUTBOUND_ALLOW entry does not start, and says which entry', async () => {
    const r = await runGantry(['server'], childEnv({ GANTRY_OUTBOUND_ALLOW: '10.0.0.0/8,10.0.0.0/33', GANTRY_PORT: '0' }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('GANTRY_OUTBOUND_ALLOW: "10.0.0.0/33"');
  });
});
