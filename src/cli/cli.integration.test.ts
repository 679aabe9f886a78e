import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../../test/cli.js';
import { createTestDb, loopbackOutbound } from '../../test/helpers.js';
import type { App } from '../http/types.js';
import { buildApp } from '../server.js';
import { bootstrap } from '../tenancy/service.js';

type Run = CliRun;

let app: App;
let server: string;
let port: number;
let adminToken: string;
let home: string;

/** Environment of a CLI run: no GANTRY_* from the developer's shell, a private HOME and config file. */
/** Runs the CLI asynchronously (a sync spawn would block this process, which is also the server). */
function gantry(args: string[], extra: Record<string, string | undefined> = {}, cwd = home): Promise<Run> {
  return runCli(args, {
    home,
    config: 'config.json',
    cwd,
    env: { NO_COLOR: '1', GANTRY_SERVER: server, GANTRY_TOKEN: adminToken, ...extra },
  });
}

function ok(r: Run): Run {
  if (r.code !== 0) throw new Error(`CLI exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

// any: tests read arbitrary JSON output shapes
const json = (r: Run): any => JSON.parse(ok(r).stdout);

function expectNoStack(r: Run): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  const { db } = await createTestDb();
  adminToken = (await bootstrap(db)).token!;
  app = await buildApp({ db, logger: false, outbound: loopbackOutbound() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  server = `http://127.0.0.1:${port}`;
  home = mkdtempSync(path.join(os.tmpdir(), 'gantry-cli-home-'));
});

afterAll(async () => {
  await app?.close();
});

describe('gantry CLI against a real server', () => {
  it('works with no login: local server on GANTRY_PORT and the token in ./.gantry/admin.token', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'gantry-cli-cwd-'));
    mkdirSync(path.join(cwd, '.gantry'));
    writeFileSync(path.join(cwd, '.gantry', 'admin.token'), `${adminToken}\n`, { mode: 0o600 });
    const noLogin = { GANTRY_SERVER: undefined, GANTRY_TOKEN: undefined, GANTRY_PORT: String(port) };
    const [who, dataDir] = await Promise.all([
      gantry(['whoami'], noLogin, cwd),
      // GANTRY_DATA_DIR elsewhere, run from another directory
      gantry(['env', 'create', 'dev', '--json'], { ...noLogin, GANTRY_DATA_DIR: path.join(cwd, '.gantry') }, home),
    ]);
    expect(ok(who).stdout).toContain('admin in tenant default (roles: admin; platform admin)');
    expect(who.stdout).toContain(path.join(cwd, '.gantry', 'admin.token'));
    expect(json(dataDir)).toMatchObject({ name: 'dev', orderIndex: 0, requiredApprovals: 0 });
  });

  it('manages environments with tables, --json and @file freeze windows', async () => {
    const freeze = path.join(home, 'freeze.json');
    writeFileSync(
      freeze,
      JSON.stringify([
        { kind: 'recurring', name: 'weekend', rrule: 'FREQ=WEEKLY;BYDAY=FR', timezone: 'Europe/Berlin', durationMinutes: 600 },
      ]),
    );
    const created = json(
      await gantry([
        'env',
        'create',
        'prod',
        '--display-name',
        'Production',
        '--required-approvals',
        '2',
        '--require-sod',
        '--freeze-windows',
        `@${freeze}`,
        '--json',
      ]),
    );
    expect(created).toMatchObject({ name: 'prod', displayName: 'Production', requiredApprovals: 2, requireSod: true, orderIndex: 1 });

    // The listings run together; the update only after them, so they see the state before it.
    const [table, list] = await Promise.all([gantry(['env', 'list']), gantry(['env', 'list', '--json'])]);
    const updated = await gantry(['env', 'update', 'prod', '--no-require-sod', '--config', '{"autoRollback":true}', '--json']);
    const lines = ok(table).stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ORDER\s+NAME\s+DISPLAY NAME\s+APPROVALS\s+SOD\s+FREEZE WINDOWS$/);
    expect(lines[2]).toMatch(/^1\s+prod\s+Production\s+2\s+yes\s+weekend$/);
    expect(json(list).map((e: { name: string }) => e.name)).toEqual(['dev', 'prod']);
    expect(json(updated)).toMatchObject({ requireSod: false, config: { autoRollback: true } });

    const got = ok(await gantry(['env', 'get', 'prod']));
    expect(got.stdout).toMatch(/requireSod\s+false/);
  });

  it('exits 4 for not found, 2 for invalid input, 5 for a conflict, 3 for a wrong token, 6 for no server', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const [missing, invalid, badJson, conflict, wrongToken, down, usage] = await Promise.all([
      gantry(['env', 'get', 'nope']),
      gantry(['env', 'create', 'Bad Name!', '--order', '3']),
      gantry(['env', 'create', 'x', '--config', '{oops']),
      gantry(['env', 'create', 'dev']),
      gantry(['env', 'list'], { GANTRY_TOKEN: 'gnt_not-a-real-token' }),
      gantry(['env', 'list', '--json'], { GANTRY_SERVER: `http://127.0.0.1:${closedPort}` }),
      gantry(['env', 'create']),
    ]);
    expect([missing.code, invalid.code, badJson.code, conflict.code, wrongToken.code, down.code, usage.code]).toEqual([
      4, 2, 2, 5, 3, 6, 2,
    ]);
    expect(missing.stderr).toBe('error: Environment "nope" was not found in this tenant.\n');
    expect(invalid.stderr).toMatch(/^error: Invalid body\.name: .*\n {2}body\.name: /);
    expect(badJson.stderr).toMatch(/^error: --config is not valid JSON/);
    expect(conflict.stderr).toMatch(/^error: .*already taken/);
    expect(wrongToken.stderr).toMatch(/^error: The API token is not known.*\n {2}token: GANTRY_TOKEN; server: /);
    expect(down.stderr).toContain(`cannot reach the Gantry server at http://127.0.0.1:${closedPort} (ECONNREFUSED)`);
    expect(down.stderr).toMatch(/npm start.*gantry server/);
    expect(down.stdout).toBe('');
    for (const r of [missing, invalid, badJson, conflict, wrongToken, down]) expectNoStack(r);
  });

  it('logs in, saves the config with mode 0600, and uses it afterwards', async () => {
    const login = ok(
      await gantry(['login', '--server', `${server}/`, '--token', adminToken], { GANTRY_SERVER: undefined, GANTRY_TOKEN: undefined }),
    );
    expect(login.stdout).toContain(`logged in to ${server} as admin in tenant default`);
    const file = path.join(home, 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const who = json(await gantry(['whoami', '--json'], { GANTRY_SERVER: undefined, GANTRY_TOKEN: undefined }));
    expect(who).toMatchObject({ user: { username: 'admin' }, server, tokenSource: `config file ${file}` });
  });

  it('creates, lists and revokes tokens; the new secret works', async () => {
    const created = json(await gantry(['token', 'create', 'ci', '--expires-in-days', '30', '--json']));
    expect(created.secret).toEqual(expect.any(String));
    expect(created.token).toMatchObject({ name: 'ci', username: 'admin' });
    const [who, list] = await Promise.all([gantry(['whoami', '--json', '--token', created.secret]), gantry(['token', 'list'])]);
    expect(json(who).tokenSource).toBe('--token');
    expect(ok(list).stdout).toMatch(/\bci\s+admin\b/);
    const revoked = ok(await gantry(['token', 'revoke', created.token.id]));
    expect(revoked.stdout).toContain(`revoked token ci (id ${created.token.id})`);
    expect((await gantry(['whoami', '--token', created.secret])).code).toBe(3);
  });

  it('adds, updates and removes users by username, and creates a tenant', async () => {
    const added = json(await gantry(['user', 'add', 'alice', '--role', 'approver', '--role', 'deployer', '--json']));
    expect(added.roles.sort()).toEqual(['approver', 'deployer']);
    const [updated, tenant] = await Promise.all([
      gantry(['user', 'update', 'alice', '--role', 'viewer', '--json']),
      gantry(['tenant', 'create', 'acme', '--admin', 'bob', '--json']),
    ]);
    expect(json(updated)).toMatchObject({ username: 'alice', roles: ['viewer'] });
    expect(json(tenant)).toMatchObject({ tenant: { name: 'acme' }, adminToken: expect.any(String) });
    const [removed, unknown] = await Promise.all([gantry(['user', 'remove', 'alice']), gantry(['user', 'remove', 'nobody'])]);
    expect(ok(removed).stdout).toBe('removed user alice\n');
    expect(unknown.code).toBe(4);
  });
});

describe('catalog commands: integrations, components, targets, agents', () => {
  it('creates an integration and a component that uses it by name', async () => {
    const reg = json(
      await gantry([
        'integration',
        'create',
        'local-registry',
        '--type',
        'oci_registry',
        '--config',
        '{"url":"http://127.0.0.1:5000","insecure":true}',
        '--json',
      ]),
    );
    expect(reg).toMatchObject({ name: 'local-registry', typeId: 'oci_registry', healthStatus: expect.any(String) });
    const comp = json(
      await gantry([
        'component',
        'create',
        'api',
        '--image',
        '127.0.0.1:5000/demo/api',
        '--registry',
        'local-registry',
        '--tag-pattern',
        '^v\\d+',
        '--json',
      ]),
    );
    expect(comp).toMatchObject({
      name: 'api',
      imageRepository: '127.0.0.1:5000/demo/api',
      registryIntegrationId: reg.id,
      versioningStrategy: { type: 'semver', tagPattern: '^v\\d+' },
    });
    const [list, bad] = await Promise.all([
      gantry(['component', 'list']),
      gantry(['component', 'create', 'web', '--image', 'Example.com/UPPER:tag']),
    ]);
    expect(ok(list).stdout).toMatch(/api\s+127\.0\.0\.1:5000\/demo\/api\s+semver\s+stable\s+yes/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('body.imageRepository');
  });

  it('creates, updates (merging labels), lists and deletes a target; lists agents', async () => {
    const t = json(
      await gantry([
        'target',
        'create',
        'web-1',
        '--env',
        'dev',
        '--type',
        'docker_host',
        '--docker-host',
        'unix:///var/run/docker.sock',
        '--label',
        'role=web',
        '--label',
        'zone=a',
        '--json',
      ]),
    );
    expect(t).toMatchObject({ name: 'web-1', environmentName: 'dev', targetType: 'docker_host', labels: { role: 'web', zone: 'a' } });
    const upd = json(await gantry(['target', 'update', 'web-1', '--label', 'tier=front', '--label', 'zone-', '--env', 'prod', '--json']));
    expect(upd).toMatchObject({
      environmentName: 'prod',
      labels: { role: 'web', tier: 'front' },
      connection: { dockerHost: 'unix:///var/run/docker.sock' },
    });
    const [prodList, devList, agents] = await Promise.all([
      gantry(['target', 'list', '--env', 'prod', '--json']),
      gantry(['target', 'list', '--env', 'dev', '--json']),
      gantry(['agent', 'list', '--json']),
    ]);
    expect(json(prodList).map((x: { name: string }) => x.name)).toEqual(['web-1']);
    expect(json(devList)).toEqual([]);
    expect(json(agents)).toEqual([]);
    const del = json(await gantry(['target', 'delete', 'web-1', '--json']));
    expect(del).toEqual({ deleted: true, kind: 'target', name: 'web-1' });
    expect((await gantry(['target', 'get', 'web-1'])).code).toBe(4);
  });
});
