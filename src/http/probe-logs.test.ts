// Request logs: the probes (/healthz, /readyz, /metrics) log at debug, every other request at info.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createTestDb } from '../../test/helpers.js';
import { createLogger } from '../core/logger.js';
import { buildApp } from '../server.js';

async function requestLog(level: string, urls: string[]) {
  const out = new PassThrough();
  const entries: { level: number; msg: string; req?: { url: string }; res?: { statusCode: number }; reqId?: string }[] = [];
  let buf = '';
  out.on('data', (d: Buffer) => {
    buf += d.toString();
  });
  const app = await buildApp({ db: (await db).db, logger: createLogger(level, 'json', out) });
  await app.ready();
  const ids = new Map<string, string>();
  for (const url of urls) {
    const res = await app.inject({ method: 'GET', url });
    ids.set(url, String(res.headers['x-request-id']));
  }
  await app.close();
  for (const line of buf.split('\n')) if (line) entries.push(JSON.parse(line));
  const of = (url: string) => entries.filter((e) => e.reqId === ids.get(url) && ['incoming request', 'request completed'].includes(e.msg));
  return { of };
}

const db = createTestDb();

describe('request logs of the probes', () => {
  it('are at debug level: absent at info, present at debug; other requests stay at info', async () => {
    const urls = ['/healthz', '/readyz', '/metrics', '/api/v1/environments'];
    const info = await requestLog('info', urls);
    for (const probe of ['/healthz', '/readyz', '/metrics']) expect(info.of(probe), probe).toEqual([]);
    const api = info.of('/api/v1/environments');
    expect(api.map((e) => [e.level, e.msg])).toEqual([
      [30, 'incoming request'],
      [30, 'request completed'],
    ]);
    expect(api[1]!.res!.statusCode).toBe(401);

    const debug = await requestLog('debug', urls);
    for (const probe of ['/healthz', '/readyz', '/metrics']) {
      expect(
        debug.of(probe).map((e) => [e.level, e.msg]),
        probe,
      ).toEqual([
        [20, 'incoming request'],
        [20, 'request completed'],
      ]);
    }
  });
});
