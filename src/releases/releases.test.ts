// Releases against a real registry: create by channel, tag or digest; edit drafts; ready pins every
// digest in one transaction or nothing; immutability through the API and through direct SQL; deprecate; diff.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { pushImage, registryDigest, registryToolsMissing, retag, startRegistry, type TestRegistry } from '../../test/support/registry.js';

const skip = registryToolsMissing();

describe.skipIf(skip)('releases', () => {
  let t: TestApp;
  let reg: TestRegistry;
  let adminId: string;
  const digestOf = (tag: string) => registryDigest(reg, 'demo/api', tag);

  beforeAll(async () => {
    [t, reg] = await Promise.all([createTestApp(), startRegistry()]);
    for (const tag of ['1.0.0', '1.1.0-beta.1', '1.1.0']) await pushImage(reg, 'demo/api', tag);
    await pushImage(reg, 'demo/web', '2.0.0');
    const integ = await t.call('POST', '/api/v1/integrations', {
      name: 'local',
      typeId: 'oci_registry',
      config: { url: reg.url, insecure: true },
    });
    for (const [name, repo] of [
      ['api', 'demo/api'],
      ['web', 'demo/web'],
    ]) {
      await t.call('POST', '/api/v1/components', { name, imageRepository: `${reg.host}/${repo}`, registryIntegrationId: integ.body.id });
      expect((await t.call('POST', `/api/v1/components/${name}/sync-versions`)).status).toBe(200);
    }
    adminId = (await t.db.query(`SELECT id FROM users WHERE username = 'admin'`)).rows[0].id;
  });
  afterAll(() => reg?.stop());

  it('creates a draft by channel, tag or digest, with source and creator, and edits it', async () => {
    const d = await digestOf('1.0.0');
    const r = await t.call('POST', '/api/v1/releases', {
      name: 'r1',
      components: [{ component: 'api', channel: 'stable' }, { component: 'web' }],
      sourceRef: {
        repository: 'https://git.example.com/demo',
        commitSha: '3f2a9c1',
        branch: 'main',
        ciRunUrl: 'https://ci.example.com/runs/7',
      },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'r1', status: 'draft', createdBy: adminId, sourceRef: { commitSha: '3f2a9c1', branch: 'main' } });
    expect(r.body.components[0]).toMatchObject({
      component: 'api',
      selector: { by: 'channel', value: 'stable' },
      tag: '1.1.0',
      semver: '1.1.0',
    });
    expect(r.body.components[1]).toMatchObject({ component: 'web', selector: { by: 'channel', value: 'stable' }, tag: '2.0.0' });
    const byDigest = await t.call('POST', '/api/v1/releases', { name: 'r-digest', components: [{ component: 'api', digest: d }] });
    expect(byDigest.body.components[0]).toMatchObject({ tag: '1.0.0', digest: d, selector: { by: 'digest' } });
    const edited = await t.call('PATCH', '/api/v1/releases/r-digest', {
      displayName: 'By digest',
      components: [{ component: 'api', tag: '1.1.0-beta.1' }],
    });
    expect(edited.body).toMatchObject({ displayName: 'By digest', components: [{ tag: '1.1.0-beta.1', channel: 'beta' }] });
    expect((await t.call('GET', `/api/v1/releases/${r.body.id}`)).body.name).toBe('r1');
  });

  it('refuses bad selections with the cause, writing nothing', async () => {
    const before = (await t.db.query('SELECT count(*)::int AS n FROM releases')).rows[0].n;
    const cases: [unknown, number, string, RegExp][] = [
      [{ name: 'x', components: [{ component: 'api', tag: 'latest' }] }, 422, 'body.components.0.tag', /not a semantic version/],
      [{ name: 'x', components: [{ component: 'nope' }] }, 422, 'body.components.0.component', /no component "nope"/],
      [{ name: 'x', components: [{ component: 'api' }, { component: 'api' }] }, 422, 'body.components.1.component', /twice/],
      [
        { name: 'x', components: [{ component: 'api', tag: '1.0.0', digest: `sha256:${'a'.repeat(64)}` }] },
        400,
        'body.components.0.digest',
        /one of/,
      ],
      [{ name: 'x', components: [] }, 400, 'body.components', /at least one/],
      [{ name: 'x', components: [{ component: 'api', digest: 'sha256:xyz' }] }, 400, 'body.components.0.digest', /digest/],
      [{ name: 'r1', components: [{ component: 'api' }] }, 409, 'body.name', /taken/],
    ];
    for (const [body, status, path, detail] of cases) {
      const r = await t.call('POST', '/api/v1/releases', body);
      expect({ status: r.status, body }).toEqual({ status, body });
      expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(path);
      expect(r.body.detail).toMatch(detail);
    }
    expect((await t.db.query('SELECT count(*)::int AS n FROM releases')).rows[0].n).toBe(before);
  });

  it('refuses a tag that is neither synced nor in the registry when the release is written', async () => {
    const before = (await t.db.query('SELECT count(*)::int AS n FROM releases')).rows[0].n;
    const r = await t.call('POST', '/api/v1/releases', {
      name: 'r-bad',
      components: [
        { component: 'web', tag: '2.0.0' },
        { component: 'api', tag: '9.9.9' },
      ],
    });
    expect([r.status, r.body.code]).toEqual([422, 'tag_not_found']);
    expect(r.body.errors).toEqual([
      {
        path: 'body.components.1.tag',
        message: expect.stringMatching(/^tag "9\.9\.9" of api does not exist in the registry \(demo\/api\)$/),
      },
    ]);
    expect((await t.db.query('SELECT count(*)::int AS n FROM releases')).rows[0].n).toBe(before);
  });

  it('pins nothing when one tag cannot be resolved, and names it', async () => {
    await t.call('POST', '/api/v1/releases', {
      name: 'r-bad',
      components: [
        { component: 'web', tag: '2.0.0' },
        { component: 'api', tag: '1.0.0' },
      ],
    });
    // The tag disappears from the registry after the draft was written.
    await t.db.query(
      `UPDATE releases SET components = jsonb_set(jsonb_set(jsonb_set(components, '{1,tag}', '"9.9.9"'), '{1,selector,value}', '"9.9.9"'), '{1,digest}', 'null') WHERE name = 'r-bad'`,
    );
    const r = await t.call('POST', '/api/v1/releases/r-bad/ready');
    expect([r.status, r.body.code]).toEqual([422, 'release_unresolvable']);
    expect(r.body.detail).toMatch(/api: tag "9\.9\.9" of demo\/api is not in the registry/);
    expect(r.body.errors).toEqual([{ path: 'components.1', message: expect.stringMatching(/9\.9\.9/) }]);
    const after = (await t.call('GET', '/api/v1/releases/r-bad')).body;
    expect(after.status).toBe('draft');
    expect(after.components.map((c: { digest: string | null }) => c.digest)).toEqual([
      await registryDigest(reg, 'demo/web', '2.0.0'),
      null,
    ]);
  });

  it('makes a release ready from "stable, latest", pinning the registry digest of 1.1.0; re-tagging leaves it unchanged', async () => {
    const r = await t.call('POST', '/api/v1/releases/r1/ready');
    expect(r.status).toBe(200);
    const pinned = await digestOf('1.1.0');
    expect(r.body.status).toBe('ready');
    expect(r.body.components[0]).toMatchObject({ component: 'api', tag: '1.1.0', semver: '1.1.0', channel: 'stable', digest: pinned });
    expect(r.body.components[1].digest).toBe(await registryDigest(reg, 'demo/web', '2.0.0'));
    expect((await t.call('POST', '/api/v1/releases/r1/ready')).status).toBe(409);

    await retag(reg, 'demo/api', '1.0.0', '1.1.0');
    expect((await t.call('POST', '/api/v1/components/api/sync-versions')).body.moved).toBe(1);
    const still = (await t.call('GET', '/api/v1/releases/r1')).body;
    expect(still.components[0].digest).toBe(pinned);
    expect(still.status).toBe('ready');
  });

  it('refuses changes to a ready release through the API and through direct SQL', async () => {
    const patch = await t.call('PATCH', '/api/v1/releases/r1', { components: [{ component: 'api', tag: '1.0.0' }] });
    expect([patch.status, patch.body.code]).toEqual([409, 'release_immutable']);
    expect((await t.call('PATCH', '/api/v1/releases/r1', { displayName: 'x' })).status).toBe(409);
    const sql = (q: string) => t.db.query(q);
    await expect(sql(`UPDATE releases SET components = '[]' WHERE name = 'r1'`)).rejects.toThrow(/immutable/);
    await expect(
      sql(`UPDATE releases SET components = jsonb_set(components, '{0,digest}', '"sha256:${'0'.repeat(64)}"') WHERE name = 'r1'`),
    ).rejects.toMatchObject({ code: 'GT002' });
    await expect(sql(`UPDATE releases SET name = 'r1-renamed' WHERE name = 'r1'`)).rejects.toMatchObject({ code: 'GT002' });
    await expect(sql(`UPDATE releases SET status = 'draft' WHERE name = 'r1'`)).rejects.toThrow(/cannot go from ready to draft/);
    await expect(sql(`UPDATE releases SET status = 'ready' WHERE name = 'r-bad'`)).rejects.toThrow(/pinned to a sha256 digest/);
    await expect(
      sql(`INSERT INTO releases (tenant_id, name, status) SELECT id, 'sneaky', 'ready' FROM tenants LIMIT 1`),
    ).rejects.toMatchObject({ code: 'GT002' });
    // forward transitions stay allowed
    await sql(`UPDATE releases SET status = 'deployed' WHERE name = 'r1'`);
    expect((await t.call('GET', '/api/v1/releases/r1')).body.status).toBe('deployed');
  });

  it('deprecates ready or deployed releases only', async () => {
    expect((await t.call('POST', '/api/v1/releases/r-bad/deprecate')).status).toBe(409);
    const d = await t.call('POST', '/api/v1/releases/r1/deprecate');
    expect([d.status, d.body.status]).toEqual([200, 'deprecated']);
    expect((await t.call('POST', '/api/v1/releases/r1/deprecate')).body.status).toBe('deprecated');
    await expect(t.db.query(`UPDATE releases SET status = 'ready' WHERE name = 'r1'`)).rejects.toThrow(
      /cannot go from deprecated to ready/,
    );
    expect((await t.call('GET', '/api/v1/releases?status=deprecated')).body.items.map((r: { name: string }) => r.name)).toEqual(['r1']);
  });

  it('edits and deletes a draft; a ready release can be neither', async () => {
    const created = await t.call('POST', '/api/v1/releases', { name: 'r-del', components: [{ component: 'api', tag: '1.0.0' }] });
    expect(created.status).toBe(201);
    const bad = await t.call('PATCH', '/api/v1/releases/r-del', { components: [{ component: 'api', tag: '7.7.7' }] });
    expect([bad.status, bad.body.code, bad.body.errors[0].path]).toEqual([422, 'tag_not_found', 'body.components.0.tag']);
    const ok = await t.call('PATCH', '/api/v1/releases/r-del', { components: [{ component: 'api', tag: '1.1.0' }] });
    expect([ok.status, ok.body.components[0].tag, ok.body.components[0].semver]).toEqual([200, '1.1.0', '1.1.0']);
    expect((await t.call('DELETE', '/api/v1/releases/r-del')).status).toBe(204);
    expect((await t.call('GET', '/api/v1/releases/r-del')).status).toBe(404);
    const ready = await t.call('DELETE', '/api/v1/releases/r1');
    expect([ready.status, ready.body.code]).toEqual([409, 'release_immutable']);
  });

  it('diffs two releases per component', async () => {
    await t.call('POST', '/api/v1/releases', {
      name: 'r2',
      components: [
        { component: 'api', tag: '1.0.0' },
        { component: 'web', tag: '2.0.0' },
      ],
    });
    expect((await t.call('POST', '/api/v1/releases/r2/ready')).status).toBe(200);
    await t.call('POST', '/api/v1/releases', { name: 'r3', components: [{ component: 'api', tag: '1.1.0-beta.1' }] });
    expect((await t.call('POST', '/api/v1/releases/r3/ready')).status).toBe(200);
    const d = await t.call('GET', '/api/v1/releases/r2/diff/r3');
    expect(d.status).toBe(200);
    expect(d.body.components).toEqual([
      {
        componentId: expect.any(String),
        component: 'api',
        change: 'changed',
        fields: ['tag', 'semver', 'digest'],
        from: { tag: '1.0.0', semver: '1.0.0', digest: await digestOf('1.0.0') },
        to: { tag: '1.1.0-beta.1', semver: '1.1.0-beta.1', digest: await digestOf('1.1.0-beta.1') },
      },
      expect.objectContaining({ component: 'web', change: 'removed', to: null }),
    ]);
    const q = await t.call('GET', '/api/v1/releases/diff?from=r2&to=r3');
    expect(q.body).toEqual(d.body);
    expect((await t.call('GET', '/api/v1/releases/r2/diff/nope')).status).toBe(404);
  });
});
