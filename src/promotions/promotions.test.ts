// Promotions through gates and approvals against a real PostgreSQL with a running engine:
// dev → staging → prod with separation of duties, environment order, rejection, concurrent approvals,
// freeze windows with an emergency override, dry runs, and policy/webhook/security gates.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_DEPLOY_TEMPLATE, type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';

let f: PromotionFixture;
const env: Record<string, string> = {};
let services: http.Server;
let servicesUrl: string;
const verdicts = new Map<string, unknown>();
const hooks: { type?: string; event?: string }[] = [];

beforeAll(async () => {
  f = await promotionFixture({
    alice: ['release_manager', 'approver'],
    bob: ['approver'],
    carol: ['approver'],
    dave: ['release_manager', 'approver'],
  });
  expect((await f.call('admin', 'POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
  const config = { promotionTemplate: 'promote-no-deploy' };
  for (const [name, extra] of [
    ['dev', {}],
    ['staging', {}],
    ['prod', { requiredApprovals: 2, requireSod: true }],
  ] as const) {
    const r = await f.call('admin', 'POST', '/api/v1/environments', { name, config, ...extra });
    expect(r.status).toBe(201);
    env[name] = r.body.id;
  }
  // A policy service (OPA data API shape) and a scanner, both local test servers.
  services = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/hook') {
        hooks.push(JSON.parse(body));
        res.end('{}');
        return;
      }
      if (req.url === '/v1/data/gantry/allow') {
        const input = JSON.parse(body).input;
        const ok = input.promotion.reason.includes('CHG-');
        res.end(JSON.stringify({ result: { allow: ok, reasons: ok ? ['change ticket present'] : ['no change ticket in the reason'] } }));
        return;
      }
      const m = req.url?.match(/^\/verdicts\/(.+)$/);
      const v = m ? verdicts.get(decodeURIComponent(m[1]!)) : undefined;
      res.statusCode = v ? 200 : 404;
      res.end(JSON.stringify(v ?? { error: 'not scanned' }));
    });
  });
  await new Promise<void>((resolve) => services.listen(0, '127.0.0.1', resolve));
  servicesUrl = `http://127.0.0.1:${(services.address() as AddressInfo).port}`;
});
afterAll(() => services.close());

async function promote(who: string, release: string, to: string, reason = 'test') {
  const r = await f.call(who, 'POST', '/api/v1/promotions', { releaseId: release, targetEnvironmentId: to, reason });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

describe('promotion through dev → staging → prod', () => {
  it('decides a promotion with nothing to wait for in the request itself; its run records that and goes on', async () => {
    await f.readyRelease('0.9.0', 'dave');
    const r = await f.call('alice', 'POST', '/api/v1/promotions', { releaseId: '0.9.0', targetEnvironmentId: 'dev', reason: 'at once' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.status).toBe('approved');
    expect(r.body.decisionRecord.outcome).toBe('approved');
    expect(r.body.decisionRecord.evidence.packetId).toBeTruthy();
    const done = await f.waitFor(r.body.id, ['deployed']);
    const run = await f.call('admin', 'GET', `/api/v1/workflow-runs/${done.workflowRunId}`);
    const gatesStep = run.body.steps.find((s: { nodeId: string }) => s.nodeId === 'evaluate_gates');
    expect(gatesStep.status).toBe('succeeded');
  });

  it('deploys to dev and staging without approvals, and to prod only with two approvals by other people', async () => {
    await f.readyRelease('1.0.0', 'dave');
    expect((await f.waitFor(await promote('alice', '1.0.0', 'dev'), ['deployed'])).status).toBe('deployed');
    expect((await f.waitFor(await promote('alice', '1.0.0', 'staging'), ['deployed'])).sourceEnvironmentName).toBe('dev');

    const id = await promote('alice', '1.0.0', 'prod', 'weekly release');
    const waiting = await f.waitFor(id, ['awaiting_approval']);
    expect(waiting.blockedReason).toMatch(/approvals: 0 of 2 approvals/);

    const own = await f.call('alice', 'POST', `/api/v1/promotions/${id}/approve`, { comment: 'mine' });
    expect(own.status).toBe(403);
    expect(own.body.code).toBe('separation_of_duties');
    expect(own.body.detail).toMatch(/you requested this promotion/);
    const creator = await f.call('dave', 'POST', `/api/v1/promotions/${id}/approve`, {});
    expect(creator.status).toBe(403);
    expect(creator.body.detail).toMatch(/you created release 1\.0\.0/);

    expect((await f.call('bob', 'POST', `/api/v1/promotions/${id}/approve`, { comment: 'ok' })).status).toBe(200);
    expect((await f.call('bob', 'POST', `/api/v1/promotions/${id}/approve`, {})).body.code).toBe('already_decided');
    await new Promise((r) => setTimeout(r, 300));
    expect((await f.call('admin', 'GET', `/api/v1/promotions/${id}`)).body.status).toBe('awaiting_approval');
    expect((await f.call('carol', 'POST', `/api/v1/promotions/${id}/approve`, { comment: 'ship it' })).status).toBe(200);
    const done = await f.waitFor(id, ['deployed']);

    const record = done.decisionRecord;
    expect(record.outcome).toBe('approved');
    expect(record.gates.map((g: { gate: string }) => g.gate)).toEqual([
      'environment_order',
      'release_status',
      'approvals',
      'separation_of_duties',
      'freeze_window',
    ]);
    expect(record.gates.every((g: { status: string }) => g.status === 'pass')).toBe(true);
    expect(record.approvals.map((a: { approver: { username: string } }) => a.approver.username)).toEqual(['bob', 'carol']);
    expect(record.release.components[0].digest).toMatch(/^sha256:/);

    const packets = await f.db.query<{ packet_type: string; content: any }>(
      `SELECT packet_type, content FROM evidence_packets WHERE promotion_id = $1`,
      [id],
    );
    expect(packets.rows.map((p) => p.packet_type)).toEqual(['release_decision']);
    const c = packets.rows[0]!.content;
    expect(c.decision.outcome).toBe('approved');
    expect(c.decision.gates.map((g: { gate: string }) => g.gate)).toEqual(record.gates.map((g: { gate: string }) => g.gate));
    expect(c.actors.approvers.map((a: { username: string }) => a.username)).toEqual(['bob', 'carol']);
    expect(c.actors.requester.username).toBe('alice');
    expect(c.environment.name).toBe('prod');
    const release = await f.call('admin', 'GET', '/api/v1/releases/1.0.0');
    expect(release.body.status).toBe('deployed');
  });

  it('refuses to skip an environment: the environment-order gate rejects it with the reason', async () => {
    await f.readyRelease('1.1.0', 'dave');
    const id = await promote('alice', '1.1.0', 'prod');
    const p = await f.waitFor(id, ['rejected']);
    expect(p.blockedReason).toMatch(/environment_order: release 1\.1\.0 has not been deployed to "staging"; promote it there first/);
    const gates = await f.call('admin', 'GET', `/api/v1/promotions/${id}/gates`);
    expect(gates.body.gates.find((g: { gate: string }) => g.gate === 'environment_order').status).toBe('fail');
    const packet = await f.db.query(`SELECT content->'decision'->>'outcome' AS outcome FROM evidence_packets WHERE promotion_id = $1`, [
      id,
    ]);
    expect(packet.rows).toEqual([{ outcome: 'rejected' }]);
  });

  it('ends a promotion on a rejection, and counts two simultaneous approvals once each without advancing twice', async () => {
    await f.readyRelease('1.2.0', 'dave');
    await f.waitFor(await promote('alice', '1.2.0', 'dev'), ['deployed']);
    await f.waitFor(await promote('alice', '1.2.0', 'staging'), ['deployed']);
    const rejected = await promote('alice', '1.2.0', 'prod');
    await f.waitFor(rejected, ['awaiting_approval']);
    const r = await f.call('bob', 'POST', `/api/v1/promotions/${rejected}/reject`, { comment: 'breaks checkout' });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('rejected');
    expect((await f.call('carol', 'POST', `/api/v1/promotions/${rejected}/approve`, {})).body.code).toBe('promotion_decided');
    const run = await f.call('admin', 'GET', `/api/v1/workflow-runs/${r.body.workflowRunId}`);
    expect(run.body.status).toBe('cancelled');

    const again = await promote('alice', '1.2.0', 'prod');
    await f.waitFor(again, ['awaiting_approval']);
    const both = await Promise.all([
      f.call('bob', 'POST', `/api/v1/promotions/${again}/approve`, {}),
      f.call('carol', 'POST', `/api/v1/promotions/${again}/approve`, {}),
    ]);
    expect(both.map((x) => x.status)).toEqual([200, 200]);
    const deployed = await f.waitFor(again, ['deployed']);
    // The promotion is marked deployed inside the last step; wait for the run itself to finish.
    for (let i = 0; i < 200; i++) {
      if ((await f.call('admin', 'GET', `/api/v1/workflow-runs/${deployed.workflowRunId}`)).body.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const decisions = await f.db.query(
      `SELECT count(*)::int AS n FROM evidence_packets WHERE promotion_id = $1 AND packet_type = 'release_decision'`,
      [again],
    );
    expect(decisions.rows[0]).toEqual({ n: 1 });
    const steps = await f.db.query<{ node_id: string; n: number }>(
      `SELECT s.node_id, count(*) FILTER (WHERE s.status = 'succeeded')::int AS n FROM step_runs s JOIN promotions p ON p.workflow_run_id = s.workflow_run_id
        WHERE p.id = $1 GROUP BY s.node_id ORDER BY s.node_id`,
      [again],
    );
    expect(steps.rows.every((s) => s.n === 1)).toBe(true);
  });
});

describe('freeze windows and overrides', () => {
  it('blocks a prod promotion while a freeze covers now, says when it ends, and lets an override through with evidence', async () => {
    const end = new Date(Date.now() + 2 * 3600_000);
    end.setMilliseconds(0);
    expect(
      (
        await f.call('admin', 'PATCH', '/api/v1/environments/prod', {
          freezeWindows: [
            { kind: 'one_off', name: 'release-freeze', start: new Date(Date.now() - 3600_000).toISOString(), end: end.toISOString() },
          ],
        })
      ).status,
    ).toBe(200);
    await f.readyRelease('1.3.0', 'dave');
    await f.waitFor(await promote('alice', '1.3.0', 'dev'), ['deployed']);
    await f.waitFor(await promote('alice', '1.3.0', 'staging'), ['deployed']);
    const id = await promote('alice', '1.3.0', 'prod');
    const blocked = await f.waitFor(id, ['pending'], 5000);
    for (let i = 0; i < 50 && !blocked.blockedReason; i++) Object.assign(blocked, await f.waitFor(id, ['pending']));
    const gates = await f.call('admin', 'GET', `/api/v1/promotions/${id}/gates`);
    const freeze = gates.body.gates.find((g: { gate: string }) => g.gate === 'freeze_window');
    expect(freeze.status).toBe('pending');
    expect(freeze.reason).toContain(`"release-freeze" is active until ${end.toISOString()}`);
    expect(freeze.retryAt).toBe(end.toISOString());
    expect(gates.body.blockedReason).toContain('freeze_window');

    const denied = await f.call('alice', 'POST', `/api/v1/promotions/${id}/overrides`, {
      gate: 'freeze_window',
      reason: 'hotfix for incident 4711',
    });
    expect(denied.status).toBe(403);
    const o = await f.call('admin', 'POST', `/api/v1/promotions/${id}/overrides`, {
      gate: 'freeze_window',
      reason: 'hotfix for incident 4711',
      expiresInMinutes: 30,
    });
    expect(o.status).toBe(201);
    const packet = await f.db.query<{ packet_type: string; content: any }>(
      'SELECT packet_type, content FROM evidence_packets WHERE id = $1',
      [o.body.evidenceId],
    );
    expect(packet.rows[0]!.packet_type).toBe('gate_override');
    expect(packet.rows[0]!.content.override).toMatchObject({
      gate: 'freeze_window',
      reason: 'hotfix for incident 4711',
      by: { username: 'admin' },
    });
    expect(packet.rows[0]!.content.gateBefore.status).toBe('pending');

    await f.waitFor(id, ['awaiting_approval']);
    await f.call('bob', 'POST', `/api/v1/promotions/${id}/approve`, {});
    await f.call('carol', 'POST', `/api/v1/promotions/${id}/approve`, {});
    const done = await f.waitFor(id, ['deployed']);
    const gate = done.decisionRecord.gates.find((g: { gate: string }) => g.gate === 'freeze_window');
    expect(gate.status).toBe('pass');
    expect(gate.reason).toMatch(/overridden by admin until .*: hotfix for incident 4711/);
    await f.call('admin', 'PATCH', '/api/v1/environments/prod', { freezeWindows: [] });
  });

  it('previews the gates without writing anything', async () => {
    const before = await f.db.query(
      'SELECT (SELECT count(*) FROM promotions)::int AS p, (SELECT count(*) FROM evidence_packets)::int AS e',
    );
    const r = await f.call('alice', 'POST', '/api/v1/promotions/preview', { releaseId: '1.3.0', targetEnvironmentId: 'dev' });
    expect(r.status).toBe(200);
    expect(r.body.wouldPass).toBe(true);
    expect(r.body.gates).toHaveLength(5);
    const after = await f.db.query('SELECT (SELECT count(*) FROM promotions)::int AS p, (SELECT count(*) FROM evidence_packets)::int AS e');
    expect(after.rows).toEqual(before.rows);
  });
});

describe('policy, webhook and security gates', () => {
  it('applies a CEL policy, an OPA-style webhook and a scanner verdict configured on the environment', async () => {
    await f.call('admin', 'POST', '/api/v1/integrations', {
      name: 'opa',
      typeId: 'policy_webhook',
      config: { url: `${servicesUrl}/v1/data/gantry/allow` },
    });
    await f.call('admin', 'POST', '/api/v1/integrations', { name: 'scanner', typeId: 'scanner_webhook', config: { url: servicesUrl } });
    const qa = await f.call('admin', 'POST', '/api/v1/environments', {
      name: 'qa',
      orderIndex: 10,
      config: {
        promotionTemplate: 'promote-no-deploy',
        gates: [
          'release_status',
          { id: 'policy', config: { name: 'no-friday-names', expression: '!release.name.startsWith("friday")' } },
          { id: 'webhook', config: { integration: 'opa' } },
          { id: 'security_verdict', config: { integration: 'scanner', thresholds: { critical: 0, high: 1 }, missingVerdict: 'fail' } },
        ],
      },
    });
    expect(qa.status).toBe(201);
    const relId = await f.readyRelease('2.0.0', 'dave');
    const digest = (await f.call('admin', 'GET', `/api/v1/releases/${relId}`)).body.components[0].digest;

    const noTicket = await promote('alice', '2.0.0', 'qa', 'no ticket');
    const p1 = await f.waitFor(noTicket, ['rejected']);
    expect(p1.blockedReason).toContain('webhook: no change ticket in the reason');
    expect(p1.blockedReason).toContain('security_verdict: no verdict yet for api');
    expect(p1.decisionRecord.gates.find((g: { gate: string }) => g.gate === 'policy')).toMatchObject({ status: 'pass' });
    expect(p1.decisionRecord.policyVersions.policy).toMatch(/^sha256:/);

    verdicts.set(digest, { critical: 0, high: 3 });
    const tooMany = await promote('alice', '2.0.0', 'qa', 'CHG-1');
    expect((await f.waitFor(tooMany, ['rejected'])).blockedReason).toContain(
      'security_verdict: security verdict over threshold: api: 3 high (max 1)',
    );

    verdicts.set(digest, { critical: 0, high: 1 });
    const ok = await promote('alice', '2.0.0', 'qa', 'CHG-2');
    const done = await f.waitFor(ok, ['deployed']);
    expect(done.decisionRecord.gates.map((g: { gate: string; status: string }) => `${g.gate}:${g.status}`)).toEqual([
      'release_status:pass',
      'policy:pass',
      'webhook:pass',
      'security_verdict:pass',
    ]);
  });
});

describe('notifications', () => {
  it('posts promotion events to a notification webhook after each change commits', async () => {
    const hook = await f.call('admin', 'POST', '/api/v1/integrations', {
      name: 'chat',
      typeId: 'notification_webhook',
      config: { url: `${servicesUrl}/hook` },
    });
    expect(hook.status).toBe(201);
    await f.readyRelease('4.0.0', 'dave');
    await f.waitFor(await promote('alice', '4.0.0', 'dev', 'notify me'), ['deployed']);
    const seen = () => hooks.map((h) => h.type ?? h.event);
    for (let i = 0; i < 400 && !seen().includes('promotion.deployed'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(seen()).toEqual(expect.arrayContaining(['promotion.requested', 'promotion.approved', 'promotion.deployed']));
  });
});
