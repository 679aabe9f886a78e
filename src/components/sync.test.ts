// Version-map sync against a real registry (docker-registry + skopeo-pushed busybox images): digests as
// the registry reports them, channels, moved tags kept as history, failures that write nothing, the
// integration health check, and the scheduler's claim that keeps replicas from syncing one component twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { pushImage, registryDigest, registryToolsMissing, retag, startRegistry, type TestRegistry } from '../../test/support/registry.js';
import { SyncScheduler } from './scheduler.js';

const skip = registryToolsMissing();

describe.skipIf(skip)('component version sync', () => {
  let t: TestApp;
  let reg: TestRegistry;
  let secured: TestRegistry;
  const versions = async (q = '') => (await t.call('GET', `/api/v1/components/api/versions${q}`)).body.items as Record<string, unknown>[];
  const mapCount = async () => (await t.db.query('SELECT count(*)::int AS n FROM version_maps')).rows[0].n as number;

  beforeAll(async () => {
    [t, reg, secured] = await Promise.all([createTestApp(), startRegistry(), startRegistry({ username: 'ci', password: 'pa55:word' })]);
    for (const tag of ['1.0.0', '1.1.0-beta.1', '1.1.0', 'latest']) await pushImage(reg, 'demo/api', tag);
    await pushImage(secured, 'demo/api', '2.0.0');
    process.env.TEST_SECRET_SYNC_CREDS = 'ci:pa55:word';
    process.env.TEST_SECRET_SYNC_WRONG = 'ci:not-the-password';
    const mk = async (name: string, r: TestRegistry, credentialRef?: string) =>
      t.call('POST', '/api/v1/integrations', {
        name,
        typeId: 'oci_registry',
        config: { url: r.url, insecure: true },
        ...(credentialRef ? { credentialRef } : {}),
      });
    expect((await mk('local', reg)).status).toBe(201);
    expect((await mk('secured', secured, 'env:TEST_SECRET_SYNC_CREDS')).status).toBe(201);
    expect((await mk('secured-wrong', secured, 'env:TEST_SECRET_SYNC_WRONG')).status).toBe(201);
    const local = (await t.call('GET', '/api/v1/integrations/local')).body.id;
    expect(
      (await t.call('POST', '/api/v1/components', { name: 'api', imageRepository: `${reg.host}/demo/api`, registryIntegrationId: local }))
        .status,
    ).toBe(201);
  });
  afterAll(async () => {
    await Promise.all([reg?.stop(), secured?.stop()]);
  });

  it('fills the version map with the registry digests and the right channels', async () => {
    const r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ component: 'api', repository: 'demo/api', registry: 'local', tags: 4, added: 3, moved: 0, removed: 0 });
    expect(r.body.skipped).toEqual([{ tag: 'latest', reason: expect.stringMatching(/not a semantic version/) }]);
    const items = await versions();
    expect(items.map((v) => [v.tag, v.semver, v.channel, v.current])).toEqual([
      ['1.1.0', '1.1.0', 'stable', true],
      ['1.1.0-beta.1', '1.1.0-beta.1', 'beta', true],
      ['1.0.0', '1.0.0', 'stable', true],
    ]);
    for (const v of items) expect(v.digest).toBe(await registryDigest(reg, 'demo/api', String(v.tag)));
    expect((await versions('?channel=stable')).map((v) => v.tag)).toEqual(['1.1.0', '1.0.0']);
    const c = (await t.call('GET', '/api/v1/components/api')).body;
    expect(c.lastSyncedAt).toBeTruthy();
    expect(c.syncError).toBeNull();
    expect((await t.call('GET', '/api/v1/integrations/local')).body.healthStatus).toBe('healthy');
    const again = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect(again.body).toMatchObject({ added: 0, moved: 0, unchanged: 3 });
  });

  it('records a tag that moved to another digest as history, never overwriting it', async () => {
    const before = await registryDigest(reg, 'demo/api', '1.1.0');
    await retag(reg, 'demo/api', '1.0.0', '1.1.0');
    const after = await registryDigest(reg, 'demo/api', '1.1.0');
    expect(after).not.toBe(before);
    const r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect(r.body).toMatchObject({ added: 0, moved: 1, unchanged: 2 });
    const hist = await versions('?history=true&tag=1.1.0');
    expect(hist.map((v) => [v.digest, v.current])).toEqual([
      [after, true],
      [before, false],
    ]);
    expect(hist[1]!.supersededAt).toBeTruthy();
    expect((await versions()).find((v) => v.tag === '1.1.0')!.digest).toBe(after);
  });

  it('fails clearly and writes nothing on registry errors', async () => {
    const before = await mapCount();
    const patch = (body: unknown) => t.call('PATCH', '/api/v1/components/api', body);
    // unknown repository
    await patch({ imageRepository: `${reg.host}/demo/missing` });
    let r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect([r.status, r.body.code]).toEqual([422, 'registry_not_found']);
    expect(r.body.detail).toMatch(/demo\/missing/);
    expect((await t.call('GET', '/api/v1/components/api')).body.syncError).toMatch(/demo\/missing/);
    // wrong credentials
    const wrong = (await t.call('GET', '/api/v1/integrations/secured-wrong')).body.id;
    await patch({ imageRepository: `${secured.host}/demo/api`, registryIntegrationId: wrong });
    r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect([r.status, r.body.code]).toEqual([422, 'registry_auth_failed']);
    expect(JSON.stringify(r.body)).not.toMatch(/not-the-password/);
    expect((await t.call('GET', '/api/v1/integrations/secured-wrong')).body.healthStatus).toBe('unhealthy');
    // unreachable registry
    const gone = await startRegistry();
    await gone.stop();
    const dead = await t.call('POST', '/api/v1/integrations', {
      name: 'dead',
      typeId: 'oci_registry',
      config: { url: gone.url, insecure: true },
    });
    await patch({ registryIntegrationId: dead.body.id });
    r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect([r.status, r.body.code]).toEqual([502, 'registry_unreachable']);
    expect(r.body.detail).toMatch(/unreachable \(ECONNREFUSED\)/);
    // missing secret
    const unset = await t.call('POST', '/api/v1/integrations', {
      name: 'unset',
      typeId: 'oci_registry',
      config: { url: secured.url, insecure: true },
      credentialRef: 'env:TEST_SECRET_NOT_SET',
    });
    await patch({ registryIntegrationId: unset.body.id });
    r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect([r.status, r.body.code]).toEqual([422, 'credential_unavailable']);
    // no registry at all
    await patch({ registryIntegrationId: null });
    r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect([r.status, r.body.code]).toEqual([422, 'no_registry']);
    expect(await mapCount()).toBe(before);
    // basic auth that works
    await patch({ registryIntegrationId: (await t.call('GET', '/api/v1/integrations/secured')).body.id });
    r = await t.call('POST', '/api/v1/components/api/sync-versions');
    expect(r.status).toBe(200);
    expect((await versions()).map((v) => [v.tag, v.digest])).toEqual([['2.0.0', await registryDigest(secured, 'demo/api', '2.0.0')]]);
    // back to the plain registry for the tests below
    await patch({
      imageRepository: `${reg.host}/demo/api`,
      registryIntegrationId: (await t.call('GET', '/api/v1/integrations/local')).body.id,
    });
  });

  it('checks an integration with GET /v2/ and records its health', async () => {
    const ok = await t.call('POST', '/api/v1/integrations/secured/check');
    expect([ok.status, ok.body.healthStatus]).toEqual([200, 'healthy']);
    const bad = await t.call('POST', '/api/v1/integrations/secured-wrong/check');
    expect([bad.status, bad.body.healthStatus]).toEqual([200, 'unhealthy']);
    expect(bad.body.healthMessage).toMatch(/refused the configured credentials/);
  });

  it('rejects invalid strategies before anything is stored', async () => {
    const r = await t.call('PATCH', '/api/v1/components/api', { versioningStrategy: { type: 'semver', tagPattern: '([' } });
    expect([r.status, r.body.errors[0].path]).toEqual([400, 'body.versioningStrategy.tagPattern']);
    const m = await t.call('PATCH', '/api/v1/components/api', {
      versioningStrategy: { type: 'semver', channels: { prerelease: 'Bad Channel' } },
    });
    expect(m.status).toBe(400);
  });

  it('maps channels as configured', async () => {
    await t.call('PATCH', '/api/v1/components/api', {
      versioningStrategy: { type: 'semver', channels: { release: 'prod', byPrerelease: { beta: 'preview' } } },
    });
    await t.call('POST', '/api/v1/components/api/sync-versions');
    expect((await versions()).map((v) => [v.tag, v.channel])).toEqual([
      ['1.1.0', 'prod'],
      ['1.1.0-beta.1', 'preview'],
      ['1.0.0', 'prod'],
    ]);
    await t.call('PATCH', '/api/v1/components/api', { versioningStrategy: { type: 'semver' } });
    await t.call('POST', '/api/v1/components/api/sync-versions');
  });

  it('lets two scheduler replicas claim disjoint components, and syncs what is due', async () => {
    const local = (await t.call('GET', '/api/v1/integrations/local')).body.id;
    for (let i = 0; i < 6; i++) {
      await t.call('POST', '/api/v1/components', {
        name: `svc${i}`,
        imageRepository: `${reg.host}/demo/api`,
        registryIntegrationId: local,
      });
    }
    await t.db.query('UPDATE components SET next_sync_at = NULL');
    const a = new SyncScheduler({ db: t.db, clock: t.clock, intervalSeconds: 300, batch: 4 });
    const b = new SyncScheduler({ db: t.db, clock: t.clock, intervalSeconds: 300, batch: 4 });
    const [ca, cb] = await Promise.all([a.claim(), b.claim()]);
    const ids = [...ca, ...cb].map((c) => c.id);
    expect(ids.length).toBe(7);
    expect(new Set(ids).size).toBe(7);
    expect(await a.claim()).toEqual([]); // nothing due until the interval has passed
    t.clock.advance(301_000);
    expect(await a.tick()).toBe(4);
    const synced = await t.db.query('SELECT count(*)::int AS n FROM components WHERE last_synced_at IS NOT NULL AND name LIKE $1', [
      'svc%',
    ]);
    expect(synced.rows[0].n).toBeGreaterThanOrEqual(3);
  });
});
