import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

let t: TestApp;
let otherToken: string;
let viewerToken: string;
let releaseManagerToken: string;
let registryId: string;
let webhookId: string;

const paths = (body: { errors?: { path: string }[] }) => (body.errors ?? []).map((e) => e.path);
const count = async () => (await t.db.query('SELECT count(*)::int AS n FROM components')).rows[0].n as number;

async function tokenFor(username: string, role: string): Promise<string> {
  const user = await t.call('POST', '/api/v1/users', { username, roles: [role] });
  return (await t.call('POST', '/api/v1/tokens', { name: username, userId: user.body.id })).body.secret;
}

beforeAll(async () => {
  t = await createTestApp();
  const tenant = await t.call('POST', '/api/v1/tenants', { name: 'other', admin: { username: 'other-admin' } });
  otherToken = tenant.body.adminToken;
  viewerToken = await tokenFor('viewer1', 'viewer');
  releaseManagerToken = await tokenFor('rm1', 'release_manager');
  registryId = (
    await t.call('POST', '/api/v1/integrations', {
      name: 'registry',
      typeId: 'oci_registry',
      config: { url: 'https://registry.example.com:5000' },
    })
  ).body.id;
  webhookId = (
    await t.call('POST', '/api/v1/integrations', { name: 'hook', typeId: 'scanner_webhook', config: { url: 'https://h.example.com' } })
  ).body.id;
});

describe('components API', () => {
  it('creates components with defaults and with a registry and strategy', async () => {
    const plain = await t.call('POST', '/api/v1/components', { name: 'nginx', imageRepository: 'nginx' });
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({
      name: 'nginx',
      displayName: '',
      imageRepository: 'nginx',
      registryIntegrationId: null,
      versioningStrategy: { type: 'semver' },
      defaultChannel: 'stable',
    });
    expect(plain.body.createdAt).toBeTruthy();
    const full = await t.call('POST', '/api/v1/components', {
      name: 'api',
      displayName: 'Demo API',
      imageRepository: 'registry.example.com:5000/demo/api',
      registryIntegrationId: registryId,
      versioningStrategy: { type: 'semver', tagPattern: '^v\\d+\\.\\d+\\.\\d+$', semverExtract: '^v(.*)$' },
      defaultChannel: 'beta',
    });
    expect(full.status).toBe(201);
    expect(full.body).toMatchObject({
      registryIntegrationId: registryId,
      versioningStrategy: { type: 'semver', tagPattern: '^v\\d+\\.\\d+\\.\\d+$', semverExtract: '^v(.*)$' },
      defaultChannel: 'beta',
    });
    const local = await t.call('POST', '/api/v1/components', {
      name: 'worker',
      imageRepository: 'localhost:5000/demo/worker_v2',
      versioningStrategy: { type: 'date' },
    });
    expect(local.status).toBe(201);
  });

  it('lets a release manager create and change components', async () => {
    const made = await t.call('POST', '/api/v1/components', { name: 'web', imageRepository: 'ghcr.io/acme/web' }, releaseManagerToken);
    expect(made.status).toBe(201);
    const changed = await t.call('PATCH', '/api/v1/components/web', { displayName: 'Web' }, releaseManagerToken);
    expect(changed.status).toBe(200);
    expect(changed.body.displayName).toBe('Web');
  });

  it('lists with a cursor and gets by id or name', async () => {
    const p1 = await t.call('GET', '/api/v1/components?limit=3');
    expect(p1.body.items.map((x: { name: string }) => x.name)).toEqual(['nginx', 'api', 'worker']);
    const p2 = await t.call('GET', `/api/v1/components?limit=3&cursor=${p1.body.nextCursor}`);
    expect(p2.body.items.map((x: { name: string }) => x.name)).toEqual(['web']);
    expect(p2.body.nextCursor).toBeNull();
    const byName = await t.call('GET', '/api/v1/components/api');
    const byId = await t.call('GET', `/api/v1/components/${byName.body.id}`);
    expect(byId.body).toEqual(byName.body);
  });

  it('updates, including clearing the registry', async () => {
    const upd = await t.call('PATCH', '/api/v1/components/api', {
      registryIntegrationId: null,
      versioningStrategy: { type: 'sequential' },
      imageRepository: 'registry.example.com:5000/demo/api2',
    });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({
      name: 'api',
      displayName: 'Demo API',
      registryIntegrationId: null,
      versioningStrategy: { type: 'sequential' },
      imageRepository: 'registry.example.com:5000/demo/api2',
      defaultChannel: 'beta',
    });
    const back = await t.call('PATCH', '/api/v1/components/api', { registryIntegrationId: registryId });
    expect(back.body.registryIntegrationId).toBe(registryId);
  });

  it('refuses bad input with a problem document naming the field, and writes nothing', async () => {
    const before = await count();
    const ok = { name: 'x', imageRepository: 'demo/x' };
    const cases: [unknown, number, string][] = [
      [{ ...ok, imageRepository: 'demo/x:1.0' }, 400, 'body.imageRepository'],
      [{ ...ok, imageRepository: 'demo/x@sha256:abc' }, 400, 'body.imageRepository'],
      [{ ...ok, imageRepository: 'Demo/X' }, 400, 'body.imageRepository'],
      [{ ...ok, imageRepository: 'https://registry.example.com/x' }, 400, 'body.imageRepository'],
      [{ ...ok, imageRepository: '' }, 400, 'body.imageRepository'],
      [{ ...ok, registryIntegrationId: 'registry' }, 400, 'body.registryIntegrationId'],
      [{ ...ok, registryIntegrationId: '0190a0a0-0000-7000-8000-000000000000' }, 422, 'body.registryIntegrationId'],
      [{ ...ok, registryIntegrationId: webhookId }, 422, 'body.registryIntegrationId'],
      [{ ...ok, versioningStrategy: { type: 'calver' } }, 400, 'body.versioningStrategy.type'],
      [{ ...ok, versioningStrategy: {} }, 400, 'body.versioningStrategy.type'],
      [{ ...ok, versioningStrategy: { type: 'semver', tagPattern: '([' } }, 400, 'body.versioningStrategy.tagPattern'],
      [{ ...ok, versioningStrategy: { type: 'semver', semverExtract: 'v.*' } }, 400, 'body.versioningStrategy.semverExtract'],
      [{ ...ok, versioningStrategy: { type: 'semver', semverExtract: '(v)(.*)' } }, 400, 'body.versioningStrategy.semverExtract'],
      [{ ...ok, versioningStrategy: { type: 'semver', order: 'desc' } }, 400, 'body.versioningStrategy.order'],
      [{ ...ok, defaultChannel: 'Stable!' }, 400, 'body.defaultChannel'],
      [{ ...ok, displayName: 7 }, 400, 'body.displayName'],
      [{ ...ok, tags: [] }, 400, 'body.tags'],
      [{ ...ok, name: 'nginx' }, 409, 'body.name'],
    ];
    for (const [body, status, path] of cases) {
      const r = await t.call('POST', '/api/v1/components', body);
      expect({ status: r.status, body }).toEqual({ status, body });
      expect(paths(r.body)).toContain(path);
    }
    const tagged = await t.call('POST', '/api/v1/components', { ...ok, imageRepository: 'demo/x:1.0' });
    expect(tagged.body.detail).toMatch(/tag/);
    const badRegex = await t.call('POST', '/api/v1/components', { ...ok, versioningStrategy: { type: 'semver', tagPattern: '([' } });
    expect(badRegex.body.detail).toMatch(/not a valid regular expression: Invalid regular expression/);
    const wrongType = await t.call('POST', '/api/v1/components', { ...ok, registryIntegrationId: webhookId });
    expect(wrongType.body.detail).toMatch(/oci_registry/);
    const malformed = await t.call('POST', '/api/v1/components', '{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('malformed_json');
    const patchDup = await t.call('PATCH', '/api/v1/components/api', { name: 'nginx' });
    expect(patchDup.status).toBe(409);
    const patchBadRegistry = await t.call('PATCH', '/api/v1/components/api', { registryIntegrationId: webhookId });
    expect(patchBadRegistry.status).toBe(422);
    expect(await count()).toBe(before);
    expect((await t.call('GET', '/api/v1/components/api')).body.registryIntegrationId).toBe(registryId);
  });

  it('keeps tenants apart', async () => {
    const a = (await t.call('GET', '/api/v1/components/api')).body;
    for (const ref of [a.id, a.name]) {
      expect((await t.call('GET', `/api/v1/components/${ref}`, undefined, otherToken)).status).toBe(404);
      expect((await t.call('PATCH', `/api/v1/components/${ref}`, { displayName: 'x' }, otherToken)).status).toBe(404);
      expect((await t.call('DELETE', `/api/v1/components/${ref}`, undefined, otherToken)).status).toBe(404);
    }
    expect((await t.call('GET', '/api/v1/components', undefined, otherToken)).body.items).toEqual([]);
    // Tenant A's registry integration is invisible to tenant B.
    const foreign = await t.call(
      'POST',
      '/api/v1/components',
      { name: 'api', imageRepository: 'demo/api', registryIntegrationId: registryId },
      otherToken,
    );
    expect(foreign.status).toBe(422);
    expect(paths(foreign.body)).toEqual(['body.registryIntegrationId']);
    const own = await t.call('POST', '/api/v1/components', { name: 'api', imageRepository: 'demo/api' }, otherToken);
    expect(own.status).toBe(201);
    expect((await t.call('GET', '/api/v1/components/api')).body.displayName).toBe('Demo API');
  });

  it('lets viewers read but not write', async () => {
    expect((await t.call('GET', '/api/v1/components', undefined, viewerToken)).status).toBe(200);
    expect((await t.call('POST', '/api/v1/components', { name: 'v', imageRepository: 'demo/v' }, viewerToken)).status).toBe(403);
    expect((await t.call('PATCH', '/api/v1/components/api', { displayName: 'x' }, viewerToken)).status).toBe(403);
    expect((await t.call('DELETE', '/api/v1/components/api', undefined, viewerToken)).status).toBe(403);
  });

  it('deletes a component', async () => {
    expect((await t.call('DELETE', '/api/v1/components/worker')).status).toBe(204);
    expect((await t.call('GET', '/api/v1/components/worker')).status).toBe(404);
  });
});
