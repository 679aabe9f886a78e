// The OCI client against a real registry (Debian's docker-registry: plain and htpasswd), and against a
// FAKE HTTP server only for what that registry cannot be made to do: omit Docker-Content-Digest, and
// challenge with Bearer tokens.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackOutbound } from '../../test/helpers.js';
import {
  pushImage,
  pushIndex,
  registryDigest,
  registryToolsMissing,
  skopeoDigest,
  startRegistry,
  type TestRegistry,
} from '../../test/support/registry.js';
import { parseChallenge } from './auth.js';
import { nextLink, RegistryClient, repositoryName } from './client.js';

const skip = registryToolsMissing();

describe.skipIf(skip)('RegistryClient against a real registry', () => {
  let plain: TestRegistry;
  let secured: TestRegistry;
  beforeAll(async () => {
    [plain, secured] = await Promise.all([startRegistry(), startRegistry({ username: 'ci', password: 's3cret:pw' })]);
    await Promise.all([
      pushImage(plain, 'demo/api', '1.0.0'),
      pushImage(plain, 'demo/api', '1.1.0'),
      pushImage(plain, 'demo/api', '1.2.0'),
    ]);
    await pushImage(secured, 'demo/api', '1.0.0');
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), secured?.stop()]);
  });

  it('lists every tag across pages (Link header) and resolves tags to the digests the registry reports', async () => {
    const c = new RegistryClient({ fetch: loopbackOutbound().fetch, url: plain.url, insecure: true, pageSize: 1 });
    expect((await c.listTags('demo/api')).sort()).toEqual(['1.0.0', '1.1.0', '1.2.0']);
    for (const tag of ['1.0.0', '1.1.0', '1.2.0']) {
      const r = await c.resolve('demo/api', tag);
      expect(r.digest).toBe(await registryDigest(plain, 'demo/api', tag));
      expect(r.digest).toBe(await skopeoDigest(plain, 'demo/api', tag));
      expect(r.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    }
    await c.ping();
  });

  it('keeps the digest of an index, not of a platform manifest inside it', async () => {
    const c = new RegistryClient({ fetch: loopbackOutbound().fetch, url: plain.url, insecure: true });
    const indexDigest = await pushIndex(plain, 'demo/api', '1.0.0', 'multi');
    const r = await c.resolve('demo/api', 'multi');
    expect(r).toEqual({ digest: indexDigest, mediaType: 'application/vnd.oci.image.index.v1+json' });
    expect(r.digest).not.toBe(await registryDigest(plain, 'demo/api', '1.0.0'));
    expect((await c.resolve('demo/api', indexDigest)).digest).toBe(indexDigest);
  });

  it('names unknown repositories, tags and digests', async () => {
    const c = new RegistryClient({ fetch: loopbackOutbound().fetch, url: plain.url, insecure: true });
    await expect(c.listTags('demo/none')).rejects.toMatchObject({
      code: 'registry_not_found',
      status: 422,
      message: expect.stringMatching(/demo\/none/),
    });
    await expect(c.resolve('demo/api', '9.9.9')).rejects.toMatchObject({
      code: 'registry_not_found',
      message: expect.stringMatching(/"9\.9\.9"/),
    });
    await expect(c.resolve('demo/api', `sha256:${'0'.repeat(64)}`)).rejects.toMatchObject({ code: 'registry_not_found' });
  });

  it('authenticates with basic credentials, and refuses wrong or missing ones without revealing the password', async () => {
    const good = new RegistryClient({
      fetch: loopbackOutbound().fetch,
      url: secured.url,
      insecure: true,
      credential: { kind: 'basic', username: 'ci', password: 's3cret:pw' },
    });
    await good.ping();
    expect(await good.listTags('demo/api')).toEqual(['1.0.0']);
    expect((await good.resolve('demo/api', '1.0.0')).digest).toBe(await registryDigest(secured, 'demo/api', '1.0.0'));
    const wrong = new RegistryClient({
      fetch: loopbackOutbound().fetch,
      url: secured.url,
      insecure: true,
      credential: { kind: 'basic', username: 'ci', password: 'wrong-pw' },
    });
    const err = (await wrong.resolve('demo/api', '1.0.0').catch((e: unknown) => e)) as Error & { code: string; status: number };
    expect(err).toMatchObject({ code: 'registry_auth_failed', status: 422 });
    expect(err.message).toMatch(/refused the configured credentials/);
    expect(err.message).not.toMatch(/wrong-pw/);
    await expect(new RegistryClient({ fetch: loopbackOutbound().fetch, url: secured.url, insecure: true }).ping()).rejects.toMatchObject({
      code: 'registry_auth_failed',
      message: expect.stringMatching(/requires credentials/),
    });
  });

  it('refuses plain http unless insecure, and reports an unreachable registry as 502', async () => {
    expect(() => new RegistryClient({ fetch: loopbackOutbound().fetch, url: plain.url })).toThrow(/insecure/);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    await expect(
      new RegistryClient({ fetch: loopbackOutbound().fetch, url: `http://127.0.0.1:${port}`, insecure: true }).ping(),
    ).rejects.toMatchObject({
      code: 'registry_unreachable',
      status: 502,
      message: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});

describe('RegistryClient against a FAKE registry (edge cases the real one cannot produce)', () => {
  const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}');
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  let fake: Server;
  let url: string;
  const seen: { path: string; auth: string | undefined; method: string }[] = [];
  beforeAll(async () => {
    fake = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      seen.push({ path: u.pathname + u.search, auth: req.headers.authorization, method: req.method ?? '' });
      if (u.pathname === '/token') {
        const ok = req.headers.authorization === `Basic ${Buffer.from('bot:pw').toString('base64')}`;
        if (!ok) return res.writeHead(401).end();
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ token: `tok-${u.searchParams.get('scope')}` }));
      }
      if (u.pathname.startsWith('/v2/bearer/')) {
        if (req.headers.authorization !== 'Bearer tok-repository:bearer/app:pull') {
          return res.writeHead(401, { 'www-authenticate': `Bearer realm="${url}/token",service="fake-registry"` }).end();
        }
      }
      // No Docker-Content-Digest header: the client must GET and hash the bytes.
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => fake.close(r)));

  it('falls back to GET and SHA-256 of the manifest when Docker-Content-Digest is missing', async () => {
    const c = new RegistryClient({ fetch: loopbackOutbound().fetch, url, insecure: true });
    expect((await c.resolve('plain/app', '1.0.0')).digest).toBe(manifestDigest);
    expect(seen.filter((s) => s.path === '/v2/plain/app/manifests/1.0.0').map((s) => s.method)).toEqual(['HEAD', 'GET']);
  });

  it('answers a Bearer challenge with a token fetched with basic credentials, scoped to the repository', async () => {
    seen.length = 0;
    const c = new RegistryClient({
      fetch: loopbackOutbound().fetch,
      url,
      insecure: true,
      credential: { kind: 'basic', username: 'bot', password: 'pw' },
    });
    expect((await c.resolve('bearer/app', '1.0.0')).digest).toBe(manifestDigest);
    expect(seen.map((s) => [s.method, s.path, s.auth?.split(' ')[0]])).toEqual([
      ['HEAD', '/v2/bearer/app/manifests/1.0.0', undefined],
      ['GET', '/token?service=fake-registry&scope=repository%3Abearer%2Fapp%3Apull', 'Basic'],
      ['HEAD', '/v2/bearer/app/manifests/1.0.0', 'Bearer'],
      // the token is reused for the GET fallback: no second challenge
      ['GET', '/v2/bearer/app/manifests/1.0.0', 'Bearer'],
    ]);
    const wrong = new RegistryClient({
      fetch: loopbackOutbound().fetch,
      url,
      insecure: true,
      credential: { kind: 'basic', username: 'bot', password: 'nope' },
    });
    await expect(wrong.resolve('bearer/app', '1.0.0')).rejects.toMatchObject({
      code: 'registry_auth_failed',
      message: expect.stringMatching(/token service .* refused the configured credentials/),
    });
    seen.length = 0;
  });
});

describe('helpers', () => {
  it('parses challenges, Link headers and repository names', () => {
    expect(
      parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull' },
    });
    expect(parseChallenge('Basic realm="gantry-test"')).toEqual({ scheme: 'basic', params: { realm: 'gantry-test' } });
    expect(nextLink('</v2/demo/api/tags/list?last=1.0.0&n=1>; rel="next"', 'http://127.0.0.1:5000')).toBe(
      'http://127.0.0.1:5000/v2/demo/api/tags/list?last=1.0.0&n=1',
    );
    expect(nextLink('<https://evil.example.com/v2/x>; rel="next"', 'http://127.0.0.1:5000')).toBeUndefined();
    expect(repositoryName('127.0.0.1:5000/demo/api', 'http://127.0.0.1:5000')).toBe('demo/api');
    expect(repositoryName('demo/api', 'http://127.0.0.1:5000')).toBe('demo/api');
    expect(repositoryName('registry.example.com/shop/web', 'https://registry.example.com')).toBe('shop/web');
  });
});
