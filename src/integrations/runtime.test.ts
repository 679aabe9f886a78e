// Integrations at work: Vault KV v2 resolution (against a fake Vault HTTP server: no Vault or OpenBao can
// be installed here), notifications in generic and Slack shapes filtered by events, health checks of each
// type, and the SKIP LOCKED health scheduler shared by replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeServer, startFakeVault, startReceiver } from '../../test/e2e/plugin-fakes.js';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { NotificationDispatcher } from '../notifications/dispatcher.js';
import { loadNotificationSettings } from '../notifications/settings.js';
import { withTenant } from '../store/db.js';
import { IntegrationHealthScheduler } from './health-scheduler.js';
import { type NotificationEvent, notify, wants } from './notify.js';
import { resolveCredential, resolveOperatorSecret } from './secrets.js';

const TOKEN = 'hvs.fake-root-token-4711';
let t: TestApp;
let vault: FakeServer;
let hooks: Awaited<ReturnType<typeof startReceiver>>;
let tenantId: string;

beforeAll(async () => {
  t = await createTestApp();
  vault = await startFakeVault({
    token: TOKEN,
    mount: 'kv',
    namespace: 'team-a',
    secrets: { 'gantry/registry': { auth: 'robot:pa55', other: 'x' }, 'gantry/chat': { url: '' } },
  });
  hooks = await startReceiver();
  tenantId = (await t.call('GET', '/api/v1/whoami')).body.tenant.id;
  process.env.TEST_SECRET_VAULT_TOKEN = TOKEN;
  process.env.TEST_SECRET_HOOK_TOKEN = 'hook-bearer-0815';
  const mk = (body: unknown) => t.call('POST', '/api/v1/integrations', body);
  expect(
    (
      await mk({
        name: 'vault',
        typeId: 'secret_store_vault',
        config: { address: vault.url, mount: 'kv', namespace: 'team-a' },
        credentialRef: 'env:TEST_SECRET_VAULT_TOKEN',
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await mk({
        name: 'vault-bad',
        typeId: 'secret_store_vault',
        config: { address: vault.url, mount: 'kv' },
        credentialRef: 'env:TEST_SECRET_HOOK_TOKEN',
      })
    ).status,
  ).toBe(201);
});
afterAll(async () => {
  delete process.env.TEST_SECRET_VAULT_TOKEN;
  await vault?.close();
  await hooks?.close();
});

describe('Vault KV v2 secret store (fake Vault server)', () => {
  const scope = () => ({ db: t.db, tenantId, fetch: t.outbound.fetch });

  it('reads a key with the token and namespace headers', async () => {
    expect(await resolveCredential('vault:vault/gantry/registry#auth', scope())).toBe('robot:pa55');
    const last = vault.requests.at(-1)!;
    expect([last.method, last.url, last.headers['x-vault-token'], last.headers['x-vault-namespace']]).toEqual([
      'GET',
      '/v1/kv/data/gantry/registry',
      TOKEN,
      'team-a',
    ]);
    expect(await resolveCredential('env:TEST_SECRET_HOOK_TOKEN', scope())).toBe('hook-bearer-0815');
  });

  it('says what is wrong without the token or any value', async () => {
    const cases: [string, RegExp][] = [
      ['vault:vault/gantry/missing#auth', /Vault integration "vault" has no secret at kv\/gantry\/missing/],
      ['vault:vault/gantry/registry#nokey', /has no non-empty string key "nokey"/],
      ['vault:vault-bad/gantry/registry#auth', /refused its token for kv\/gantry\/registry \(HTTP 403\)/],
      ['vault:nosuch/gantry/registry#auth', /names Vault integration "nosuch", which does not exist/],
    ];
    for (const [ref, message] of cases) {
      const err = await resolveCredential(ref, scope()).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(message);
      for (const secret of [TOKEN, 'robot:pa55', 'hook-bearer-0815']) expect((err as Error).message).not.toContain(secret);
    }
    await expect(resolveOperatorSecret('vault:vault/gantry/registry#auth')).rejects.toThrow(/must be env:NAME or file:/);
  });

  it('reports an unreachable Vault by its address only', async () => {
    const gone = await startReceiver();
    await gone.close();
    await t.call('POST', '/api/v1/integrations', {
      name: 'vault-down',
      typeId: 'secret_store_vault',
      config: { address: gone.url },
      credentialRef: 'env:TEST_SECRET_HOOK_TOKEN',
    });
    await expect(resolveCredential('vault:vault-down/a#b', scope())).rejects.toThrow(
      `Vault integration "vault-down" cannot be reached at ${gone.url} (ECONNREFUSED).`,
    );
  });

  it('checks health with a token lookup', async () => {
    const ok = await t.call('POST', '/api/v1/integrations/vault/check');
    expect([ok.status, ok.body.healthStatus, ok.body.healthMessage]).toEqual([200, 'healthy', 'Vault answered the token lookup']);
    process.env.TEST_SECRET_HOOK_TOKEN = 'hook-bearer-0815';
    const bad = await t.call('POST', '/api/v1/integrations/vault-bad/check');
    expect([bad.body.healthStatus, bad.body.healthMessage]).toEqual([
      'unhealthy',
      'Vault integration "vault-bad" refused its token (HTTP 403).',
    ]);
    delete process.env.TEST_SECRET_HOOK_TOKEN;
  });
});

describe('notifications', () => {
  const queue = (event: NotificationEvent) => withTenant(t.db, tenantId, (tx) => notify(tx, tenantId, event, t.clock.now()));
  const deliverAll = () =>
    new NotificationDispatcher({ db: t.db, clock: t.clock, settings: loadNotificationSettings({}), outbound: t.outbound }).drain();

  it('matches events exactly, by prefix, or all', () => {
    expect(wants(undefined, 'promotion.approved')).toBe(true);
    expect(wants(['promotion.*'], 'promotion.approved')).toBe(true);
    expect(wants(['deployment.failed'], 'promotion.approved')).toBe(false);
  });

  it('posts generic JSON and Slack payloads to the integrations that want the event, once the outbox is delivered', async () => {
    process.env.TEST_SECRET_HOOK_TOKEN = 'hook-bearer-0815';
    const mk = (body: unknown) => t.call('POST', '/api/v1/integrations', body);
    await mk({
      name: 'hook',
      typeId: 'notification_webhook',
      config: { url: `${hooks.url}/generic` },
      credentialRef: 'env:TEST_SECRET_HOOK_TOKEN',
    });
    await mk({
      name: 'slack',
      typeId: 'notification_webhook',
      config: { url: `${hooks.url}/slack`, format: 'slack', events: ['promotion.*'] },
    });
    await mk({ name: 'deploys', typeId: 'notification_webhook', config: { url: `${hooks.url}/deploys`, events: ['deployment.failed'] } });
    const before = hooks.requests.length;
    expect(await queue({ type: 'promotion.approved', data: { releaseName: '1.4.0', environmentName: 'prod', actor: 'bob' } })).toBe(2);
    expect(hooks.requests.length).toBe(before);
    await deliverAll();
    const got = hooks.requests.slice(before);
    expect(got.map((r) => r.url).sort()).toEqual(['/generic', '/slack']);
    const generic = got.find((r) => r.url === '/generic')!;
    expect(generic.headers.authorization).toBe('Bearer hook-bearer-0815');
    expect(generic.headers['idempotency-key']).toBe(JSON.parse(generic.body).id);
    expect(JSON.parse(generic.body)).toMatchObject({ event: 'promotion.approved', tenant: 'default', data: { releaseName: '1.4.0' } });
    const slack = JSON.parse(got.find((r) => r.url === '/slack')!.body);
    expect(slack.text).toBe('[default] promotion approved release 1.4.0 → prod by bob');
    expect(slack.blocks[0].text.text).toBe(slack.text);
    expect((await t.call('GET', '/api/v1/integrations/slack')).body).toMatchObject({
      healthStatus: 'healthy',
      healthMessage: 'delivered promotion.approved',
    });
    delete process.env.TEST_SECRET_HOOK_TOKEN;
  });

  it('never fails the caller: a failed delivery marks the integration unhealthy with the reason', async () => {
    hooks.setStatus(400);
    expect(await queue({ type: 'deployment.failed', data: { releaseName: '1.4.0' } })).toBe(2);
    await deliverAll();
    hooks.setStatus(200);
    const d = (await t.call('GET', '/api/v1/integrations/deploys')).body;
    expect([d.healthStatus, d.healthMessage]).toEqual([
      'unhealthy',
      `deployment.failed not delivered: ${hooks.url}/deploys answered HTTP 400`,
    ]);
    // hook has a credentialRef whose variable is gone now: the reason names the reference, not a value
    const h = (await t.call('GET', '/api/v1/integrations/hook')).body;
    expect(h.healthMessage).toMatch(/names environment variable TEST_SECRET_HOOK_TOKEN, which is not set/);
  });
});

describe('health scheduler', () => {
  it('claims each due integration once across replicas and records its health', async () => {
    await t.call('POST', '/api/v1/integrations', { name: 'scanner', typeId: 'scanner_webhook', config: { url: `${hooks.url}/scan` } });
    await t.db.query('UPDATE integrations SET next_check_at = NULL');
    const total = (await t.db.query('SELECT count(*)::int AS n FROM integrations')).rows[0].n as number;
    const a = new IntegrationHealthScheduler({ db: t.db, clock: t.clock, intervalSeconds: 300, batch: 3, outbound: t.outbound });
    const b = new IntegrationHealthScheduler({ db: t.db, clock: t.clock, intervalSeconds: 300, batch: 3, outbound: t.outbound });
    const claimed: string[] = [];
    for (;;) {
      const [x, y] = await Promise.all([a.claim(), b.claim()]);
      if (x.length + y.length === 0) break;
      claimed.push(...x.map((c) => c.id), ...y.map((c) => c.id));
    }
    expect(claimed.length).toBe(total);
    expect(new Set(claimed).size).toBe(total);
    t.clock.advance(301_000);
    expect(await a.tick()).toBe(3);
    while ((await a.tick()) + (await b.tick()) > 0) {}
    const scanner = (await t.call('GET', '/api/v1/integrations/scanner')).body;
    expect([scanner.healthStatus, scanner.healthMessage]).toEqual(['healthy', 'answered HTTP 200']);
  });
});
