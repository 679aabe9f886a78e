// Test fixture for promotions: an app and an engine sharing one signer and gate registry, users with
// roles, environments, and a ready release inserted directly (no registry needed).
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { type Clock, ManualClock, systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { Engine } from '../src/engine/index.js';
import { ephemeralSigner } from '../src/evidence/signer.js';
import { builtinGates } from '../src/gates/registry.js';
import type { App } from '../src/http/types.js';
import { NotificationDispatcher } from '../src/notifications/dispatcher.js';
import { loadNotificationSettings } from '../src/notifications/settings.js';
import { PluginHost } from '../src/plugins/host.js';
import { buildApp, buildRegistry } from '../src/server.js';
import { bootstrap } from '../src/tenancy/service.js';
import { createTestDb, loopbackOutbound, type TestDb } from './helpers.js';

export interface PromotionFixture extends TestDb {
  app: App;
  engine: Engine;
  /** Delivers the notification outbox in the background (short polls and backoff). */
  notifications: NotificationDispatcher;
  tokens: Record<string, string>;
  tenantId: string;
  call: (who: string, method: string, url: string, body?: unknown) => Promise<{ status: number; body: any }>;
  readyRelease: (name: string, createdBy: string) => Promise<string>;
  waitFor: (promotionId: string, statuses: string[], timeoutMs?: number) => Promise<any>;
}

export async function promotionFixture(users: Record<string, string[]>, clock: Clock = systemClock): Promise<PromotionFixture> {
  const t = await createTestDb();
  const admin = (await bootstrap(t.db)).token!;
  const signer = ephemeralSigner();
  const gates = builtinGates();
  const outbound = loopbackOutbound();
  const registry = buildRegistry({ db: t.db, clock, signer, gates, recheckSeconds: 1, outbound });
  const plugins = new PluginHost({ db: t.db, outbound });
  await plugins.refresh();
  const app = await buildApp({ db: t.db, clock, logger: false, signer, gates, registry, plugins, outbound });
  await app.ready();
  const engine = new Engine({ db: t.db, connectionString: t.url, registry, logger: createLogger('silent'), clock, pollMs: 50 });
  await engine.start();
  const settings = {
    ...loadNotificationSettings({}),
    pollMs: 50,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    timeoutMs: 1000,
    maxAttempts: 1000,
  };
  const notifications = new NotificationDispatcher({ db: t.db, clock, settings, plugins, outbound });
  notifications.start();
  afterAll(async () => {
    await notifications.stop();
    await engine.stop();
    await app.close();
    await plugins.close();
  });
  const tokens: Record<string, string> = { admin };
  // any: tests read arbitrary JSON response shapes
  const call = async (who: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
  };
  for (const [username, roles] of Object.entries(users)) {
    const u = await call('admin', 'POST', '/api/v1/users', { username, roles });
    const tok = await call('admin', 'POST', '/api/v1/tokens', { name: `${username}-test`, userId: u.body.id });
    tokens[username] = tok.body.secret;
  }
  const tenantId = (await call('admin', 'GET', '/api/v1/whoami')).body.tenant.id as string;
  const userId = async (username: string) =>
    (await t.db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [username])).rows[0]!.id;

  const readyRelease = async (name: string, createdBy: string): Promise<string> => {
    const comp = await t.db.query<{ id: string }>(
      `INSERT INTO components (tenant_id, name, image_repository) VALUES ($1, $2, '127.0.0.1:5000/demo/api')
       ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
      [tenantId, 'api'],
    );
    const digest = `sha256:${randomBytes(32).toString('hex')}`;
    const components = [
      {
        componentId: comp.rows[0]!.id,
        component: 'api',
        imageRepository: '127.0.0.1:5000/demo/api',
        selector: { by: 'tag', value: name },
        tag: name,
        semver: name,
        channel: 'stable',
        digest,
      },
    ];
    const r = await t.db.query<{ id: string }>(
      `INSERT INTO releases (tenant_id, name, components, created_by) VALUES ($1, $2, $3, $4) RETURNING id`,
      [tenantId, name, JSON.stringify(components), await userId(createdBy)],
    );
    await t.db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [r.rows[0]!.id]);
    return r.rows[0]!.id;
  };

  const waitFor = async (promotionId: string, statuses: string[], timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await call('admin', 'GET', `/api/v1/promotions/${promotionId}`);
      if (statuses.includes(p.body.status)) return p.body;
      if (Date.now() > deadline)
        throw new Error(`promotion still ${p.body.status} (${p.body.blockedReason}), wanted ${statuses.join('|')}`);
      if (clock instanceof ManualClock) clock.advance(0);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { ...t, app, engine, notifications, tokens, tenantId, call, readyRelease, waitFor };
}

/** Inserts component `api` (of `repository`) and a ready one-component release `name` of it; returns the release id. */
export async function insertReadyRelease(
  db: TestDb['db'],
  tenantId: string,
  opts: { repository?: string; name?: string; digest?: string } = {},
): Promise<string> {
  const repository = opts.repository ?? '127.0.0.1:5000/demo/api';
  const name = opts.name ?? '1.0.0';
  const comp = await db.query<{ id: string }>(
    `INSERT INTO components (tenant_id, name, image_repository) VALUES ($1, 'api', $2)
     ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
    [tenantId, repository],
  );
  const components = [
    {
      componentId: comp.rows[0]!.id,
      component: 'api',
      imageRepository: repository,
      tag: name,
      digest: opts.digest ?? `sha256:${randomBytes(32).toString('hex')}`,
    },
  ];
  const rel = await db.query<{ id: string }>(`INSERT INTO releases (tenant_id, name, components) VALUES ($1, $2, $3) RETURNING id`, [
    tenantId,
    name,
    JSON.stringify(components),
  ]);
  await db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [rel.rows[0]!.id]);
  return rel.rows[0]!.id;
}

/** A promotion template without the deploy stage, for testing gates and approvals without agents. */
export const NO_DEPLOY_TEMPLATE = {
  name: 'promote-no-deploy',
  inputs: {
    promotionId: { type: 'string', required: true },
    releaseId: { type: 'string', required: true },
    environmentId: { type: 'string', required: true },
  },
  nodes: [
    { id: 'evaluate_gates', type: 'promotion_gates', config: { promotionId: '${{ inputs.promotionId }}' } },
    { id: 'wait_for_approvals', type: 'promotion_approval', config: { promotionId: '${{ inputs.promotionId }}' } },
    { id: 'record_evidence', type: 'promotion_complete', config: { promotionId: '${{ inputs.promotionId }}' } },
  ],
  edges: [
    { from: 'evaluate_gates', to: 'wait_for_approvals' },
    { from: 'wait_for_approvals', to: 'record_evidence' },
  ],
};
