// Unit tests: problem documents and transport failures become messages and stable exit codes.
import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, exitCodeForStatus, type FetchLike } from './client.js';
import type { Connection } from './config.js';
import { type CliError, formatError } from './output.js';

const conn: Connection = { server: 'http://127.0.0.1:9', serverSource: 'GANTRY_SERVER', token: 't', tokenSource: 'GANTRY_TOKEN' };

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json', ...headers } });
}

async function failure(client: ApiClient, path = '/environments'): Promise<CliError> {
  try {
    await client.get(path);
  } catch (err) {
    return err as CliError;
  }
  throw new Error('expected the request to fail');
}

describe('exit codes', () => {
  it('maps HTTP statuses to the documented codes', () => {
    const cases: [number, number][] = [
      [400, 2],
      [413, 2],
      [415, 2],
      [422, 2],
      [401, 3],
      [403, 3],
      [404, 4],
      [409, 5],
      [500, 6],
      [503, 6],
      [405, 1],
      [429, 1],
    ];
    for (const [status, code] of cases) expect([status, exitCodeForStatus(status)]).toEqual([status, code]);
  });
});

describe('ApiClient', () => {
  it('prints the detail and one line per field error of a problem document', async () => {
    const client = new ApiClient(conn, async () =>
      json(400, {
        status: 400,
        code: 'validation_failed',
        detail: 'Invalid body.name: bad',
        errors: [
          { path: 'body.name', message: 'bad' },
          { path: 'body.orderIndex', message: 'too big' },
        ],
      }),
    );
    const err = await failure(client);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.exitCode).toBe(2);
    expect((err as ApiError).code).toBe('validation_failed');
    expect(formatError(err)).toBe('error: Invalid body.name: bad\n  body.name: bad\n  body.orderIndex: too big\n');
  });

  it('says where the token came from on 401 and names the request id on 5xx', async () => {
    const unauth = await failure(new ApiClient(conn, async () => json(401, { status: 401, code: 'unauthorized', detail: 'nope' })));
    expect(unauth.exitCode).toBe(3);
    expect(formatError(unauth)).toContain('token: GANTRY_TOKEN; server: http://127.0.0.1:9');
    const broken = await failure(new ApiClient(conn, async () => json(500, { detail: 'internal' }, { 'x-request-id': 'req-7' })));
    expect(broken.exitCode).toBe(6);
    expect(formatError(broken)).toContain('request id req-7');
  });

  it('reports an unreachable server with the URL tried and how to start one, exit 6', async () => {
    const refused: FetchLike = async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    };
    const err = await failure(new ApiClient(conn, refused));
    expect(err.exitCode).toBe(6);
    const text = formatError(err);
    expect(text).toContain('cannot reach the Gantry server at http://127.0.0.1:9 (ECONNREFUSED)');
    expect(text).toContain('npm start');
    expect(text).toContain('gantry server');
  });

  it('handles a non-JSON error page and a non-JSON success', async () => {
    const html = new ApiClient(conn, async () => new Response('<html>gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    const e1 = await failure(html);
    expect(e1.exitCode).toBe(6);
    expect(e1.message).toMatch(/HTTP 502 Bad Gateway/);
    const e2 = await failure(new ApiClient(conn, async () => new Response('hello', { status: 200 })));
    expect(e2.message).toMatch(/is http:\/\/127.0.0.1:9 a Gantry server/);
  });

  it('sends the bearer token and follows nextCursor until the list ends', async () => {
    const seen: string[] = [];
    const client = new ApiClient(conn, async (url, init) => {
      expect((init.headers as Record<string, string>).authorization).toBe('Bearer t');
      seen.push(url);
      const cursor = new URL(url).searchParams.get('cursor');
      return json(200, cursor ? { items: [3], nextCursor: null } : { items: [1, 2], nextCursor: 'c1' });
    });
    expect(await client.listAll<number>('/targets', { environment: 'prod' })).toEqual([1, 2, 3]);
    expect(seen).toEqual([
      'http://127.0.0.1:9/api/v1/targets?environment=prod&limit=500',
      'http://127.0.0.1:9/api/v1/targets?environment=prod&limit=500&cursor=c1',
    ]);
  });

  it('sends an Idempotency-Key on every POST and retries a lost or 503 answer with the same key', async () => {
    const keys: string[] = [];
    let n = 0;
    const flaky = new ApiClient(
      conn,
      async (_url, init) => {
        keys.push((init.headers as Record<string, string>)['idempotency-key'] ?? 'none');
        n++;
        if (n === 1) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
        if (n === 2) return json(503, { code: 'unavailable', detail: 'restarting' });
        if (n === 3) return json(409, { code: 'idempotency_key_in_use', detail: 'still running' });
        return json(201, { id: 'p1' });
      },
      { retryDelaysMs: [1, 1, 1] },
    );
    expect(await flaky.post('/promotions', { releaseId: '1' })).toEqual({ id: 'p1' });
    expect(keys).toHaveLength(4);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    // A second POST of the same client gets its own key.
    await flaky.post('/promotions', { releaseId: '2' });
    expect(keys[4]).not.toBe(keys[0]);
  });

  it('uses --idempotency-key for the first POST and derived keys after it; other refusals are not retried', async () => {
    const keys: string[] = [];
    const client = new ApiClient(
      conn,
      async (_url, init) => {
        keys.push((init.headers as Record<string, string>)['idempotency-key'] ?? 'none');
        return json(409, { code: 'promotion_in_progress', detail: 'busy' });
      },
      { idempotencyKey: 'release-42', retryDelaysMs: [1, 1, 1] },
    );
    await expect(client.post('/promotions', {})).rejects.toMatchObject({ exitCode: 5 });
    await expect(client.post('/promotions/x/approve', {})).rejects.toMatchObject({ exitCode: 5 });
    await expect(client.get('/promotions')).rejects.toMatchObject({ exitCode: 5 });
    expect(keys).toEqual(['release-42', 'release-42.2', 'none']);
  });
});
