// Secrets stay secret: known secrets are planted in the server's environment and in a (fake) Vault,
// integrations use them (health checks, registry auth that succeeds and one that fails, Vault
// resolution, a notification, a policy gate in a promotion that leaves evidence, bad input), and then
// no log line, API response, evidence packet, stored health message or error message contains any of them.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { redactPaths } from '../../src/core/logger.js';
import { Engine } from '../../src/engine/index.js';
import { ephemeralSigner } from '../../src/evidence/signer.js';
import { builtinGates } from '../../src/gates/registry.js';
import { notify } from '../../src/integrations/notify.js';
import { resolveCredential } from '../../src/integrations/secrets.js';
import { NotificationDispatcher } from '../../src/notifications/dispatcher.js';
import { loadNotificationSettings } from '../../src/notifications/settings.js';
import { buildApp, buildRegistry } from '../../src/server.js';
import { withTenant } from '../../src/store/db.js';
import { bootstrap } from '../../src/tenancy/service.js';
import { createTestDb, loopbackOutbound, testSecretAccess } from '../helpers.js';
import { insertReadyRelease, NO_DEPLOY_TEMPLATE } from '../promotion-fixture.js';
import { type FakeServer, startFakeVault, startReceiver } from './plugin-fakes.js';

const tag = randomBytes(6).toString('hex');
const S = {
  vaultToken: `hvs.LEAK-vault-token-${tag}`,
  hookToken: `LEAK-hook-token-${tag}`,
  registryFromVault: `LEAK-vault-registry-pw-${tag}`,
  registryFromEnv: `LEAK-env-registry-pw-${tag}`,
  policyToken: `LEAK-policy-token-${tag}`,
  typedIntoConfig: `LEAK-typed-into-config-${tag}`,
};
const SECRETS = Object.values(S);

const logLines: string[] = [];
const responses: string[] = [];
const errors: string[] = [];
let vault: FakeServer;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let registry: http.Server;
let registryUrl: string;

/** A registry that accepts only robot:<the Vault-held password> with HTTP basic auth. */
async function startRegistry(): Promise<void> {
  const good = `Basic ${Buffer.from(`robot:${S.registryFromVault}`).toString('base64')}`;
  registry = http.createServer((req, res) => {
    if (req.headers.authorization === good) {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
      return res.end('{}');
    }
    res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
  registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  process.env.TEST_SECRET_LEAK_VAULT_TOKEN = S.vaultToken;
  process.env.TEST_SECRET_LEAK_POLICY_TOKEN = S.policyToken;
  process.env.TEST_SECRET_LEAK_REGISTRY = `robot:${S.registryFromEnv}`;
  vault = await startFakeVault({
    token: S.vaultToken,
    secrets: { 'gantry/hook': { token: S.hookToken }, 'gantry/registry': { auth: `robot:${S.registryFromVault}` } },
  });
  receiver = await startReceiver();
  await startRegistry();
});
afterAll(async () => {
  for (const k of ['TEST_SECRET_LEAK_VAULT_TOKEN', 'TEST_SECRET_LEAK_POLICY_TOKEN', 'TEST_SECRET_LEAK_REGISTRY']) delete process.env[k];
  await vault?.close();
  await receiver?.close();
  registry?.close();
});

describe('secrets', () => {
  it('appear in no log line, API response, evidence packet or error message', async () => {
    const { db, url } = await createTestDb();
    const token = (await bootstrap(db)).token!;
    // The server's own logger configuration, at the most verbose level, writing into this test.
    const logger = pino(
      { level: 'trace', redact: { paths: redactPaths, censor: '[redacted]' } },
      { write: (l: string) => logLines.push(l) },
    );
    const signer = ephemeralSigner();
    const gates = builtinGates();
    const outbound = loopbackOutbound();
    const steps = buildRegistry({ db, clock: systemClock, signer, gates, recheckSeconds: 1, outbound });
    const app = await buildApp({ db, logger, signer, gates, registry: steps, secrets: testSecretAccess(), outbound });
    await app.ready();
    const engine = new Engine({ db, connectionString: url, registry: steps, logger, clock: systemClock, pollMs: 50 });
    await engine.start();
    try {
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await app.inject({
          method: method as 'GET',
          url: path,
          headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
        });
        responses.push(res.body);
        return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
      };
      const mk = async (body: Record<string, unknown>) => expect((await call('POST', '/api/v1/integrations', body)).status).toBe(201);
      await mk({
        name: 'vault',
        typeId: 'secret_store_vault',
        config: { address: vault.url },
        credentialRef: 'env:TEST_SECRET_LEAK_VAULT_TOKEN',
      });
      await mk({
        name: 'reg-vault',
        typeId: 'oci_registry',
        config: { url: registryUrl, insecure: true },
        credentialRef: 'vault:vault/gantry/registry#auth',
      });
      await mk({
        name: 'reg-env',
        typeId: 'oci_registry',
        config: { url: registryUrl, insecure: true },
        credentialRef: 'env:TEST_SECRET_LEAK_REGISTRY',
      });
      await mk({
        name: 'hook',
        typeId: 'notification_webhook',
        config: { url: `${receiver.url}/hook` },
        credentialRef: 'vault:vault/gantry/hook#token',
      });
      await mk({
        name: 'policy',
        typeId: 'policy_webhook',
        config: { url: `${receiver.url}/v1/data/gantry` },
        credentialRef: 'env:TEST_SECRET_LEAK_POLICY_TOKEN',
      });
      await mk({
        name: 'hook-wrong-key',
        typeId: 'notification_webhook',
        config: { url: `${receiver.url}/x` },
        credentialRef: 'vault:vault/gantry/hook#nokey',
      });

      // Health checks: Vault lookup, registry auth that succeeds (Vault-held) and one that is refused (env-held).
      const checks: Record<string, string> = {};
      for (const name of ['vault', 'reg-vault', 'reg-env', 'policy', 'hook', 'hook-wrong-key']) {
        checks[name] = (await call('POST', `/api/v1/integrations/${name}/check`)).body.healthStatus;
      }
      expect(checks).toEqual({
        vault: 'healthy',
        'reg-vault': 'healthy',
        'reg-env': 'unhealthy',
        policy: 'healthy',
        hook: 'healthy',
        'hook-wrong-key': 'unhealthy',
      });

      // A notification authenticated with the Vault-held token (proof the secret was used).
      const tenantId = (await call('GET', '/api/v1/whoami')).body.tenant.id;
      await withTenant(db, tenantId, (tx) =>
        notify(tx, tenantId, { type: 'promotion.approved', data: { releaseName: '1.0.0' } }, new Date()),
      );
      await new NotificationDispatcher({ db, clock: systemClock, settings: loadNotificationSettings({}), logger, outbound }).drain();
      expect(receiver.requests.find((r) => r.url === '/hook')?.headers.authorization).toBe(`Bearer ${S.hookToken}`);

      // Failing resolutions and a secret typed into config by mistake.
      for (const ref of ['vault:vault/gantry/hook#nokey', 'vault:vault/nowhere#token', 'env:TEST_SECRET_LEAK_UNSET']) {
        errors.push(
          await resolveCredential(ref, { db, tenantId, fetch: outbound.fetch }).then(
            () => 'resolved',
            (e: Error) => e.message,
          ),
        );
      }
      const typed = await call('POST', '/api/v1/integrations', {
        name: 'typed',
        typeId: 'oci_registry',
        config: { url: registryUrl, password: S.typedIntoConfig },
      });
      expect([typed.status, typed.body.code]).toEqual([400, 'secret_in_config']);
      const garbage = await call('POST', '/api/v1/integrations', { name: 'x', typeId: 'oci_registry', config: { url: S.typedIntoConfig } });
      expect(garbage.status).toBe(400);

      // A promotion whose policy gate calls the service with the env-held token, leaving a decision record.
      expect((await call('POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
      const env = await call('POST', '/api/v1/environments', {
        name: 'dev',
        config: { promotionTemplate: 'promote-no-deploy', gates: ['release_status', { id: 'webhook', config: { integration: 'policy' } }] },
      });
      expect(env.status).toBe(201);
      const releaseId = await insertReadyRelease(db, tenantId, { repository: '127.0.0.1:5000/api', digest: `sha256:${'a'.repeat(64)}` });
      const p = await call('POST', '/api/v1/promotions', {
        releaseId,
        targetEnvironmentId: env.body.id,
        reason: 'leak test',
      });
      expect(p.status).toBe(201);
      for (let i = 0; i < 200; i++) {
        const cur = await call('GET', `/api/v1/promotions/${p.body.id}`);
        if (['deployed', 'rejected', 'failed'].includes(cur.body.status)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(
        (await call('GET', `/api/v1/promotions/${p.body.id}/gates`)).body.gates.find((g: { gate: string }) => g.gate === 'webhook').status,
      ).toBe('pass');
      expect(receiver.requests.find((r) => r.url === '/v1/data/gantry')?.headers.authorization).toBe(`Bearer ${S.policyToken}`);
      await call('GET', '/api/v1/integrations');
      await call('GET', `/api/v1/promotions/${p.body.id}`);
      await call('GET', '/api/v1/evidence');

      const packets = await db.query<{ row: string }>('SELECT row_to_json(e)::text AS row FROM evidence_packets e');
      expect(packets.rows.length).toBeGreaterThan(0);
      const stored = await db.query<{ row: string }>('SELECT row_to_json(i)::text AS row FROM integrations i');
      const runs = await db.query<{ row: string }>('SELECT row_to_json(s)::text AS row FROM step_runs s');
      const corpus: [string, string[]][] = [
        ['log lines', logLines],
        ['API responses', responses],
        ['evidence packets', packets.rows.map((r) => r.row)],
        ['integration rows', stored.rows.map((r) => r.row)],
        ['step runs', runs.rows.map((r) => r.row)],
        ['error messages', errors],
      ];
      expect(logLines.length).toBeGreaterThan(20);
      expect(errors.every((e) => e !== 'resolved')).toBe(true);
      for (const [where, texts] of corpus) {
        for (const secret of SECRETS) {
          const hit = texts.find((x) => x.includes(secret));
          expect(hit, `secret found in ${where}`).toBeUndefined();
        }
      }
    } finally {
      await engine.stop();
      await app.close();
    }
  }, 60_000);
});
