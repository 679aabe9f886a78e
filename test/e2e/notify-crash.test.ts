// e2e: a server is SIGKILLed right after committing a promotion, while it is delivering the
// promotion.requested notification; the outbox row survives and another server process delivers it,
// under the same Idempotency-Key, so the receiver handles it once.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { api, killAll } from './support.js';
import { startServer } from './workflow-support.js';

const T = 150_000;

/** Hangs the first request it gets (the doomed server's delivery); answers 200 to the rest. */
async function startReceiver() {
  const seen: { key: string; event: string; answered: boolean }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const first = seen.length === 0;
      seen.push({ key: String(req.headers['idempotency-key']), event: (JSON.parse(body) as { event: string }).event, answered: !first });
      if (!first) res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => server.closeAllConnections(),
  };
}

describe('notifications survive a killed server', () => {
  afterAll(() => killAll(), T);

  it(
    'a server killed right after the commit, mid-delivery: another server delivers the notification once by key',
    async () => {
      const { db, url } = await createTestDb();
      const token = `gty_${randomBytes(32).toString('base64url')}`;
      const receiver = await startReceiver();
      try {
        const notifyEnv = { GANTRY_NOTIFY_TIMEOUT_MS: '2000', GANTRY_NOTIFY_POLL_MS: '200', GANTRY_NOTIFY_BACKOFF_BASE_MS: '100' };
        const a = await startServer(url, token, notifyEnv);
        const hook = {
          name: 'chat',
          typeId: 'notification_webhook',
          config: { url: `${receiver.url}/hook`, events: ['promotion.requested'] },
        };
        expect((await api(a.base, 'POST', '/api/v1/integrations', token, hook)).status).toBe(201);
        expect((await api(a.base, 'POST', '/api/v1/environments', token, { name: 'dev' })).status).toBe(201);
        expect((await api(a.base, 'POST', '/api/v1/components', token, { name: 'app', imageRepository: 'r.example.com/app' })).status).toBe(
          201,
        );
        const rel = await api(a.base, 'POST', '/api/v1/releases', token, {
          name: '1.0.0',
          components: [{ component: 'app', digest: `sha256:${'a'.repeat(64)}` }],
        });
        expect((await api(a.base, 'POST', `/api/v1/releases/${rel.body.id}/ready`, token)).status).toBe(200);

        const p = await api(a.base, 'POST', '/api/v1/promotions', token, { releaseId: '1.0.0', targetEnvironmentId: 'dev', reason: 'go' });
        expect(p.status, JSON.stringify(p.body)).toBe(201);
        // The commit is done; the server is delivering (the receiver holds the request). Kill it now.
        for (let i = 0; i < 200 && receiver.seen.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
        expect(receiver.seen).toHaveLength(1);
        a.proc.child.kill('SIGKILL');
        await a.proc.exited;
        const row = await db.query<{ id: string; status: string; attempts: number }>(
          `SELECT id, status, attempts FROM notifications WHERE event_type = 'promotion.requested'`,
        );
        expect(row.rows).toHaveLength(1);
        const n = row.rows[0]!;
        expect([n.status, n.attempts, receiver.seen[0]!.key]).toEqual(['pending', 1, n.id]);

        // Another server process takes it over once the dead server's claim runs out.
        const b = await startServer(url, token, notifyEnv);
        let status = 'pending';
        for (let i = 0; i < 600 && status !== 'delivered'; i++) {
          await new Promise((r) => setTimeout(r, 100));
          status = (await api(b.base, 'GET', `/api/v1/notifications/${n.id}`, token)).body.status;
        }
        const detail = (await api(b.base, 'GET', `/api/v1/notifications/${n.id}`, token)).body;
        expect([detail.status, detail.attempts]).toEqual(['delivered', 2]);
        // The killed attempt never recorded an outcome; the one that delivered did.
        expect(detail.deliveries).toMatchObject([{ attempt: 2, ok: true, httpStatus: 200 }]);
        const forKey = receiver.seen.filter((s) => s.key === n.id);
        expect(forKey.map((s) => s.answered)).toEqual([false, true]);
        expect(forKey.every((s) => s.event === 'promotion.requested')).toBe(true);
      } finally {
        receiver.close();
      }
    },
    T,
  );
});
