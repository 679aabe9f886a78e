// Plugin notification channels: a promotion's events reach the channel of an enabled plugin instance
// through notify(), and a crashing or hanging channel fails only its own delivery.
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_DEPLOY_TEMPLATE, type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { packPlugin } from '../cli/plugin-commands.js';
import { notify } from '../integrations/notify.js';
import { withTenant } from '../store/db.js';
import { PluginHost } from './host.js';
import { deliverToPluginChannels } from './notify.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/plugins/notify-log/', import.meta.url));
let f: PromotionFixture;
let tmp: string;
// The channel writes into its work directory; the app's host (which delivers notify()) and this file's
// host share the default cache directory, so both processes append to the same file.
const logName = `events-${randomBytes(6).toString('hex')}.jsonl`;
let logFile: string;
let host: PluginHost;

const install = async (dir: string) =>
  f.call('admin', 'POST', '/api/v1/plugins', { archive: (await packPlugin(dir)).toString('base64'), enable: true });

async function events(): Promise<{ type: string; tenantId: string; at: string; data: Record<string, unknown> }[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** The logged events once `types` have all arrived (the fixture's dispatcher delivers the outbox). */
async function waitForEvents(types: string[], timeoutMs = 10_000, atLeast = 0) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await events();
    if (got.length >= atLeast && types.every((t) => got.some((e) => e.type === t))) return got;
    if (Date.now() > deadline) throw new Error(`logged ${got.map((e) => e.type).join(', ') || 'nothing'}, wanted ${types.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  f = await promotionFixture({ alice: ['release_manager', 'approver'] });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gantry-plugin-notify-'));
  expect((await f.call('admin', 'POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
  const env = await f.call('admin', 'POST', '/api/v1/environments', { name: 'dev', config: { promotionTemplate: 'promote-no-deploy' } });
  expect(env.status).toBe(201);
  const r = await install(EXAMPLE);
  expect([r.status, r.body.status, r.body.statusReason]).toEqual([201, 'active', null]);
  const inst = await f.call('admin', 'POST', '/api/v1/plugin-instances', { pluginId: 'notify-log', config: { file: logName } });
  expect(inst.status).toBe(201);
  host = new PluginHost({ db: f.db });
  logFile = path.join(host.cacheDir, 'notify-log', 'work', logName);
});
afterAll(async () => host?.close());

describe('plugin notification channels', () => {
  it('deliver a promotion’s events to the channel of the tenant’s plugin instance', async () => {
    await f.readyRelease('1.0.0', 'alice');
    const p = await f.call('alice', 'POST', '/api/v1/promotions', { releaseId: '1.0.0', targetEnvironmentId: 'dev', reason: 'ship it' });
    expect(p.status).toBe(201);
    await f.waitFor(p.body.id, ['deployed']);
    const got = await waitForEvents(['promotion.requested', 'promotion.deployed']);
    const requested = got.find((e) => e.type === 'promotion.requested')!;
    expect(requested).toMatchObject({
      tenantId: f.tenantId,
      data: { promotionId: p.body.id, release: '1.0.0', environment: 'dev', by: 'alice', reason: 'ship it' },
    });
    expect(Number.isNaN(Date.parse(requested.at))).toBe(false);
    expect(got.find((e) => e.type === 'promotion.deployed')?.data.promotionId).toBe(p.body.id);
  });

  it('fails only the delivery of a crashing or hanging channel; notify() never throws and other channels still get the event', async () => {
    const dir = await mkdtemp(path.join(tmp, 'crashy-'));
    await cp(EXAMPLE, dir, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(dir, 'gantry-plugin.json'), 'utf8'));
    manifest.pluginId = 'notify-crashy';
    manifest.timeoutMs = 500;
    manifest.configSchema = { type: 'object', properties: { mode: { enum: ['crash', 'hang'] } }, additionalProperties: false };
    await writeFile(path.join(dir, 'gantry-plugin.json'), JSON.stringify(manifest));
    await writeFile(
      path.join(dir, 'index.mjs'),
      `export const notificationChannels = {
        log({ instanceConfig }) {
          return new Promise(() => {
            if (instanceConfig.mode === 'crash') setTimeout(() => { throw new Error('the chat service client blew up'); }, 10);
          });
        },
      };`,
    );
    expect((await install(dir)).body.status).toBe('active');
    const setMode = (mode: string, create = false) =>
      create
        ? f.call('admin', 'POST', '/api/v1/plugin-instances', { pluginId: 'notify-crashy', config: { mode } })
        : f.call('admin', 'PATCH', '/api/v1/plugin-instances/notify-crashy', { config: { mode } });
    expect((await setMode('crash', true)).status).toBe(201);

    const event = { type: 'promotion.approved' as const, data: { release: '1.0.0', environment: 'dev', actor: 'alice' } };
    const crashed = await deliverToPluginChannels(host, f.tenantId, event, new Date());
    expect(crashed).toEqual([
      { plugin: 'notify-crashy', channel: 'log', ok: false, error: expect.stringMatching(/^plugin notify-crashy crashed: .*blew up/) },
      { plugin: 'notify-log', channel: 'log', ok: true },
    ]);

    expect((await setMode('hang')).status).toBe(200);
    const t0 = Date.now();
    const hung = await deliverToPluginChannels(host, f.tenantId, event, new Date());
    expect(hung[0]).toEqual({
      plugin: 'notify-crashy',
      channel: 'log',
      ok: false,
      error: 'plugin notify-crashy timed out: notify "log" gave no answer within 500 ms',
    });
    expect(hung[1]).toMatchObject({ plugin: 'notify-log', ok: true });
    expect(Date.now() - t0).toBeLessThan(5_000);

    // Through the outbox: queuing costs the caller one insert, and the good channel still gets the event.
    const before = (await events()).length;
    const queued = await withTenant(f.db, f.tenantId, (tx) =>
      notify(tx, f.tenantId, { type: 'deployment.failed', data: { release: '1.0.0' } }, new Date()),
    );
    expect(queued).toBe(2);
    const after = await waitForEvents(['deployment.failed'], 10_000, before + 1);
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ type: 'deployment.failed', tenantId: f.tenantId, data: { release: '1.0.0' } });
  });

  it('skips a disabled instance', async () => {
    expect((await f.call('admin', 'PATCH', '/api/v1/plugin-instances/notify-log', { enabled: false })).status).toBe(200);
    expect((await f.call('admin', 'PATCH', '/api/v1/plugin-instances/notify-crashy', { enabled: false })).status).toBe(200);
    expect(await deliverToPluginChannels(host, f.tenantId, { type: 'promotion.failed', data: {} }, new Date())).toEqual([]);
  });
});
