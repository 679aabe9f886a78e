// Security test support: a real server listening on 127.0.0.1 (buildApp + listen) over a fresh database
// with the bootstrapped platform admin, and a fetch-based caller that returns status and parsed body.
import { afterAll } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { App } from '../../src/http/types.js';
import { buildApp } from '../../src/server.js';
import { bootstrap } from '../../src/tenancy/service.js';
import { createTestDb, type TestDb } from '../helpers.js';

export interface HttpResult {
  status: number;
  // any: tests read arbitrary JSON response shapes
  body: any;
  text: string;
}

export interface LiveServer extends TestDb {
  app: App;
  base: string;
  clock: ManualClock;
  /** The bootstrap admin's token: platform admin of tenant "default". */
  rootToken: string;
  call: (method: string, url: string, token: string | undefined, body?: unknown, headers?: Record<string, string>) => Promise<HttpResult>;
}

export async function liveServer(): Promise<LiveServer> {
  const tdb = await createTestDb();
  const boot = await bootstrap(tdb.db);
  const clock = new ManualClock(new Date());
  const app = await buildApp({ db: tdb.db, clock, logger: false });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  afterAll(() => app.close());
  const call: LiveServer['call'] = async (method, url, token, body, headers = {}) => {
    const res = await fetch(`${address}${url}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed, text };
  };
  return { ...tdb, app, base: address, clock, rootToken: boot.token!, call };
}
