// Issue 13, defect 4: NUL and lone surrogates in a path id, a query value or a JSON string are refused with
// a 400 problem document naming the field, over HTTP, instead of reaching PostgreSQL and answering 500.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/types.js';
import { buildApp } from '../../src/server.js';
import { bootstrap } from '../../src/tenancy/service.js';
import { createTestDb } from '../helpers.js';

let app: App;
let base: string;
let token: string;

beforeAll(async () => {
  const t = await createTestDb();
  token = (await bootstrap(t.db)).token!;
  app = await buildApp({ db: t.db, logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterAll(() => app?.close());

async function send(method: string, path: string, body?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, any> };
}

function expectRefused(r: Awaited<ReturnType<typeof send>>, path: string, what: RegExp) {
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  expect(r.type).toMatch(/^application\/problem\+json/);
  expect(r.body.code).toBe('validation_failed');
  expect(r.body.errors).toEqual([{ path, message: expect.stringMatching(what) }]);
  expect(r.body.detail).toContain(path);
}

describe('input hygiene over HTTP', () => {
  it('refuses the three requests of the defect with 400 naming the field', async () => {
    expectRefused(await send('GET', '/api/v1/environments/%00'), 'params.ref', /NUL/);
    expectRefused(await send('GET', '/api/v1/releases/diff?from=%00&to=b'), 'querystring.from', /NUL/);
    expectRefused(await send('POST', '/api/v1/drift/check', '{"environment":"\\u0000"}'), 'body.environment', /NUL/);
  });

  it('refuses lone surrogates from JSON escapes, at any depth and in keys', async () => {
    expectRefused(await send('POST', '/api/v1/drift/check', '{"environment":"prod\\ud800"}'), 'body.environment', /surrogate/);
    expectRefused(await send('POST', '/api/v1/drift/check', '{"environment":"\\udc00x"}'), 'body.environment', /surrogate/);
    const deep = await send('POST', '/api/v1/integrations', '{"name":"i","typeId":"webhook","config":{"a":[{"b":"x\\u0000"}]}}');
    expectRefused(deep, 'body.config.a.0.b', /NUL/);
    const key = await send('POST', '/api/v1/integrations', '{"name":"i","typeId":"webhook","config":{"k\\u0000":1}}');
    expectRefused(key, 'body.config["k\\u0000"]', /key contains a NUL/);
  });

  it('accepts well-formed text, including surrogate pairs (emoji) and non-Latin scripts', async () => {
    const r = await send('POST', '/api/v1/environments', JSON.stringify({ name: 'staging', displayName: 'Stufe 🚀 ステージ' }));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.displayName).toBe('Stufe 🚀 ステージ');
    expect((await send('GET', '/api/v1/releases/diff?from=%F0%9F%9A%80&to=b')).status).toBe(404);
  });

  it('refuses nesting deeper than 64 levels before any handler', async () => {
    const r = await send(
      'POST',
      '/api/v1/integrations',
      `{"name":"i","typeId":"webhook","config":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
    );
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
    expect(r.body.errors[0].message).toMatch(/nested deeper than 64 levels/);
  });

  it('answers a URL that is not valid UTF-8 with a problem document', async () => {
    const r = await send('GET', '/api/v1/environments/%ED%A0%80');
    expect(r.status).toBe(400);
    expect(r.type).toMatch(/^application\/problem\+json/);
    expect(r.body.code).toBe('invalid_url');
  });

  it('answers headers larger than the parser accepts with a problem document', async () => {
    const res = await fetch(`${base}/api/v1/environments?q=${'x'.repeat(20_000)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe('headers_too_large');
  });

  it('refuses a forged list cursor carrying a NUL', async () => {
    const cursor = Buffer.from(JSON.stringify([1, '\u0000']), 'utf8').toString('base64url');
    const r = await send('GET', `/api/v1/environments?cursor=${cursor}`);
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ path: 'querystring.cursor', message: 'invalid cursor' }]);
  });

  it('still refuses strangers before looking at the input', async () => {
    const res = await fetch(`${base}/api/v1/environments/%00`);
    expect(res.status).toBe(401);
  });
});
