import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { NotFoundError } from '../core/errors.js';
import { withTenant } from '../store/db.js';
import { getIntegrations } from './service.js';

let t: TestApp;
let otherToken: string;
let viewerToken: string;

const paths = (body: { errors?: { path: string }[] }) => (body.errors ?? []).map((e) => e.path);
const count = async () => (await t.db.query('SELECT count(*)::int AS n FROM integrations')).rows[0].n as number;

beforeAll(async () => {
  t = await createTestApp();
  const tenant = await t.call('POST', '/api/v1/tenants', { name: 'other', admin: { username: 'other-admin' } });
  otherToken = tenant.body.adminToken;
  const viewer = await t.call('POST', '/api/v1/users', { username: 'viewer1', roles: ['viewer'] });
  viewerToken = (await t.call('POST', '/api/v1/tokens', { name: 'viewer', userId: viewer.body.id })).body.secret;
});

describe('integrations API', () => {
  it('creates each built-in type, filling in config defaults', async () => {
    const registry = await t.call('POST', '/api/v1/integrations', {
      name: 'registry',
      typeId: 'oci_registry',
      config: { url: 'https://registry.example.com:5000' },
      credentialRef: 'env:TEST_SECRET_REGISTRY_PASSWORD',
    });
    expect(registry.status).toBe(201);
    expect(registry.body).toMatchObject({
      name: 'registry',
      typeId: 'oci_registry',
      config: { url: 'https://registry.example.com:5000' },
      credentialRef: 'env:TEST_SECRET_REGISTRY_PASSWORD',
      healthStatus: 'unknown',
      healthMessage: null,
      lastCheckedAt: null,
    });
    const vault = await t.call('POST', '/api/v1/integrations', {
      name: 'vault',
      typeId: 'secret_store_vault',
      config: { address: 'https://vault.example.com:8200' },
      credentialRef: 'file:/etc/gantry/vault-token',
    });
    expect(vault.status).toBe(201);
    expect(vault.body.config).toEqual({ address: 'https://vault.example.com:8200', mount: 'secret' });
    const notify = await t.call('POST', '/api/v1/integrations', {
      name: 'chat',
      typeId: 'notification_webhook',
      config: { url: 'https://hooks.example.com/x', events: ['promotion.approved'] },
      credentialRef: 'vault:vault/gantry/chat#url',
    });
    expect(notify.status).toBe(201);
    expect(notify.body.config).toEqual({ url: 'https://hooks.example.com/x', format: 'generic', events: ['promotion.approved'] });
    const scanner = await t.call('POST', '/api/v1/integrations', {
      name: 'scanner',
      typeId: 'scanner_webhook',
      config: { url: 'http://scan:8080' },
    });
    expect(scanner.status).toBe(201);
    expect(scanner.body.credentialRef).toBeNull();
    const policy = await t.call('POST', '/api/v1/integrations', {
      name: 'policy',
      typeId: 'policy_webhook',
      config: { url: 'https://opa.example.com/v1/data/gantry', timeoutMs: 2000 },
    });
    expect(policy.status).toBe(201);
    const insecure = await t.call('POST', '/api/v1/integrations', {
      name: 'lab-registry',
      typeId: 'oci_registry',
      config: { url: 'http://registry.lab:5000', insecure: true },
    });
    expect(insecure.status).toBe(201);
  });

  it('lists with a cursor and gets by id or name', async () => {
    const p1 = await t.call('GET', '/api/v1/integrations?limit=4');
    expect(p1.status).toBe(200);
    expect(p1.body.items.map((x: { name: string }) => x.name)).toEqual(['registry', 'vault', 'chat', 'scanner']);
    const p2 = await t.call('GET', `/api/v1/integrations?limit=4&cursor=${p1.body.nextCursor}`);
    expect(p2.body.items.map((x: { name: string }) => x.name)).toEqual(['policy', 'lab-registry']);
    expect(p2.body.nextCursor).toBeNull();
    const byName = await t.call('GET', '/api/v1/integrations/vault');
    const byId = await t.call('GET', `/api/v1/integrations/${byName.body.id}`);
    expect(byId.body).toEqual(byName.body);
  });

  it('reads several by id or name in one statement, each missing one as a 404 naming it', async () => {
    const vault = (await t.call('GET', '/api/v1/integrations/vault')).body;
    const tenantId = (await t.call('GET', '/api/v1/whoami')).body.tenant.id as string;
    const found = await withTenant(t.db, tenantId, (tx) =>
      getIntegrations(tx, ['scanner', vault.id, 'nope', '0190e1a2-0000-7000-8000-000000000000']),
    );
    expect((found.get('scanner') as { name: string }).name).toBe('scanner');
    expect((found.get(vault.id) as { name: string }).name).toBe('vault');
    expect(found.get('nope')).toBeInstanceOf(NotFoundError);
    expect((found.get('nope') as Error).message).toMatch(/nope/);
    expect(found.get('0190e1a2-0000-7000-8000-000000000000')).toBeInstanceOf(NotFoundError);
    // another tenant's integrations stay out of reach
    const other = (await t.call('GET', '/api/v1/whoami', undefined, otherToken)).body.tenant.id as string;
    const fromOther = await withTenant(t.db, other, (tx) => getIntegrations(tx, ['scanner', vault.id]));
    expect([...fromOther.values()].every((v) => v instanceof NotFoundError)).toBe(true);
  });

  it('refuses secrets in config and points to credentialRef', async () => {
    const flat = await t.call('POST', '/api/v1/integrations', {
      name: 'leaky',
      typeId: 'oci_registry',
      config: { url: 'https://r.example.com', password: 'hunter2' },
    });
    expect(flat.status).toBe(400);
    expect(flat.body.code).toBe('secret_in_config');
    expect(paths(flat.body)).toEqual(['body.config.password']);
    expect(flat.body.detail).toMatch(/secret store.*credentialRef/);
    expect(JSON.stringify(flat.body)).not.toContain('hunter2');
    const nested = await t.call('POST', '/api/v1/integrations', {
      name: 'leaky',
      typeId: 'notification_webhook',
      config: { url: 'https://h.example.com', headers: { 'X-Api-Key': 'k' }, authToken: 't' },
    });
    expect(nested.status).toBe(400);
    expect(paths(nested.body)).toEqual(['body.config.headers.X-Api-Key', 'body.config.authToken']);
    const inUrl = await t.call('POST', '/api/v1/integrations', {
      name: 'leaky',
      typeId: 'scanner_webhook',
      config: { url: 'https://user:pw@h.example.com' },
    });
    expect(inUrl.status).toBe(400);
    expect(paths(inUrl.body)).toEqual(['body.config.url']);
    const patch = await t.call('PATCH', '/api/v1/integrations/vault', { config: { address: 'https://v.example.com', secretId: 'x' } });
    expect(patch.status).toBe(400);
    expect(paths(patch.body)).toEqual(['body.config.secretId']);
  });

  it('refuses bad input with a problem document naming the field, and writes nothing', async () => {
    const before = await count();
    const cases: [unknown, number, string][] = [
      [{ name: 'x', typeId: 'jira' }, 400, 'body.typeId'],
      [{ name: 'x', typeId: 'oci_registry', config: { url: 'http://r.example.com' } }, 400, 'body.config.url'],
      [{ name: 'x', typeId: 'oci_registry', config: { url: 'ftp://r.example.com' } }, 400, 'body.config.url'],
      [{ name: 'x', typeId: 'oci_registry', config: {} }, 400, 'body.config.url'],
      [{ name: 'x', typeId: 'oci_registry', config: { url: 'https://r', colour: 1 } }, 400, 'body.config.colour'],
      [{ name: 'x', typeId: 'notification_webhook', config: { url: 'https://h', format: 'teams' } }, 400, 'body.config.format'],
      [{ name: 'x', typeId: 'policy_webhook', config: { url: 'https://h', timeoutMs: 'soon' } }, 400, 'body.config.timeoutMs'],
      [{ name: 'x', typeId: 'scanner_webhook', config: { url: 'https://h' }, credentialRef: 'hunter2' }, 400, 'body.credentialRef'],
      [{ name: 'x', typeId: 'scanner_webhook', config: { url: 'https://h' }, credentialRef: 'env:lower' }, 400, 'body.credentialRef'],
      [{ name: 'x', typeId: 'scanner_webhook', config: { url: 'https://h' }, credentialRef: 'file:relative' }, 400, 'body.credentialRef'],
      [{ name: 'x', typeId: 'scanner_webhook', config: { url: 'https://h' }, credentialRef: 'vault:vault' }, 400, 'body.credentialRef'],
      [{ name: 'x', typeId: 'scanner_webhook', config: [] }, 400, 'body.config'],
      [{ name: 'x', typeId: 'scanner_webhook', extra: true }, 400, 'body.extra'],
      [{ name: 'registry', typeId: 'scanner_webhook', config: { url: 'https://h' } }, 409, 'body.name'],
    ];
    for (const [body, status, path] of cases) {
      const r = await t.call('POST', '/api/v1/integrations', body);
      expect({ status: r.status, body }).toEqual({ status, body });
      expect(paths(r.body)).toContain(path);
    }
    const unknownType = await t.call('POST', '/api/v1/integrations', { name: 'x', typeId: 'jira' });
    expect(unknownType.body.detail).toContain('oci_registry, secret_store_vault, notification_webhook, scanner_webhook, policy_webhook');
    const malformed = await t.call('POST', '/api/v1/integrations', '{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('malformed_json');
    expect(await count()).toBe(before);
  });

  it('updates config and credentialRef but not the type', async () => {
    const typeChange = await t.call('PATCH', '/api/v1/integrations/scanner', { typeId: 'policy_webhook' });
    expect(typeChange.status).toBe(400);
    expect(paths(typeChange.body)).toEqual(['body.typeId']);
    expect(typeChange.body.detail).toMatch(/create a new integration/);
    const upd = await t.call('PATCH', '/api/v1/integrations/scanner', {
      config: { url: 'https://scanner.example.com' },
      credentialRef: 'env:TEST_SECRET_SCANNER_TOKEN',
    });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ config: { url: 'https://scanner.example.com' }, credentialRef: 'env:TEST_SECRET_SCANNER_TOKEN' });
    const badConfig = await t.call('PATCH', '/api/v1/integrations/scanner', { config: { url: 'nope' } });
    expect(badConfig.status).toBe(400);
    expect(paths(badConfig.body)).toEqual(['body.config.url']);
    const cleared = await t.call('PATCH', '/api/v1/integrations/scanner', { credentialRef: null, name: 'trivy' });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ name: 'trivy', credentialRef: null, config: { url: 'https://scanner.example.com' } });
  });

  it('refuses to delete an integration a component still uses', async () => {
    const registry = (await t.call('GET', '/api/v1/integrations/registry')).body;
    const comp = await t.call('POST', '/api/v1/components', {
      name: 'api',
      imageRepository: 'registry.example.com:5000/demo/api',
      registryIntegrationId: registry.id,
    });
    expect(comp.status).toBe(201);
    const refused = await t.call('DELETE', '/api/v1/integrations/registry');
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('in_use');
    expect(refused.body.detail).toContain('api');
    expect(refused.body.detail).toMatch(/registryIntegrationId/);
    await t.call('PATCH', '/api/v1/components/api', { registryIntegrationId: null });
    expect((await t.call('DELETE', '/api/v1/integrations/registry')).status).toBe(204);
    expect((await t.call('GET', '/api/v1/integrations/registry')).status).toBe(404);
  });

  it('keeps tenants apart', async () => {
    const a = (await t.call('GET', '/api/v1/integrations/vault')).body;
    for (const ref of [a.id, a.name]) {
      expect((await t.call('GET', `/api/v1/integrations/${ref}`, undefined, otherToken)).status).toBe(404);
      expect((await t.call('PATCH', `/api/v1/integrations/${ref}`, { credentialRef: null }, otherToken)).status).toBe(404);
      expect((await t.call('DELETE', `/api/v1/integrations/${ref}`, undefined, otherToken)).status).toBe(404);
    }
    expect((await t.call('GET', '/api/v1/integrations', undefined, otherToken)).body.items).toEqual([]);
    expect((await t.call('GET', '/api/v1/integrations/vault')).body.credentialRef).toBe('file:/etc/gantry/vault-token');
  });

  it('lets viewers read but not write', async () => {
    expect((await t.call('GET', '/api/v1/integrations/vault', undefined, viewerToken)).status).toBe(200);
    const body = { name: 'v', typeId: 'scanner_webhook', config: { url: 'https://h' } };
    expect((await t.call('POST', '/api/v1/integrations', body, viewerToken)).status).toBe(403);
    expect((await t.call('PATCH', '/api/v1/integrations/vault', { credentialRef: null }, viewerToken)).status).toBe(403);
    expect((await t.call('DELETE', '/api/v1/integrations/vault', undefined, viewerToken)).status).toBe(403);
  });
});
