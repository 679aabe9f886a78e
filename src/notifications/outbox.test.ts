// Durable notifications over HTTP on real PostgreSQL: a webhook that is down for a while (503s, reset
// connections and a hanging request), then returns, receives every event exactly once by Idempotency-Key,
// in order per subject, while promotions that deploy through an agent go on as with a healthy channel.
// The outage lasts GANTRY_TEST_OUTAGE_MS (default 3000; set 60000 for the full minute); the dispatcher's
// backoff is shortened (100 ms doubling to 1 s) so the suite does not wait for production backoff.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackOutbound } from '../../test/helpers.js';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { type ScriptedAgent, scriptedAgent } from '../../test/scripted-agent.js';
import { systemClock } from '../core/clock.js';
import { NotificationDispatcher } from './dispatcher.js';

const OUTAGE_MS = Number(process.env.GANTRY_TEST_OUTAGE_MS ?? 3000);

interface Receipt {
  key: string;
  event: string;
  subject: string;
  answered: number | 'reset' | 'hung';
}

/** A webhook receiver on 127.0.0.1 that can be taken down: it then answers 503, resets the connection or hangs, in turn. */
async function startReceiver() {
  const receipts: Receipt[] = [];
  let down = false;
  let turn = 0;
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const p = JSON.parse(body) as { event: string; data: { promotionId?: string; jobId?: string } };
      const key = String(req.headers['idempotency-key']);
      const subject = p.data.promotionId ? `promotion:${p.data.promotionId}` : `deployment:${p.data.jobId}`;
      if (!down) {
        receipts.push({ key, event: p.event, subject, answered: 200 });
        res.writeHead(200).end('ok');
        return;
      }
      const mode = turn++ % 3;
      if (mode === 0) {
        receipts.push({ key, event: p.event, subject, answered: 503 });
        res.writeHead(503).end('down for maintenance');
      } else if (mode === 1) {
        receipts.push({ key, event: p.event, subject, answered: 'reset' });
        req.socket.destroy();
      } else {
        receipts.push({ key, event: p.event, subject, answered: 'hung' });
        hanging.push(res);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    receipts,
    setDown(v: boolean) {
      down = v;
      if (!v) for (const res of hanging.splice(0)) res.destroy();
    },
    /** Keys answered 200, in the order they were accepted. */
    accepted: () => receipts.filter((r) => r.answered === 200),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let f: PromotionFixture;
let base: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let agent: ScriptedAgent;
let agentLoop: { stop(): Promise<void> };

beforeAll(async () => {
  f = await promotionFixture({ alice: ['release_manager'] });
  receiver = await startReceiver();
  await f.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
  const ops = await f.call('admin', 'POST', '/api/v1/environments', { name: 'ops' });
  expect(ops.status).toBe(201);
  const target = { name: 'ops-1', environmentId: ops.body.id, targetType: 'docker_host', connection: { dockerHost: 'unix:///x.sock' } };
  expect((await f.call('admin', 'POST', '/api/v1/targets', target)).status).toBe(201);
  const hook = { name: 'chat', typeId: 'notification_webhook', config: { url: `${receiver.url}/hook` } };
  expect((await f.call('admin', 'POST', '/api/v1/integrations', hook)).status).toBe(201);
  agent = await scriptedAgent(base, f.tokens.admin!, 'edge-1');
  agentLoop = agent.run();
});
afterAll(async () => {
  await agentLoop?.stop();
  receiver?.setDown(false);
  await receiver?.close();
});

/** Promotes a new release to ops through the standard template (gates, approval, deploy by the agent, verify). */
async function promoteAndTime(release: string): Promise<{ id: string; ms: number }> {
  await f.readyRelease(release, 'alice');
  const t0 = performance.now();
  const p = await f.call('alice', 'POST', '/api/v1/promotions', { releaseId: release, targetEnvironmentId: 'ops', reason: 'test' });
  expect(p.status, JSON.stringify(p.body)).toBe(201);
  const done = await f.waitFor(p.body.id, ['deployed', 'failed', 'rejected'], 30_000);
  expect([done.status, done.blockedReason]).toEqual(['deployed', null]);
  return { id: p.body.id, ms: performance.now() - t0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('durable notifications', () => {
  it(
    'a channel that is down, then returns, receives every event exactly once, in order per subject; deployments were not held up',
    async () => {
      const healthy: { id: string; ms: number }[] = [];
      for (const r of ['1.0.0', '1.0.1', '1.0.2']) healthy.push(await promoteAndTime(r));

      receiver.setDown(true);
      const outageStart = Date.now();
      const during: { id: string; ms: number }[] = [];
      for (const r of ['2.0.0', '2.0.1', '2.0.2']) {
        const p = await promoteAndTime(r);
        // Deployed while the channel is down: nothing about this promotion has reached the receiver.
        expect(receiver.accepted().filter((x) => x.subject === `promotion:${p.id}`)).toEqual([]);
        during.push(p);
      }
      // A deployment without a promotion, too.
      const job = await f.call('admin', 'POST', '/api/v1/deployments', {
        releaseId: '2.0.2',
        environmentId: 'ops',
        strategy: 'all_at_once',
      });
      expect(job.status, JSON.stringify(job.body)).toBe(201);
      for (let i = 0; i < 400; i++) {
        if ((await f.call('admin', 'GET', `/api/v1/deployments/${job.body.id}`)).body.status === 'succeeded') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await f.call('admin', 'GET', `/api/v1/deployments/${job.body.id}`)).body.status).toBe('succeeded');
      const outageLeft = OUTAGE_MS - (Date.now() - outageStart);
      if (outageLeft > 0) await new Promise((r) => setTimeout(r, outageLeft));
      // The outage was real: deliveries were tried and failed in each way.
      const failedKinds = new Set(receiver.receipts.filter((x) => x.answered !== 200).map((x) => x.answered));
      expect([...failedKinds].sort()).toEqual([503, 'hung', 'reset'].sort());
      const pending = await f.call('admin', 'GET', '/api/v1/notifications?status=pending&limit=500');
      expect(pending.body.items.length).toBeGreaterThan(0);
      receiver.setDown(false);

      // Every notification is delivered once the channel is back.
      const deadline = Date.now() + 60_000;
      let rows: { id: string; subject: string; event_type: string; status: string; seq: number }[] = [];
      for (;;) {
        rows = (await f.db.query('SELECT id, subject, event_type, status, seq FROM notifications ORDER BY seq')).rows;
        if (rows.every((r) => r.status === 'delivered') || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(rows.filter((r) => r.status !== 'delivered')).toEqual([]);
      // 6 promotions × (requested, approved, deployment.succeeded, deployed) + the direct deployment's event.
      expect(rows).toHaveLength(6 * 4 + 1);
      expect(await f.call('admin', 'GET', '/api/v1/notifications?status=dead')).toMatchObject({ body: { items: [] } });

      // Exactly once by idempotency key: each notification accepted once, nothing else accepted.
      const accepted = receiver.accepted();
      expect(accepted.map((a) => a.key).sort()).toEqual(rows.map((r) => r.id).sort());
      // In order per subject: the receiver accepted each subject's events in the order they happened.
      const bySubject = new Map<string, string[]>();
      for (const r of rows) bySubject.set(r.subject, [...(bySubject.get(r.subject) ?? []), r.id]);
      for (const [subject, ids] of bySubject) {
        expect(
          accepted.filter((a) => a.subject === subject).map((a) => a.key),
          subject,
        ).toEqual(ids);
      }
      for (const p of [...healthy, ...during]) {
        expect(accepted.filter((a) => a.subject === `promotion:${p.id}`).map((a) => a.event)).toEqual([
          'promotion.requested',
          'promotion.approved',
          'deployment.succeeded',
          'promotion.deployed',
        ]);
      }

      // The delivery log of a notification from the outage shows its failed attempts, then the success.
      const first = rows.find((r) => r.subject === `promotion:${during[0]!.id}`)!;
      const detail = (await f.call('admin', 'GET', `/api/v1/notifications/${first.id}`)).body;
      expect(detail.status).toBe('delivered');
      expect(detail.deliveries.length).toBeGreaterThan(1);
      expect(detail.deliveries.at(-1)).toMatchObject({ ok: true, httpStatus: 200, error: null });
      expect(detail.deliveries.slice(0, -1).every((d: { ok: boolean; error: string }) => !d.ok && d.error.length > 0)).toBe(true);

      // Promotions during the outage took about as long as with a healthy channel (a generous bound: the
      // outage only adds retries in the background). Figures are printed for the record.
      const h = median(healthy.map((x) => x.ms));
      const d = median(during.map((x) => x.ms));
      console.log(
        `promotion to deployed: healthy channel median ${h.toFixed(0)} ms, channel down ${d.toFixed(0)} ms (outage ${OUTAGE_MS} ms)`,
      );
      expect(d).toBeLessThan(h * 4 + 2000);
    },
    120_000 + OUTAGE_MS * 2,
  );

  it('keeps dead letters visible and re-sends them with the same key', async () => {
    receiver.setDown(true);
    const quick = new NotificationDispatcher({
      db: f.db,
      clock: systemClock,
      settings: { pollMs: 50, timeoutMs: 500, backoffBaseMs: 1, backoffMaxMs: 1, maxAttempts: 2, concurrency: 4 },
      outbound: loopbackOutbound(),
    });
    // Stop the fixture's dispatcher so this one, with two attempts, decides.
    await f.notifications.stop();
    try {
      await f.readyRelease('3.0.0', 'alice');
      const p = await f.call('alice', 'POST', '/api/v1/promotions', { releaseId: '3.0.0', targetEnvironmentId: 'ops', reason: 'dead' });
      const first = (await f.call('admin', 'GET', `/api/v1/notifications?subject=promotion:${p.body.id}`)).body.items.at(-1);
      expect(first).toMatchObject({ event: 'promotion.requested', status: 'pending', channel: 'chat' });
      for (let i = 0; i < 100; i++) {
        await quick.drain();
        const n = (await f.call('admin', 'GET', `/api/v1/notifications/${first.id}`)).body;
        if (n.status === 'dead') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const dead = (await f.call('admin', 'GET', '/api/v1/notifications?status=dead')).body.items;
      expect(dead.map((n: { id: string }) => n.id)).toContain(first.id);
      const d = (await f.call('admin', 'GET', `/api/v1/notifications/${first.id}`)).body;
      expect([d.status, d.attempts, d.deliveries.length]).toEqual(['dead', 2, 2]);
      expect(d.lastError).toMatch(/answered HTTP 503|could not be reached/);

      receiver.setDown(false);
      const resent = await f.call('alice', 'POST', `/api/v1/notifications/${first.id}/resend`);
      expect([resent.status, resent.body.status, resent.body.attempts]).toEqual([200, 'pending', 0]);
      expect((await f.call('alice', 'POST', `/api/v1/notifications/${first.id}/resend`)).body.code).toBe('notification_pending');
      await quick.drain();
      const after = (await f.call('admin', 'GET', `/api/v1/notifications/${first.id}`)).body;
      expect([after.status, after.deliveries.length, after.deliveries.at(-1).ok]).toEqual(['delivered', 3, true]);
      expect(receiver.accepted().filter((a) => a.key === first.id)).toHaveLength(1);
      expect(receiver.receipts.filter((a) => a.key === first.id).length).toBeGreaterThanOrEqual(3);
      await f.waitFor(p.body.id, ['deployed'], 30_000);
    } finally {
      f.notifications.start();
    }
  }, 60_000);
});
