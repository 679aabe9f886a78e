// e2e, as an operator's session: a real server process and the real CLI. dev → staging → prod, prod with
// two required approvals and separation of duties; the requester's own approval is refused, two other
// approvers advance it; the release_decision packet names every gate and approver; the exported
// evidence bundle verifies offline, and a changed byte is caught.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { NO_DEPLOY_TEMPLATE } from '../promotion-fixture.js';
import { childEnv, killAll, runGantry } from './support.js';
import { startServer } from './workflow-support.js';

const T = 180_000;

describe('promotion to prod through the CLI', () => {
  afterAll(() => killAll(), T);

  it(
    'needs two approvals by people other than the requester, and leaves verifiable evidence',
    async () => {
      const { db, url } = await createTestDb();
      const adminToken = `gty_${randomBytes(32).toString('base64url')}`;
      const server = await startServer(url, adminToken);
      const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-promo-'));
      const as = (token: string) =>
        childEnv({ GANTRY_SERVER: server.base, GANTRY_TOKEN: token, GANTRY_CONFIG: path.join(dir, 'cli.json'), HOME: dir });
      // any: reads the CLI's --json output
      const gantry = async (
        token: string,
        ...args: string[]
      ): Promise<{ code: number | string; out: any; stdout: string; stderr: string }> => {
        const r = await runGantry(args, as(token));
        let out: unknown;
        try {
          out = JSON.parse(r.stdout);
        } catch {
          out = undefined;
        }
        return { code: r.code, out, stdout: r.stdout, stderr: r.stderr };
      };
      const ok = async (token: string, ...args: string[]) => {
        const r = await gantry(token, ...args);
        if (r.code !== 0) throw new Error(`gantry ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
        return r;
      };

      // People: alice requests (she may approve elsewhere), dave built the release, bob and carol approve.
      const tokens: Record<string, string> = {};
      for (const [user, roles] of [
        ['alice', ['release_manager', 'approver']],
        ['bob', ['approver']],
        ['carol', ['approver']],
        ['dave', ['release_manager']],
      ] as const) {
        await ok(adminToken, 'user', 'add', user, ...roles.flatMap((r) => ['--role', r]));
        tokens[user] = (await ok(adminToken, 'token', 'create', `${user}-e2e`, '--user', user, '--json')).out.secret;
      }
      await writeFile(path.join(dir, 'flow.json'), JSON.stringify(NO_DEPLOY_TEMPLATE));
      await ok(adminToken, 'workflow', 'create', 'promote-no-deploy', '-f', path.join(dir, 'flow.json'));
      const config = JSON.stringify({ promotionTemplate: 'promote-no-deploy' });
      await ok(adminToken, 'env', 'create', 'dev', '--config', config);
      await ok(adminToken, 'env', 'create', 'staging', '--config', config);
      await ok(adminToken, 'env', 'create', 'prod', '--required-approvals', '2', '--require-sod', '--config', config);

      // A ready release made by dave (inserted directly: the registry path has its own e2e).
      const tenant = (await db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
      const daveId = (await db.query<{ id: string }>(`SELECT id FROM users WHERE username = 'dave'`)).rows[0]!.id;
      const comp = await db.query<{ id: string }>(
        `INSERT INTO components (tenant_id, name, image_repository) VALUES ($1, 'api', 'r/demo/api') RETURNING id`,
        [tenant],
      );
      const digest = `sha256:${randomBytes(32).toString('hex')}`;
      const rel = await db.query<{ id: string }>(
        `INSERT INTO releases (tenant_id, name, components, created_by) VALUES ($1, '3.0.0', $2, $3) RETURNING id`,
        [
          tenant,
          JSON.stringify([
            {
              componentId: comp.rows[0]!.id,
              component: 'api',
              imageRepository: 'r/demo/api',
              selector: { by: 'tag', value: '3.0.0' },
              tag: '3.0.0',
              semver: '3.0.0',
              channel: 'stable',
              digest,
            },
          ]),
          daveId,
        ],
      );
      await db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [rel.rows[0]!.id]);

      const dry = await ok(tokens.alice!, 'promote', '3.0.0', '--to', 'prod', '--dry-run');
      expect(dry.stdout).toMatch(/environment_order\s+FAIL\s+release 3\.0\.0 has not been deployed to "staging"/);
      expect(dry.stdout).toMatch(/would not pass now/);

      for (const envName of ['dev', 'staging']) {
        const r = await ok(tokens.alice!, 'promote', '3.0.0', '--to', envName, '--wait', '--json');
        expect(r.out.status).toBe('deployed');
      }
      const prod = (await ok(tokens.alice!, 'promote', '3.0.0', '--to', 'prod', '--reason', 'quarterly release', '--json')).out;
      let state = prod;
      for (let i = 0; i < 100 && state.status !== 'awaiting_approval'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        state = (await ok(adminToken, 'promotion', 'get', prod.id, '--json')).out;
      }
      expect(state.status).toBe('awaiting_approval');

      const own = await gantry(tokens.alice!, 'approve', prod.id);
      expect(own.code).toBe(3);
      expect(own.stderr).toMatch(/Separation of duties in "prod": you requested this promotion/);
      await ok(tokens.bob!, 'approve', prod.id, '--comment', 'checked the changelog');
      await ok(tokens.carol!, 'approve', prod.id, '--comment', 'ok for prod');
      let done = state;
      for (let i = 0; i < 100 && done.status !== 'deployed'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        done = (await ok(adminToken, 'promotion', 'get', prod.id, '--json')).out;
      }
      expect(done.status).toBe('deployed');
      const gates = ['environment_order', 'release_status', 'approvals', 'separation_of_duties', 'freeze_window'];
      expect(done.decisionRecord.gates.map((g: { gate: string }) => g.gate)).toEqual(gates);
      expect(done.decisionRecord.approvals.map((a: { approver: { username: string } }) => a.approver.username)).toEqual(['bob', 'carol']);

      const listed = (await ok(adminToken, 'evidence', 'list', '--promotion', prod.id, '--json')).out;
      const decision = (Array.isArray(listed) ? listed : listed.items).find(
        (p: { packetType: string }) => p.packetType === 'release_decision',
      );
      expect(decision.content.decision.gates.map((g: { gate: string }) => g.gate)).toEqual(gates);
      expect(decision.content.actors.approvers.map((a: { username: string }) => a.username)).toEqual(['bob', 'carol']);
      expect(decision.content.actors.requester.username).toBe('alice');

      const bundle = path.join(dir, 'bundle.json');
      await ok(adminToken, 'evidence', 'export', '--environment', 'prod', '-o', bundle);
      // Verification is offline: no server address or token is given to it.
      const verified = await runGantry(['evidence', 'verify', bundle], childEnv({ GANTRY_SERVER: 'http://127.0.0.1:9', HOME: dir }));
      expect(verified.code, verified.stderr + verified.stdout).toBe(0);
      const text = await readFile(bundle, 'utf8');
      await writeFile(bundle, text.replace('quarterly release', 'quarterly releasf'));
      const tampered = await runGantry(['evidence', 'verify', bundle], childEnv({ HOME: dir }));
      expect(tampered.code).toBe(1);
      expect(tampered.stdout + tampered.stderr).toContain(decision.id);
    },
    T,
  );
});
