// `gantry apply` and `gantry export` as an operator uses them: the real CLI (a child process) against a real
// API on a per-file database. Apply the example repository, apply again (no changes), edit one field (the plan
// names exactly it), export and apply the export (no changes), refuse an invalid file naming file:line and field.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, REPO_ROOT, runGantry } from '../../test/e2e/support.js';
import { createTestDb, loopbackOutbound } from '../../test/helpers.js';
import type { App } from '../http/types.js';
import { buildApp } from '../server.js';
import { bootstrap } from '../tenancy/service.js';
import { hashFiles, readConfigFiles } from './apply-load.js';

const EXAMPLE = path.join(REPO_ROOT, 'examples', 'config');
let app: App;
let server: string;
let token: string;
let dir: string;

const gantry = (args: string[]) =>
  runGantry(
    args,
    childEnv({ GANTRY_SERVER: server, GANTRY_TOKEN: token, GANTRY_CONFIG: path.join(dir, 'c.json'), GANTRY_FROM_SOURCE: '1' }),
  );

async function ok(args: string[]) {
  const r = await gantry(args);
  if (r.code !== 0) throw new Error(`gantry ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(`${server}/api/v1${url}`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as T;
}

beforeAll(async () => {
  const { db } = await createTestDb();
  token = (await bootstrap(db)).token!;
  app = await buildApp({ db, logger: false, outbound: loopbackOutbound() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-apply-'));
});
afterAll(async () => {
  await app?.close();
});

describe('gantry apply', () => {
  it('creates the example setup, records the apply with the files’ hash, and a second apply changes nothing', async () => {
    const refused = await gantry(['apply', '-f', EXAMPLE]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');

    const first = await ok(['apply', '-f', EXAMPLE, '--yes']);
    expect(first.stdout).toContain('+ environment dev');
    expect(first.stdout).toContain('Plan: 11 to create, 0 to change, 0 to delete.');
    const envs = await api<{ items: { name: string; requiredApprovals: number; requireSod: boolean }[] }>('/environments');
    expect(envs.items.map((e) => e.name)).toEqual(['dev', 'staging', 'prod']);
    expect(envs.items[2]).toMatchObject({ requiredApprovals: 2, requireSod: true });

    const applies = await api<{ items: { sha256: string; created: number; appliedBy: { username: string } }[] }>('/config-applies');
    expect(applies.items).toHaveLength(1);
    expect(applies.items[0]).toMatchObject({
      sha256: hashFiles(readConfigFiles([EXAMPLE])).sha256,
      created: 11,
      appliedBy: { username: 'admin' },
    });

    // Announced to the example's chat channel, which subscribes to config.applied (created by the same apply).
    const sent = await api<{ items: { channel: string; data: { sha256: string } }[] }>('/notifications?event=config.applied');
    expect(sent.items).toMatchObject([{ channel: 'team-chat', data: { sha256: applies.items[0]!.sha256 } }]);

    const again = await ok(['apply', '-f', EXAMPLE, '--yes']);
    expect(again.stdout).toContain('No changes: the server matches the files.');
    expect(again.stdout).not.toMatch(/^[+~-] /m);
    expect((await api<{ items: unknown[] }>('/config-applies')).items).toHaveLength(1);
  });

  it('shows exactly the edited field in the plan, then applies it', async () => {
    const edited = path.join(dir, 'edited');
    cpSync(EXAMPLE, edited, { recursive: true });
    const envFile = path.join(edited, 'environments.yaml');
    writeFileSync(envFile, readFileSync(envFile, 'utf8').replace('requiredApprovals: 2', 'requiredApprovals: 3'));

    const dry = await ok(['apply', '-f', edited, '--dry-run']);
    expect(dry.stdout).toBe('~ environment prod\n    requiredApprovals: 2 → 3\nPlan: 0 to create, 1 to change, 0 to delete.\n');
    const plan = JSON.parse((await ok(['apply', '-f', edited, '--dry-run', '--json'])).stdout);
    expect(plan.plan).toEqual([
      { action: 'change', kind: 'Environment', name: 'prod', changes: [{ field: 'requiredApprovals', from: 2, to: 3 }] },
    ]);

    await ok(['apply', '-f', edited, '--yes']);
    expect((await api<{ requiredApprovals: number }>('/environments/prod')).requiredApprovals).toBe(3);
    expect((await ok(['apply', '-f', edited, '--dry-run'])).stdout).toContain('No changes');
  });

  it('exports files that apply as no change, without secrets', async () => {
    const out = path.join(dir, 'exported');
    await ok(['export', '-o', out]);
    const files = readConfigFiles([out]);
    expect(files.map((f) => path.basename(f.path))).toEqual([
      'components.yaml',
      'environments.yaml',
      'integrations.yaml',
      'notification-channels.yaml',
      'targets.yaml',
      'workflow-templates.yaml',
    ]);
    expect(files.find((f) => f.path.endsWith('integrations.yaml'))!.text).toContain('credentialRef: secret:shop-registry-auth');
    expect((await ok(['apply', '-f', out, '--dry-run'])).stdout).toBe('No changes: the server matches the files.\n');

    const stream = path.join(dir, 'all.yaml');
    writeFileSync(stream, (await ok(['export'])).stdout);
    expect((await ok(['apply', '-f', stream, '--dry-run'])).stdout).toBe('No changes: the server matches the files.\n');
  });

  it('keeps what the files do not declare unless --prune', async () => {
    const only = path.join(dir, 'only-dev.yaml');
    writeFileSync(
      only,
      'apiVersion: gantry/v1\nkind: Environment\nmetadata: { name: dev }\nspec: { displayName: Development, orderIndex: 0 }\n',
    );
    const kept = await ok(['apply', '-f', only, '--dry-run']);
    expect(kept.stdout).toContain('  environment prod: not in files (kept; use --prune to delete)');
    expect(kept.stdout).toContain('No changes');
    const pruned = await ok(['apply', '-f', only, '--dry-run', '--prune']);
    expect(pruned.stdout).toContain('- component web');
    expect(pruned.stdout).toContain('- environment prod');
    expect(pruned.stdout).toContain('  workflow template smoke: not in files (templates are versioned and never deleted)');
    // Deletes run in reverse dependency order: components and targets before environments and integrations.
    expect(pruned.stdout.indexOf('- target prod-1')).toBeLessThan(pruned.stdout.indexOf('- environment prod'));

    const made = await fetch(`${server}/api/v1/environments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'scratch' }),
    });
    expect(made.status).toBe(201);
    const applied = await ok(['apply', '-f', EXAMPLE, '--prune', '--yes']);
    expect(applied.stdout).toContain('- environment scratch\n');
    expect(applied.stdout).toContain('Plan: 0 to create, 1 to change, 1 to delete.');
    expect((await api<{ items: { name: string }[] }>('/environments')).items.map((e) => e.name)).toEqual(['dev', 'staging', 'prod']);
  });

  it('refuses an invalid file naming file, line and field, and changes nothing', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      [
        'apiVersion: gantry/v1',
        'kind: Environment',
        'metadata:',
        '  name: qa',
        'spec:',
        '  orderIndex: 3',
        '  requiredApprovals: many',
        '---',
        'apiVersion: gantry/v1',
        'kind: Integration',
        'metadata: { name: hub }',
        'spec:',
        '  typeId: oci_registry',
        '  config:',
        '    url: https://hub.example.com',
        '    password: hunter2',
        '',
      ].join('\n'),
    );
    const r = await gantry(['apply', '-f', bad, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:7:22: spec.requiredApprovals:`);
    expect(r.stderr).toContain(`${bad}:16:15: spec.config.password: looks like a secret`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect((await api<{ items: unknown[] }>('/environments')).items).toHaveLength(3);
  });

  it('names the file line of a field the server refuses', async () => {
    const bad = path.join(dir, 'refused.yaml');
    writeFileSync(
      bad,
      [
        'apiVersion: gantry/v1',
        'kind: Target',
        'metadata: { name: web-9 }',
        'spec:',
        '  environment: dev',
        '  targetType: docker_host',
        '  connection:',
        '    dockerHost: docker.example.com',
        '',
      ].join('\n'),
    );
    const r = await gantry(['apply', '-f', bad, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: Target web-9:');
    expect(r.stderr).toContain(`${bad}:8:17: spec.connection.dockerHost: must be "unix:///absolute/path.sock" or "tcp://host:port"`);

    const dangling = path.join(dir, 'dangling.yaml');
    writeFileSync(
      dangling,
      'apiVersion: gantry/v1\nkind: Component\nmetadata: { name: cart }\nspec:\n  imageRepository: r.example.com/cart\n  registry: hubb\n',
    );
    const d = await gantry(['apply', '-f', dangling, '--dry-run']);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain(`${dangling}:6:13: spec.registry: no integration "hubb" in the files or on the server`);
  });
});
