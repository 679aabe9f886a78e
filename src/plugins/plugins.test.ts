import { cp, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';
import { packPlugin } from '../cli/plugin-commands.js';
import { StepRegistry } from '../engine/index.js';
import type { PromotionContext } from '../gates/types.js';
import { withSystem } from '../store/db.js';
import { pluginGates } from './gates.js';
import { PluginHost } from './host.js';
import { listPlugins } from './service.js';
import { registerPluginSteps } from './steps.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/plugins/', import.meta.url));
let t: TestApp;
let host: PluginHost;
let otherToken: string;
let tmp: string;

const install = async (dir: string, enable = true, token?: string) =>
  t.call('POST', '/api/v1/plugins', { archive: (await packPlugin(dir)).toString('base64'), enable }, token);

/** A copy of an example with its manifest changed. */
async function variant(example: string, change: (m: Record<string, any>) => void, extra?: (dir: string) => Promise<void>): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, 'variant-'));
  await cp(path.join(EXAMPLES, example), dir, { recursive: true });
  const file = path.join(dir, 'gantry-plugin.json');
  const m = JSON.parse(await readFile(file, 'utf8'));
  change(m);
  await writeFile(file, JSON.stringify(m));
  await extra?.(dir);
  return dir;
}

function context(now: string): PromotionContext {
  return {
    tenantId: '',
    promotion: {
      id: '00000000-0000-0000-0000-000000000001',
      reason: 'test',
      requestedBy: { id: 'u', username: 'admin' },
      requestedAt: now,
    },
    release: { id: 'r', name: 'r1', status: 'ready', createdBy: null, components: [], sourceRef: null },
    environment: { id: 'e', name: 'prod', orderIndex: 1, config: {}, freezeWindows: [], requiredApprovals: 0, requireSod: false },
    previousEnvironment: null,
    approvals: [],
    plan: null,
    overrides: [],
    now,
  };
}

async function gate(id: string) {
  const rows = await withSystem(t.db, listPlugins);
  const g = pluginGates(host, rows).find((x) => x.id === id);
  if (!g) throw new Error(`no gate ${id}`);
  return g;
}

beforeAll(async () => {
  t = await createTestApp();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gantry-plugin-test-'));
  host = new PluginHost({ db: t.db, cacheDir: path.join(tmp, 'cache') });
  otherToken = (await t.call('POST', '/api/v1/tenants', { name: 'other', admin: { username: 'other-admin' } })).body.adminToken;
});
afterAll(async () => host?.close());

describe('plugins', () => {
  it('installs the example through the API, activates it and lists it; only platform admins may', async () => {
    const refused = await install(path.join(EXAMPLES, 'change-window'), true, otherToken);
    expect([refused.status, refused.body.code]).toEqual([403, 'forbidden']);
    const r = await install(path.join(EXAMPLES, 'change-window'));
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ pluginId: 'acme-window', version: '1.0.0', status: 'active', statusReason: null, apiVersion: '1' });
    expect(r.body.contributes.gates.map((g: { name: string }) => g.name)).toEqual(['change-window']);
    const list = await t.call('GET', '/api/v1/plugins', undefined, otherToken);
    expect(list.body.items.map((p: { pluginId: string }) => p.pluginId)).toEqual(['acme-window']);
    expect((await t.call('POST', '/api/v1/plugins/acme-window/disable', {}, otherToken)).status).toBe(403);
  });

  it('refuses bad packages with the field named, and stores nothing', async () => {
    const badManifest = await variant('change-window', (m) => {
      m.pluginId = 'Bad Id';
      m.contributes.gates[0].configSchema = { type: 'nonsense' };
    });
    const r1 = await install(badManifest);
    expect([r1.status, r1.body.code]).toEqual([400, 'manifest_invalid']);
    expect(r1.body.errors.map((e: { path: string }) => e.path)).toContain('manifest.pluginId');
    const api2 = await install(
      await variant('change-window', (m) => {
        m.apiVersion = '2';
      }),
    );
    expect([api2.status, api2.body.code]).toEqual([400, 'plugin_api_unsupported']);
    const noEntry = await install(
      await variant('change-window', (m) => {
        m.entrypoint = 'missing.mjs';
      }),
    );
    expect(noEntry.body.errors[0].path).toBe('manifest.entrypoint');
    const link = await install(
      await variant(
        'change-window',
        () => {},
        (dir) => symlink('/etc/passwd', path.join(dir, 'passwd')),
      ),
    );
    expect([link.status, link.body.code]).toEqual([400, 'plugin_archive_invalid']);
    expect(link.body.detail).toMatch(/SymbolicLink/);
    const garbage = await t.call('POST', '/api/v1/plugins', { archive: Buffer.from('not a tarball').toString('base64') });
    expect(garbage.status).toBe(400);
    expect((await t.call('GET', '/api/v1/plugins')).body.items).toHaveLength(1);
  });

  it('marks a plugin failed, with the reason, when its entrypoint does not load or lacks a declared gate', async () => {
    const broken = await variant(
      'change-window',
      (m) => {
        m.pluginId = 'broken-load';
      },
      (dir) => writeFile(path.join(dir, 'index.mjs'), 'export const gates = {;'),
    );
    const r = await install(broken);
    expect(r.body.status).toBe('failed');
    expect(r.body.statusReason).toMatch(/plugin broken-load failed to load its entrypoint: SyntaxError/);
    const lacking = await variant('change-window', (m) => {
      m.pluginId = 'lacking';
      m.contributes.gates.push({ name: 'ticket-approved' });
    });
    const r2 = await install(lacking);
    expect(r2.body).toMatchObject({
      status: 'failed',
      statusReason: 'the entrypoint does not export gates.ticket-approved that the manifest declares',
    });
  });

  it('hosts target executors, registries and secret stores: required methods checked at activation, methods called by name', async () => {
    const tables = [
      'export const targetExecutors = { box: { async deploy({ components }) { return { n: components.length }; }, async health() {}, async rollback() {}, async observe() {} } };',
      'class Reg { async listTags({ repository }) { return [repository, "1.0"]; } async resolve() {} }',
      'export const registries = { reg: new Reg() };',
      'export const secretStores = { vault2: {} };',
    ].join('\n');
    const declare = (m: Record<string, any>) => {
      m.pluginId = 'method-kinds';
      m.contributes.targetExecutors = [{ name: 'box', connectionSchema: { type: 'object' } }];
      m.contributes.registries = [{ name: 'reg' }];
      m.contributes.secretStores = [{ name: 'vault2' }];
    };
    // The manifest still declares the example's gate and step type, which this entrypoint no longer exports.
    const lacking = await variant('change-window', declare, (dir) => writeFile(path.join(dir, 'index.mjs'), tables));
    const r = await install(lacking);
    expect(r.body).toMatchObject({
      status: 'failed',
      statusReason:
        'the entrypoint does not export gates.change-window, stepTypes.check-window, secretStores.vault2.resolve that the manifest declares',
    });
    const complete = await variant(
      'change-window',
      (m) => {
        declare(m);
        m.contributes.gates = [];
        m.contributes.stepTypes = [];
      },
      (dir) =>
        writeFile(
          path.join(dir, 'index.mjs'),
          tables.replace('vault2: {}', 'vault2: { async resolve({ path }) { return { value: path } } }'),
        ),
    );
    const ok = await install(complete);
    expect([ok.body.status, ok.body.statusReason]).toEqual(['active', null]);
    const row = (await withSystem(t.db, listPlugins)).find((p) => p.plugin_id === 'method-kinds')!;
    expect(await host.call(row, { kind: 'executor', name: 'box', method: 'deploy', args: { components: [1, 2] } })).toEqual({ n: 2 });
    expect(await host.call(row, { kind: 'registry', name: 'reg', method: 'listTags', args: { repository: 'web' } })).toEqual([
      'web',
      '1.0',
    ]);
    await expect(host.call(row, { kind: 'executor', name: 'box', method: 'remove', args: {} })).rejects.toThrow(
      'this plugin provides no executor method box.remove',
    );
  });

  it('keeps per-tenant instances checked against the manifest schema and apart', async () => {
    const bad = await t.call('POST', '/api/v1/plugin-instances', { pluginId: 'acme-window', config: { timeZone: 5 } });
    expect([bad.status, bad.body.errors[0].path]).toEqual([400, 'body.config.timeZone']);
    const secret = await t.call('POST', '/api/v1/plugin-instances', { pluginId: 'acme-window', config: { apiToken: 'x' } });
    expect([secret.status, secret.body.code]).toEqual([400, 'secret_in_config']);
    const ok = await t.call('POST', '/api/v1/plugin-instances', { pluginId: 'acme-window', config: {} });
    expect([ok.status, ok.body.config, ok.body.enabled]).toEqual([201, { timeZone: 'UTC' }, true]);
    expect((await t.call('POST', '/api/v1/plugin-instances', { pluginId: 'acme-window' })).status).toBe(409);
    expect((await t.call('GET', '/api/v1/plugin-instances', undefined, otherToken)).body.items).toEqual([]);
    expect((await t.call('GET', '/api/v1/plugin-instances/acme-window', undefined, otherToken)).status).toBe(404);
  });

  it('evaluates the plugin gate through the Gate interface, per tenant', async () => {
    const tenantId = (await t.db.query(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0].id;
    const g = await gate('plugin.acme-window.change-window');
    const cfg = g.parseConfig!({ days: ['wed'], fromHour: 9, toHour: 17 });
    expect(() => g.parseConfig!({ days: ['someday'] })).toThrow('Invalid config.days.0: must be equal to one of the allowed values');
    const inside = await g.evaluate({ ...context('2026-03-04T10:00:00Z'), tenantId }, cfg, { db: t.db, clock: t.clock });
    expect(inside).toMatchObject({ status: 'pass', inputs: { plugin: 'acme-window', version: '1.0.0', timeZone: 'UTC' } });
    const outside = await g.evaluate({ ...context('2026-03-04T20:00:00Z'), tenantId }, cfg, { db: t.db, clock: t.clock });
    expect(outside).toMatchObject({ status: 'pending', retryAt: '2026-03-11T09:00:00.000Z' });
    const otherTenant = (await t.db.query(`SELECT id FROM tenants WHERE name = 'other'`)).rows[0].id;
    const noInstance = await g.evaluate({ ...context('2026-03-04T10:00:00Z'), tenantId: otherTenant }, cfg, { db: t.db, clock: t.clock });
    expect(noInstance.status).toBe('fail');
    expect(noInstance.reason).toMatch(/not set up in this tenant/);
  });

  it('fails only the crashing gate, with the reason, and restarts the plugin for the next call', async () => {
    const tenantId = (await t.db.query(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0].id;
    expect((await install(path.join(EXAMPLES, 'change-window-crash'))).body.status).toBe('active');
    const deps = { db: t.db, clock: t.clock };
    const ctx = { ...context('2026-03-04T10:00:00Z'), tenantId };
    const setMode = (mode: string) =>
      t.call(
        mode === 'crash' ? 'POST' : 'PATCH',
        mode === 'crash' ? '/api/v1/plugin-instances' : '/api/v1/plugin-instances/acme-crashy',
        mode === 'crash' ? { pluginId: 'acme-crashy', config: { mode } } : { config: { mode } },
      );
    await setMode('crash');
    const crashy = await gate('plugin.acme-crashy.change-window');
    const good = await gate('plugin.acme-window.change-window');
    const [crashed, fine] = await Promise.all([crashy.evaluate(ctx, {}, deps), good.evaluate(ctx, {}, deps)]);
    expect(crashed.status).toBe('fail');
    expect(crashed.reason).toMatch(/^plugin acme-crashy crashed: its process exited with code 1 .*segfault in the change calendar client/);
    expect(fine.status).toBe('pass');
    await setMode('throw');
    const threw = await crashy.evaluate(ctx, {}, deps);
    expect(threw).toMatchObject({ status: 'fail', reason: 'plugin acme-crashy failed: the change calendar answered 500' });
    await setMode('hang');
    const t0 = Date.now();
    const hung = await crashy.evaluate(ctx, {}, deps);
    expect(hung.reason).toBe('plugin acme-crashy timed out: gate "change-window" gave no answer within 1500 ms');
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect((await good.evaluate(ctx, {}, deps)).status).toBe('pass');
  });

  it('fails the gate of a disabled plugin with that reason', async () => {
    const r = await t.call('POST', '/api/v1/plugins/acme-crashy/disable', {});
    expect(r.body).toMatchObject({ status: 'disabled', statusReason: 'disabled by admin' });
    const tenantId = (await t.db.query(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0].id;
    const res = await (await gate('plugin.acme-crashy.change-window')).evaluate(
      { ...context('2026-03-04T10:00:00Z'), tenantId },
      {},
      { db: t.db, clock: t.clock },
    );
    expect(res).toMatchObject({ status: 'fail', reason: 'plugin acme-crashy is disabled (disabled by admin)' });
    expect((await t.call('POST', '/api/v1/plugins/acme-crashy/enable', {})).body.status).toBe('active');
  });

  it('registers plugin step types into the StepRegistry through the same interface as built-ins', async () => {
    const registry = new StepRegistry();
    const rows = await withSystem(t.db, listPlugins);
    registerPluginSteps(registry, host, rows);
    registerPluginSteps(registry, host, rows); // refreshes do not register twice
    const step = registry.get('plugin.acme-window.check-window');
    expect(step?.description).toMatch(/change window open/);
    const tenantId = (await t.db.query(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0].id;
    const ctx = {
      tenantId,
      runId: 'r',
      stepRunId: 's',
      nodeId: 'n',
      attempt: 1,
      input: { days: ['wed'] },
      runInputs: {},
      events: [],
      signal: new AbortController().signal,
      now: () => new Date('2026-03-04T10:00:00Z'),
      log: () => {},
      logger: undefined as never,
      effect: async <T>(_n: string, apply: (k: string) => Promise<T>) => apply('k'),
    };
    expect(await step!.execute(ctx)).toEqual({ status: 'succeeded', outputs: { open: true, nextOpening: null } });
    const bad = await step!.execute({ ...ctx, input: { days: 'wed' } });
    expect(bad).toMatchObject({ status: 'failed', error: 'Invalid input.days: must be array' });
  });
});
