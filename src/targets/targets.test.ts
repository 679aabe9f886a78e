import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

let t: TestApp;
let otherToken: string;
let viewerToken: string;
let devId: string;
let prodId: string;

const FP = `SHA256:${'A'.repeat(43)}`;
const paths = (body: { errors?: { path: string }[] }) => (body.errors ?? []).map((e) => e.path);
const count = async () => (await t.db.query('SELECT count(*)::int AS n FROM targets')).rows[0].n as number;

beforeAll(async () => {
  t = await createTestApp();
  devId = (await t.call('POST', '/api/v1/environments', { name: 'dev' })).body.id;
  prodId = (await t.call('POST', '/api/v1/environments', { name: 'prod' })).body.id;
  const tenant = await t.call('POST', '/api/v1/tenants', { name: 'other', admin: { username: 'other-admin' } });
  otherToken = tenant.body.adminToken;
  const viewer = await t.call('POST', '/api/v1/users', { username: 'viewer1', roles: ['viewer'] });
  viewerToken = (await t.call('POST', '/api/v1/tokens', { name: 'viewer', userId: viewer.body.id })).body.secret;
});

describe('targets API', () => {
  it('creates each target type with its connection shape and defaults', async () => {
    const docker = await t.call('POST', '/api/v1/targets', {
      name: 'dev-docker',
      environmentId: devId,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///var/run/docker.sock' },
      labels: { role: 'web', 'gantry.dev/zone': 'a' },
    });
    expect(docker.status).toBe(201);
    expect(docker.body).toMatchObject({
      name: 'dev-docker',
      environmentId: devId,
      environmentName: 'dev',
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///var/run/docker.sock' },
      labels: { role: 'web', 'gantry.dev/zone': 'a' },
      healthStatus: 'unknown',
      currentDigest: null,
    });
    expect(docker.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const compose = await t.call('POST', '/api/v1/targets', {
      name: 'dev-compose',
      environmentId: devId,
      targetType: 'compose_host',
      connection: { dockerHost: 'tcp://10.0.0.5:2376', projectDir: '/srv/app', projectName: 'demo' },
    });
    expect(compose.status).toBe(201);
    expect(compose.body.connection).toEqual({
      dockerHost: 'tcp://10.0.0.5:2376',
      projectDir: '/srv/app',
      projectName: 'demo',
      composeCommand: 'docker compose',
    });
    expect(compose.body.labels).toEqual({});

    const ssh = await t.call('POST', '/api/v1/targets', {
      name: 'prod-ssh',
      environmentId: prodId,
      targetType: 'ssh_host',
      connection: { host: 'prod-1.example.com', user: 'deploy', credentialRef: 'vault:vault/ssh/prod#key', hostKeyFingerprint: FP },
    });
    expect(ssh.status).toBe(201);
    expect(ssh.body.connection).toMatchObject({ host: 'prod-1.example.com', port: 22, user: 'deploy' });
    expect(ssh.body.environmentName).toBe('prod');
  });

  it('lists with a cursor and filters by environment id or name', async () => {
    const p1 = await t.call('GET', '/api/v1/targets?limit=2');
    expect(p1.status).toBe(200);
    expect(p1.body.items.map((x: { name: string }) => x.name)).toEqual(['dev-docker', 'dev-compose']);
    const p2 = await t.call('GET', `/api/v1/targets?limit=2&cursor=${p1.body.nextCursor}`);
    expect(p2.body.items.map((x: { name: string }) => x.name)).toEqual(['prod-ssh']);
    expect(p2.body.nextCursor).toBeNull();

    const byName = await t.call('GET', '/api/v1/targets?environment=prod');
    expect(byName.body.items.map((x: { name: string }) => x.name)).toEqual(['prod-ssh']);
    const byId = await t.call('GET', `/api/v1/targets?environment=${devId}`);
    expect(byId.body.items).toHaveLength(2);
    const unknownEnv = await t.call('GET', '/api/v1/targets?environment=nowhere');
    expect(unknownEnv.status).toBe(404);
    const badQuery = await t.call('GET', '/api/v1/targets?colour=blue');
    expect(badQuery.status).toBe(400);
    const badCursor = await t.call('GET', '/api/v1/targets?cursor=nonsense');
    expect(badCursor.status).toBe(400);
  });

  it('gets by id or name and updates, validating the connection against the existing type', async () => {
    const byName = await t.call('GET', '/api/v1/targets/dev-compose');
    expect(byName.status).toBe(200);
    const byId = await t.call('GET', `/api/v1/targets/${byName.body.id}`);
    expect(byId.body.name).toBe('dev-compose');

    const moved = await t.call('PATCH', '/api/v1/targets/dev-compose', { environmentId: prodId, labels: { tier: 'db' } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      environmentId: prodId,
      environmentName: 'prod',
      labels: { tier: 'db' },
      targetType: 'compose_host',
    });
    expect(moved.body.connection.projectDir).toBe('/srv/app');

    const badConn = await t.call('PATCH', '/api/v1/targets/dev-compose', {
      connection: { dockerHost: 'http://x', projectDir: 'relative' },
    });
    expect(badConn.status).toBe(400);
    expect(paths(badConn.body)).toEqual(expect.arrayContaining(['body.connection.dockerHost', 'body.connection.projectDir']));
    const foreignKey = await t.call('PATCH', '/api/v1/targets/dev-docker', { connection: { dockerHost: 'unix:///x.sock', user: 'root' } });
    expect(foreignKey.status).toBe(400);
    expect(paths(foreignKey.body)).toContain('body.connection.user');

    const typeChange = await t.call('PATCH', '/api/v1/targets/dev-docker', { targetType: 'ssh_host' });
    expect(typeChange.status).toBe(400);
    expect(paths(typeChange.body)).toEqual(['body.targetType']);
    expect(typeChange.body.detail).toMatch(/create a new target/);
    const sameType = await t.call('PATCH', '/api/v1/targets/dev-docker', { targetType: 'docker_host', name: 'dev-engine' });
    expect(sameType.status).toBe(200);
    expect(sameType.body.name).toBe('dev-engine');

    const newConn = await t.call('PATCH', '/api/v1/targets/dev-engine', {
      connection: { dockerHost: 'tcp://[::1]:2376', tls: { caRef: 'file:/etc/gantry/ca.pem', keyRef: 'env:DOCKER_KEY' } },
    });
    expect(newConn.status).toBe(200);
    expect(newConn.body.connection).toEqual({
      dockerHost: 'tcp://[::1]:2376',
      tls: { caRef: 'file:/etc/gantry/ca.pem', keyRef: 'env:DOCKER_KEY' },
    });
  });

  it('refuses bad input with a problem document naming the field, and writes nothing', async () => {
    const before = await count();
    const ok = { name: 'qa-1', environmentId: devId, targetType: 'docker_host', connection: { dockerHost: 'unix:///run/docker.sock' } };
    const cases: [unknown, number, string][] = [
      [{ ...ok, colour: 'blue' }, 400, 'body.colour'],
      [{ ...ok, targetType: 'kubernetes' }, 400, 'body.targetType'],
      [{ ...ok, environmentId: 'dev' }, 400, 'body.environmentId'],
      [{ ...ok, environmentId: '0190a0a0-0000-7000-8000-000000000000' }, 422, 'body.environmentId'],
      [{ ...ok, name: 'Bad Name' }, 400, 'body.name'],
      [{ ...ok, name: 'dev-engine' }, 409, 'body.name'],
      [{ ...ok, connection: { dockerHost: 'tcp://host' } }, 400, 'body.connection.dockerHost'],
      [{ ...ok, connection: { dockerHost: 'tcp://host:70000' } }, 400, 'body.connection.dockerHost'],
      [{ ...ok, connection: { dockerHost: 'unix://relative.sock' } }, 400, 'body.connection.dockerHost'],
      [{ ...ok, connection: { dockerHost: 'unix:///a.sock', projectDir: '/srv' } }, 400, 'body.connection.projectDir'],
      [{ ...ok, connection: { dockerHost: 'unix:///a.sock', tls: { keyRef: 'hunter2' } } }, 400, 'body.connection.tls.keyRef'],
      [{ ...ok, connection: 'unix:///a.sock' }, 400, 'body.connection'],
      [{ ...ok, labels: { 'Bad Key': 'x' } }, 400, 'body.labels.Bad Key'],
      [{ ...ok, labels: { role: 'x'.repeat(257) } }, 400, 'body.labels.role'],
      [{ ...ok, labels: { role: 5 } }, 400, 'body.labels.role'],
      [
        {
          ...ok,
          targetType: 'compose_host',
          connection: { dockerHost: 'unix:///a.sock', projectDir: '/srv', composeCommand: 'docker compose; rm -rf /' },
        },
        400,
        'body.connection.composeCommand',
      ],
      [
        { ...ok, targetType: 'ssh_host', connection: { host: 'bad host!', user: 'deploy', credentialRef: 'env:SSH_KEY' } },
        400,
        'body.connection.host',
      ],
      [
        { ...ok, targetType: 'ssh_host', connection: { host: '10.0.0.1', port: 0, user: 'deploy', credentialRef: 'env:SSH_KEY' } },
        400,
        'body.connection.port',
      ],
      [
        { ...ok, targetType: 'ssh_host', connection: { host: '10.0.0.1', user: 'deploy', credentialRef: 'secret' } },
        400,
        'body.connection.credentialRef',
      ],
      [
        {
          ...ok,
          targetType: 'ssh_host',
          connection: { host: '10.0.0.1', user: 'deploy', credentialRef: 'env:K', hostKeyFingerprint: 'MD5:aa:bb' },
        },
        400,
        'body.connection.hostKeyFingerprint',
      ],
    ];
    for (const [body, status, path] of cases) {
      const r = await t.call('POST', '/api/v1/targets', body);
      expect({ status: r.status, body }).toEqual({ status, body });
      expect(r.body.type).toMatch(/^https:\/\/gantry.dev\/problems\//);
      expect(paths(r.body)).toContain(path);
    }
    const malformed = await t.call('POST', '/api/v1/targets', '{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('malformed_json');
    const patchUnknownEnv = await t.call('PATCH', '/api/v1/targets/dev-engine', { environmentId: '0190a0a0-0000-7000-8000-000000000000' });
    expect(patchUnknownEnv.status).toBe(422);
    const patchDup = await t.call('PATCH', '/api/v1/targets/dev-engine', { name: 'prod-ssh' });
    expect(patchDup.status).toBe(409);
    expect(paths(patchDup.body)).toEqual(['body.name']);
    expect(await count()).toBe(before);
    expect((await t.call('GET', '/api/v1/targets/dev-engine')).body.environmentId).toBe(devId);
  });

  it('documents each connection shape in the OpenAPI document', async () => {
    const doc = await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    const schema = doc.json().paths['/api/v1/targets'].post.requestBody.content['application/json'].schema;
    const variants = schema.oneOf ?? schema.anyOf;
    expect(variants).toHaveLength(3);
  });

  it('keeps tenants apart', async () => {
    const a = (await t.call('GET', '/api/v1/targets/prod-ssh')).body;
    for (const ref of [a.id, a.name]) {
      expect((await t.call('GET', `/api/v1/targets/${ref}`, undefined, otherToken)).status).toBe(404);
      expect((await t.call('PATCH', `/api/v1/targets/${ref}`, { labels: {} }, otherToken)).status).toBe(404);
      expect((await t.call('DELETE', `/api/v1/targets/${ref}`, undefined, otherToken)).status).toBe(404);
    }
    const list = await t.call('GET', '/api/v1/targets', undefined, otherToken);
    expect(list.body.items).toEqual([]);
    // Tenant A's environment id is unknown to tenant B.
    const foreignEnv = await t.call(
      'POST',
      '/api/v1/targets',
      { name: 'prod-ssh', environmentId: prodId, targetType: 'docker_host', connection: { dockerHost: 'unix:///a.sock' } },
      otherToken,
    );
    expect(foreignEnv.status).toBe(422);
    expect(paths(foreignEnv.body)).toEqual(['body.environmentId']);
    // Names are unique per tenant, so B may use A's target name.
    const bEnv = await t.call('POST', '/api/v1/environments', { name: 'prod' }, otherToken);
    const own = await t.call(
      'POST',
      '/api/v1/targets',
      { name: 'prod-ssh', environmentId: bEnv.body.id, targetType: 'docker_host', connection: { dockerHost: 'unix:///a.sock' } },
      otherToken,
    );
    expect(own.status).toBe(201);
    expect((await t.call('GET', '/api/v1/targets/prod-ssh')).body.id).toBe(a.id);
  });

  it('lets viewers read but not write', async () => {
    expect((await t.call('GET', '/api/v1/targets', undefined, viewerToken)).status).toBe(200);
    const create = await t.call(
      'POST',
      '/api/v1/targets',
      { name: 'v1', environmentId: devId, targetType: 'docker_host', connection: { dockerHost: 'unix:///a.sock' } },
      viewerToken,
    );
    expect(create.status).toBe(403);
    expect(create.body.code).toBe('forbidden');
    expect((await t.call('PATCH', '/api/v1/targets/prod-ssh', { labels: {} }, viewerToken)).status).toBe(403);
    expect((await t.call('DELETE', '/api/v1/targets/prod-ssh', undefined, viewerToken)).status).toBe(403);
  });

  it('deletes a target', async () => {
    const del = await t.call('DELETE', '/api/v1/targets/prod-ssh');
    expect(del.status).toBe(204);
    expect((await t.call('GET', '/api/v1/targets/prod-ssh')).status).toBe(404);
    expect((await t.call('DELETE', '/api/v1/targets/prod-ssh')).status).toBe(404);
  });
});
