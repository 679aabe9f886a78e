// e2e support for workflow tests: a receiver that plays an external system honouring Idempotency-Key,
// and helpers to start servers on a test database and wait for runs.

import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { api, childEnv, freePort, type GantryProcess, spawnGantry, waitReady } from './support.js';

export interface Receiver {
  url: string;
  /** Requests seen per idempotency key. */
  requests: Map<string, number>;
  /** Effects applied per key: the first request with a key applies it, later ones get the recorded answer. */
  applied: Map<string, number>;
  /** Keys that were ever in flight twice at the same moment. */
  overlaps: Set<string>;
  close(): void;
}

export async function startReceiver(delayMs: number): Promise<Receiver> {
  const requests = new Map<string, number>();
  const applied = new Map<string, number>();
  const inflight = new Set<string>();
  const overlaps = new Set<string>();
  const server = http.createServer((req, res) => {
    const key = String(req.headers['idempotency-key'] ?? '');
    requests.set(key, (requests.get(key) ?? 0) + 1);
    if (inflight.has(key)) overlaps.add(key);
    inflight.add(key);
    req.resume();
    setTimeout(() => {
      if (!applied.has(key)) applied.set(key, 1);
      inflight.delete(key);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true }));
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    applied,
    overlaps,
    close: () => server.close(),
  };
}

export async function startServer(
  dbUrl: string,
  token: string,
  extra: Record<string, string> = {},
): Promise<{ proc: GantryProcess; base: string }> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-wf-'));
  const proc = spawnGantry(
    ['server'],
    childEnv({ DATABASE_URL: dbUrl, GANTRY_BOOTSTRAP_TOKEN: token, GANTRY_PORT: String(port), GANTRY_DATA_DIR: dataDir, ...extra }),
  );
  const base = `http://127.0.0.1:${port}`;
  await waitReady(proc, base);
  return { proc, base };
}

export async function waitForRuns(base: string, token: string, ids: string[], timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  const status = new Map<string, string>();
  while (Date.now() < deadline) {
    const pending = ids.filter((id) => !['succeeded', 'failed', 'cancelled'].includes(status.get(id) ?? ''));
    if (pending.length === 0) return status;
    for (let i = 0; i < pending.length; i += 50) {
      await Promise.all(
        pending.slice(i, i + 50).map(async (id) => {
          const r = await api(base, 'GET', `/api/v1/workflow-runs/${id}`, token);
          status.set(id, r.body.status);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return status;
}
