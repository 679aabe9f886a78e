// Idempotency-Key over HTTP on a listening server and real PostgreSQL: a retried POST /promotions,
// /deployments or /approve with the same key and body gets the first answer again and does the work
// once; the same key with another body is refused with 422; concurrent requests with one key execute
// once (the others get 409 with Retry-After, or the replay once the first has answered).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_DEPLOY_TEMPLATE, type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';

let f: PromotionFixture;
let base: string;

interface Answer {
  status: number;
  text: string;
  // any: tests read arbitrary JSON response shapes
  body: any;
  replayed: string | null;
  retryAfter: string | null;
}

async function post(who: string, path: string, body: unknown, key?: string): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${f.tokens[who]}`,
      'content-type': 'application/json',
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    body: text ? JSON.parse(text) : undefined,
    replayed: res.headers.get('idempotency-replayed'),
    retryAfter: res.headers.get('retry-after'),
  };
}

beforeAll(async () => {
  f = await promotionFixture({ alice: ['release_manager', 'approver'], bob: ['approver'], carol: ['approver'] });
  expect((await f.call('admin', 'POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
  const config = { promotionTemplate: 'promote-no-deploy' };
  for (const [name, extra] of [
    ['dev', {}],
    ['prod', { requiredApprovals: 2 }],
  ] as const) {
    expect((await f.call('admin', 'POST', '/api/v1/environments', { name, config, ...extra })).status).toBe(201);
  }
  const ops = await f.call('admin', 'POST', '/api/v1/environments', { name: 'ops' });
  expect(ops.status).toBe(201);
  const target = { name: 'ops-1', environmentId: ops.body.id, targetType: 'docker_host', connection: { dockerHost: 'unix:///x.sock' } };
  expect((await f.call('admin', 'POST', '/api/v1/targets', target)).status).toBe(201);
  await f.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = f.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${addr.port}`;
});
afterAll(async () => {
  await f?.app.close();
});

describe('Idempotency-Key', () => {
  it('replays the first answer of POST /promotions for the same key and body, and refuses another body with 422', async () => {
    await f.readyRelease('1.0.0', 'alice');
    const body = { releaseId: '1.0.0', targetEnvironmentId: 'dev', reason: 'ship it' };
    const first = await post('alice', '/api/v1/promotions', body, 'promo-key-1');
    expect([first.status, first.replayed]).toEqual([201, null]);
    const again = await post('alice', '/api/v1/promotions', body, 'promo-key-1');
    expect([again.status, again.replayed]).toEqual([201, 'true']);
    expect(again.text).toBe(first.text);
    // the same body with its keys in another order is the same request
    const reordered = await post(
      'alice',
      '/api/v1/promotions',
      { reason: 'ship it', targetEnvironmentId: 'dev', releaseId: '1.0.0' },
      'promo-key-1',
    );
    expect([reordered.status, reordered.body.id]).toEqual([201, first.body.id]);
    const promotions = await f.call('admin', 'GET', '/api/v1/promotions?release=1.0.0');
    expect(promotions.body.items.map((p: { id: string }) => p.id)).toEqual([first.body.id]);

    const other = await post('alice', '/api/v1/promotions', { ...body, reason: 'something else' }, 'promo-key-1');
    expect([other.status, other.body.code]).toEqual([422, 'idempotency_key_reused']);
    expect(other.body.detail).toContain('POST /api/v1/promotions with another body');
    const elsewhere = await post('alice', '/api/v1/deployments', { releaseId: '1.0.0', environmentId: 'ops' }, 'promo-key-1');
    expect([elsewhere.status, elsewhere.body.code]).toEqual([422, 'idempotency_key_reused']);
    // without a key, the retry is a second request, never a replay: refused while the first is still
    // active, or a new promotion once the first has already deployed (how fast that is depends on the machine)
    const unkeyed = await post('alice', '/api/v1/promotions', body);
    expect(unkeyed.replayed).toBeNull();
    if (unkeyed.status === 201) expect(unkeyed.body.id).not.toBe(first.body.id);
    else expect([unkeyed.status, unkeyed.body.code]).toEqual([409, 'promotion_in_progress']);
    // an invalid key is a 400 that names the header
    const bad = await post('alice', '/api/v1/promotions', body, 'x'.repeat(300));
    expect([bad.status, bad.body.errors?.[0]?.path]).toEqual([400, 'headers.idempotency-key']);
    await f.waitFor(first.body.id, ['deployed']);
  });

  it('executes concurrent POST /deployments with one key once: the others get 409 with Retry-After or the replay', async () => {
    const body = { releaseId: '1.0.0', environmentId: 'ops' };
    const answers = await Promise.all(Array.from({ length: 6 }, () => post('admin', '/api/v1/deployments', body, 'deploy-key-1')));
    const fresh = answers.filter((a) => a.status === 201 && a.replayed === null);
    expect(fresh).toHaveLength(1);
    const jobId = fresh[0]!.body.id as string;
    for (const a of answers) {
      if (a.status === 201) expect(a.body.id).toBe(jobId);
      else {
        expect([a.status, a.body.code, a.retryAfter]).toEqual([409, 'idempotency_key_in_use', '1']);
      }
    }
    // once the first has answered, every retry gets its answer
    const later = await post('admin', '/api/v1/deployments', body, 'deploy-key-1');
    expect([later.status, later.replayed, later.body.id]).toEqual([201, 'true', jobId]);
    const jobs = await f.db.query('SELECT id FROM deployment_jobs WHERE environment_id = (SELECT id FROM environments WHERE name = $1)', [
      'ops',
    ]);
    expect(jobs.rows.map((r) => r.id)).toEqual([jobId]);
    expect((await post('admin', `/api/v1/deployments/${jobId}/cancel`, {})).status).toBe(200);
  });

  it('answers 409 while the first request with a key still runs, and lets a retry take over a key whose server went away', async () => {
    const admin = (await f.db.query<{ id: string }>(`SELECT id FROM users WHERE username = 'admin'`)).rows[0]!.id;
    const body = { releaseId: '1.0.0', environmentId: 'ops' };
    // What a first request leaves while it runs: the key held, no answer yet (the body hash does not matter
    // here; it is compared first, so hold it with the hash the real request will have).
    const hold = async (until: Date) => {
      const probe = await post('admin', '/api/v1/deployments', body, 'held-key');
      expect(probe.status).toBe(201);
      await f.db.query(
        `UPDATE idempotency_keys SET status = NULL, response = NULL, locked_until = $3 WHERE tenant_id = $1 AND user_id = $2 AND key = 'held-key'`,
        [f.tenantId, admin, until],
      );
      await post('admin', `/api/v1/deployments/${probe.body.id}/cancel`, {});
      return probe.body.id as string;
    };
    const firstJob = await hold(new Date(Date.now() + 60_000));
    const busy = await post('admin', '/api/v1/deployments', body, 'held-key');
    expect([busy.status, busy.body.code, busy.retryAfter]).toEqual([409, 'idempotency_key_in_use', '1']);
    await f.db.query(`UPDATE idempotency_keys SET locked_until = $2 WHERE user_id = $1 AND key = 'held-key'`, [
      admin,
      new Date(Date.now() - 1000),
    ]);
    const taken = await post('admin', '/api/v1/deployments', body, 'held-key');
    expect([taken.status, taken.replayed]).toEqual([201, null]);
    expect(taken.body.id).not.toBe(firstJob);
    expect((await post('admin', '/api/v1/deployments', body, 'held-key')).body.id).toBe(taken.body.id);
    expect((await post('admin', `/api/v1/deployments/${taken.body.id}/cancel`, {})).status).toBe(200);
  });

  it('replays POST /approve for the same key and user; keys belong to their user', async () => {
    // 1.0.0 reached dev in the first test, so prod is next in order
    const p = await post('alice', '/api/v1/promotions', { releaseId: '1.0.0', targetEnvironmentId: 'prod', reason: 'to prod' }, 'prod-1');
    expect(p.status).toBe(201);
    await f.waitFor(p.body.id, ['awaiting_approval']);
    const first = await post('bob', `/api/v1/promotions/${p.body.id}/approve`, { comment: 'lgtm' }, 'approve-1');
    expect([first.status, first.replayed]).toEqual([200, null]);
    const again = await post('bob', `/api/v1/promotions/${p.body.id}/approve`, { comment: 'lgtm' }, 'approve-1');
    expect([again.status, again.replayed, again.text]).toEqual([200, 'true', first.text]);
    const other = await post('bob', `/api/v1/promotions/${p.body.id}/approve`, { comment: 'changed my mind' }, 'approve-1');
    expect([other.status, other.body.code]).toEqual([422, 'idempotency_key_reused']);
    // carol's request with the same key is hers: it is executed, not bob's answer replayed
    const carol = await post('carol', `/api/v1/promotions/${p.body.id}/approve`, { comment: 'lgtm' }, 'approve-1');
    expect([carol.status, carol.replayed]).toEqual([200, null]);
    const done = await f.waitFor(p.body.id, ['deployed']);
    expect(done.approvals.map((a: { approver: { username: string } }) => a.approver.username).sort()).toEqual(['bob', 'carol']);
  });

  it('is documented on every creating POST in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
    };
    for (const path of ['/api/v1/promotions', '/api/v1/deployments', '/api/v1/promotions/{id}/approve', '/api/v1/releases']) {
      const params = doc.paths[path]?.post?.parameters ?? [];
      expect(
        params.some((x) => x.in === 'header' && x.name === 'idempotency-key'),
        path,
      ).toBe(true);
    }
  });
});
