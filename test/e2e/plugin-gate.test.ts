// e2e, as an operator would do it: start a server, install the example change-window plugin and its
// crashing variant with the CLI, set them up for the tenant, configure their gates on environments,
// promote a ready release, and read the gate results: the plugin gate decides, and the crashing plugin
// fails only its own gate, with the reason, while the server and the other gates carry on.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { insertReadyRelease, NO_DEPLOY_TEMPLATE } from '../promotion-fixture.js';
import { api, childEnv, killAll, REPO_ROOT, runGantry } from './support.js';
import { startServer } from './workflow-support.js';

const T = 180_000;
const EXAMPLES = path.join(REPO_ROOT, 'examples', 'plugins');
const ALWAYS = { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], fromHour: 0, toHour: 24 };

describe('a plugin gate in a promotion', () => {
  afterAll(() => killAll(), T);

  it(
    'installs through the CLI, contributes a gate a promotion uses, and a crashing variant fails only its gate',
    async () => {
      const { db, url } = await createTestDb();
      const token = `gty_${randomBytes(32).toString('base64url')}`;
      const { base, proc } = await startServer(url, token);
      const cli = (...args: string[]) => runGantry(args, childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token }));
      const call = (method: string, p: string, body?: unknown) => api(base, method, p, token, body);

      const good = await cli('plugin', 'install', path.join(EXAMPLES, 'change-window'), '--enable');
      expect(good.code, good.stderr).toBe(0);
      expect(good.stdout).toContain('installed plugin acme-window 1.0.0: active');
      expect(good.stdout).toContain('gates: plugin.acme-window.change-window');
      const bad = await cli('plugin', 'install', path.join(EXAMPLES, 'change-window-crash'), '--enable');
      expect(bad.code, bad.stderr).toBe(0);
      expect((await cli('plugin', 'instance', 'create', 'acme-window', '--config', '{"timeZone":"UTC"}')).code).toBe(0);
      expect((await cli('plugin', 'instance', 'create', 'acme-crashy', '--config', '{"mode":"crash"}')).code).toBe(0);
      const list = await cli('plugin', 'list', '--json');
      expect(JSON.parse(list.stdout).map((p: { pluginId: string; status: string }) => [p.pluginId, p.status])).toEqual([
        ['acme-crashy', 'active'],
        ['acme-window', 'active'],
      ]);

      expect((await call('POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
      const common = { promotionTemplate: 'promote-no-deploy', requirePreviousEnvironment: false };
      const windowGate = { id: 'plugin.acme-window.change-window', config: ALWAYS };
      const dev = await call('POST', '/api/v1/environments', { name: 'dev', config: { ...common, gates: ['release_status', windowGate] } });
      expect(dev.status, JSON.stringify(dev.body)).toBe(201);
      const qa = await call('POST', '/api/v1/environments', {
        name: 'qa',
        config: { ...common, gates: ['release_status', windowGate, { id: 'plugin.acme-crashy.change-window' }] },
      });
      expect(qa.status, JSON.stringify(qa.body)).toBe(201);

      // A ready release, written straight into the store (the registry path has its own e2e).
      const who = await call('GET', '/api/v1/whoami');
      const tenantId = who.body.tenant.id as string;
      const releaseId = await insertReadyRelease(db, tenantId);

      const promote = async (envId: string, wanted: string[]) => {
        const p = await call('POST', '/api/v1/promotions', { releaseId, targetEnvironmentId: envId, reason: 'e2e' });
        expect(p.status, JSON.stringify(p.body)).toBe(201);
        const deadline = Date.now() + 30_000;
        for (;;) {
          const cur = await call('GET', `/api/v1/promotions/${p.body.id}`);
          if (wanted.includes(cur.body.status)) return cur.body;
          if (Date.now() > deadline) throw new Error(`promotion still ${cur.body.status}: ${cur.body.blockedReason}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      const gatesOf = async (id: string) => {
        const g = await call('GET', `/api/v1/promotions/${id}/gates`);
        expect(g.status).toBe(200);
        return Object.fromEntries(g.body.gates.map((x: { gate: string; status: string; reason: string }) => [x.gate, x]));
      };

      const toDev = await promote(dev.body.id, ['deployed']);
      const devGates = await gatesOf(toDev.id);
      expect(devGates['plugin.acme-window.change-window']).toMatchObject({
        status: 'pass',
        reason: expect.stringMatching(/inside the change window/),
      });

      const toQa = await promote(qa.body.id, ['rejected']);
      const qaGates = await gatesOf(toQa.id);
      expect(qaGates['plugin.acme-crashy.change-window'].status).toBe('fail');
      expect(qaGates['plugin.acme-crashy.change-window'].reason).toMatch(/^plugin acme-crashy crashed: its process exited with code 1/);
      expect(qaGates['plugin.acme-window.change-window'].status).toBe('pass');
      expect(qaGates.release_status.status).toBe('pass');
      expect(toQa.blockedReason ?? '').toMatch(/plugin acme-crashy crashed/);

      // The server did not go down with the plugin, and the plugin restarts for the next caller.
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(proc.child.exitCode).toBeNull();
      const again = await promote(dev.body.id, ['deployed']);
      expect((await gatesOf(again.id))['plugin.acme-window.change-window'].status).toBe('pass');
    },
    T,
  );
});
