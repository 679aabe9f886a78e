// The outbound door on its own: the address policy, the allow list, the connect-time check (with an
// injected resolver to simulate DNS rebinding), redirects, size and time bounds. Only loopback servers
// are contacted; forbidden addresses must be refused before any socket is opened (the onConnect spy).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbound, OutboundRefusedError, OutboundTooLargeError, type Resolver, readCapped } from './outbound.js';
import { forbiddenReason, parseAllowList } from './outbound-policy.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(host: string, handler: Handler): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url} auth=${req.headers.authorization ?? ''}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}`, hits };
}

describe('address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'unique-local'],
    ['fc12:3456::1', 'unique-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped form of 127.0.0.1, a loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped form of 127.0.0.1, a loopback'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped form of 169.254.169.254, a link-local'],
    ['::ffff:10.0.0.1', 'IPv4-mapped form of 10.0.0.1, a private'],
    ['64:ff9b::7f00:1', 'NAT64 form of 127.0.0.1'],
    ['2002:a9fe:a9fe::1', '6to4 form of 169.254.169.254'],
  ])('%s is refused as %s', (address, rule) => {
    expect(forbiddenReason(address)).toContain(rule);
  });

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '1.1.1.1'])('%s is public', (address) => {
    expect(forbiddenReason(address)).toBeUndefined();
  });

  it('parses the allow list and names a bad entry', () => {
    const rules = parseAllowList(['10.0.0.0/8', ' vault.internal:8200 ', '[fd00::1]:443', '192.168.1.5', 'fd00::/8', '']);
    expect(rules.map((r) => [r.kind, r.port])).toEqual([
      ['cidr', undefined],
      ['host', 8200],
      ['cidr', 443],
      ['cidr', undefined],
      ['cidr', undefined],
    ]);
    expect(() => parseAllowList(['10.0.0.0/33'])).toThrow(/GANTRY_OUTBOUND_ALLOW: "10.0.0.0\/33"/);
    expect(() => parseAllowList(['host:99999'])).toThrow(/port/);
    expect(() => parseAllowList(['not a host'])).toThrow(/not a hostname/);
  });
});

describe('the door', () => {
  const connects: string[] = [];
  const spy = { onConnect: (t: { address: string; port: number }) => connects.push(`${t.address}:${t.port}`) };
  let deny: Outbound;
  let target: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    deny = new Outbound(spy);
    target = await listen('127.0.0.1', (_req, res) => res.end('internal answer'));
  });
  afterAll(async () => {
    await deny.close();
    target.server.close();
  });

  it.each([
    ['loopback literal', () => target.url, 'loopback'],
    ['localhost', () => target.url.replace('127.0.0.1', 'localhost'), 'loopback'],
    ['[::1]', () => 'http://[::1]:8080/', 'loopback'],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['private 10.x', () => 'http://10.20.30.40:8080/', 'private'],
    ['mapped IPv6', () => 'http://[::ffff:127.0.0.1]:8080/', 'IPv4-mapped'],
    ['decimal IPv4', () => 'http://2130706433:8080/', 'loopback'],
    ['hex IPv4', () => 'http://0xa9.0xfe.0xa9.0xfe/', 'link-local'],
  ])('refuses %s before connecting, naming the rule and the setting', async (_what, url, rule) => {
    connects.length = 0;
    const err = await deny.fetch(url()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundRefusedError);
    expect((err as OutboundRefusedError).status).toBe(422);
    expect((err as Error).message).toContain(rule);
    expect((err as Error).message).toContain('GANTRY_OUTBOUND_ALLOW=');
    expect(connects).toEqual([]);
    expect(target.hits).toEqual([]);
  });

  it('never puts URL credentials or the path into the refusal', async () => {
    const err = (await deny.fetch('http://robot:s3cr3t-pw@10.0.0.7:8080/hooks/T0/s3cr3t-path').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(OutboundRefusedError);
    expect(err.message).not.toMatch(/s3cr3t|robot/);
    const named = (await deny.fetch('http://robot:s3cr3t-pw@hooks.example.com/s3cr3t-path').catch((e: unknown) => e)) as Error;
    expect(named).toBeInstanceOf(OutboundRefusedError);
    expect(named.message).not.toMatch(/s3cr3t|robot/);
  });

  it('refuses non-http schemes', async () => {
    await expect(deny.fetch('file:///etc/passwd')).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  it('checks a name on every connection: a rebinding answer is refused (injected resolver)', async () => {
    // 127.0.0.2 stands in for a public address: allowed, and still on this machine.
    const pub = await listen('127.0.0.2', (_req, res) => {
      res.setHeader('connection', 'close');
      res.end('ok');
    });
    const answers = ['127.0.0.2', '127.0.0.1'];
    const resolve: Resolver = async () => [{ address: answers.shift() ?? '127.0.0.1', family: 4 }];
    const seen: string[] = [];
    const door = new Outbound({ allow: ['127.0.0.2/32'], resolve, onConnect: (t) => seen.push(t.address) });
    try {
      const port = new URL(pub.url).port;
      const first = await door.fetch(`http://rebind.test:${port}/`);
      expect(await first.text()).toBe('ok');
      const err = (await door.fetch(`http://rebind.test:${port}/`).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(OutboundRefusedError);
      expect(err.message).toContain('rebind.test resolves to 127.0.0.1');
      expect(seen).toEqual(['127.0.0.2']);
    } finally {
      await door.close();
      pub.server.close();
    }
  });

  it('connects only to a permitted address when a name resolves to several', async () => {
    const pub = await listen('127.0.0.2', (_req, res) => res.end('ok'));
    const seen: string[] = [];
    const door = new Outbound({
      allow: ['127.0.0.2/32'],
      resolve: async () => [
        { address: '10.0.0.9', family: 4 },
        { address: '127.0.0.2', family: 4 },
      ],
      onConnect: (t) => seen.push(t.address),
    });
    try {
      const res = await door.fetch(`http://multi.test:${new URL(pub.url).port}/`);
      expect(await res.text()).toBe('ok');
      expect(seen).toEqual(['127.0.0.2']);
    } finally {
      await door.close();
      pub.server.close();
    }
  });

  it('re-checks each redirect hop: allowed host → loopback is refused and the loopback server sees nothing', async () => {
    const internal = await listen('127.0.0.1', (_req, res) => res.end('secret'));
    const hop = await listen('127.0.0.2', (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${internal.url}/admin`);
      res.end();
    });
    const door = new Outbound({ allow: ['127.0.0.2/32'] });
    try {
      const err = (await door.fetch(`${hop.url}/start`).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(OutboundRefusedError);
      expect(err.message).toContain('127.0.0.1 is a loopback address');
      expect(hop.hits).toHaveLength(1);
      expect(internal.hits).toEqual([]);
    } finally {
      await door.close();
      hop.server.close();
      internal.server.close();
    }
  });

  it('follows permitted redirects, dropping Authorization across origins and stopping after the limit', async () => {
    const end = await listen('127.0.0.1', (_req, res) => res.end('landed'));
    const hop = await listen('127.0.0.2', (req, res) => {
      res.statusCode = req.url === '/loop' ? 307 : 303;
      res.setHeader('location', req.url === '/loop' ? '/loop' : `${end.url}/done`);
      res.end();
    });
    const door = new Outbound({ allow: ['127.0.0.0/8'] });
    try {
      const res = await door.fetch(`${hop.url}/go`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer t0ken' } });
      expect(await res.text()).toBe('landed');
      expect(hop.hits).toEqual(['POST /go auth=Bearer t0ken']);
      expect(end.hits).toEqual(['GET /done auth=']);
      await expect(door.fetch(`${hop.url}/loop`, { maxRedirects: 3 })).rejects.toThrow(/redirected more than 3 times/);
    } finally {
      await door.close();
      hop.server.close();
      end.server.close();
    }
  });

  it('cuts an oversized answer, declared or streamed', async () => {
    const big = await listen('127.0.0.1', (req, res) => {
      if (req.url === '/declared') res.setHeader('content-length', String(2 * 1024 * 1024));
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let sent = 0;
      const more = () => {
        while (sent < 2 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const door = new Outbound({ allow: ['127.0.0.0/8'] });
    try {
      await expect(door.fetch(`${big.url}/declared`, { maxBytes: 1024 * 1024 })).rejects.toBeInstanceOf(OutboundTooLargeError);
      const streamed = await door.fetch(`${big.url}/chunked`, { maxBytes: 1024 * 1024 });
      await expect(streamed.text()).rejects.toBeInstanceOf(OutboundTooLargeError);
      const capped = await readCapped(await door.fetch(`${big.url}/chunked`, { maxBytes: 4 * 1024 * 1024 }), 1000);
      expect(capped).toEqual({ text: 'a'.repeat(1000), truncated: true });
    } finally {
      await door.close();
      big.server.close();
    }
  });

  it('cuts a slow answer at its time bound, headers or body', async () => {
    const slow = await listen('127.0.0.1', (req, res) => {
      if (req.url === '/body') res.write('partial');
      // never ends: the door's timeout must
    });
    const door = new Outbound({ allow: ['127.0.0.0/8'] });
    try {
      await expect(door.fetch(`${slow.url}/headers`, { timeoutMs: 300 })).rejects.toMatchObject({ name: 'TimeoutError' });
      const res = await door.fetch(`${slow.url}/body`, { timeoutMs: 300 });
      await expect(res.text()).rejects.toMatchObject({ name: 'TimeoutError' });
    } finally {
      await door.close();
      slow.server.closeAllConnections();
      slow.server.close();
    }
  });

  it('HTTPS to a checked address still verifies the certificate against the name, not the IP', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gantry-outbound-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '1',
        '-subj',
        '/CN=tls.test',
        '-addext',
        'subjectAltName=DNS:tls.test',
      ],
      { cwd: dir, stdio: 'pipe' },
    );
    const cert = readFileSync(path.join(dir, 'cert.pem'));
    const server = createHttpsServer({ key: readFileSync(path.join(dir, 'key.pem')), cert }, (req, res) =>
      res.end(`hello ${req.headers.host}`),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const door = new Outbound({ allow: ['127.0.0.1/32'], ca: cert, resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    try {
      expect(await (await door.fetch(`https://tls.test:${port}/`)).text()).toBe(`hello tls.test:${port}`);
      const wrong = (await door.fetch(`https://other.test:${port}/`).catch((e: unknown) => e)) as { cause?: { code?: string } };
      expect(wrong.cause?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await door.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checkUrl refuses forbidden literals on save, naming the field, and lets names and allowed addresses through', () => {
    const err = (() => {
      try {
        deny.checkUrl('http://169.254.169.254/latest', 'body.config.url');
      } catch (e) {
        return e as OutboundRefusedError;
      }
    })();
    expect(err).toBeInstanceOf(OutboundRefusedError);
    expect(err?.fields).toEqual([{ path: 'body.config.url', message: expect.stringContaining('link-local') }]);
    expect(err?.message).toContain('GANTRY_OUTBOUND_ALLOW=169.254.169.254:80');
    expect(() => deny.checkUrl('http://localhost:9000/', 'f')).toThrow(/loopback/);
    expect(() => deny.checkUrl('http://[::1]:9000/', 'f')).toThrow(/loopback/);
    expect(() => deny.checkUrl('http://10.1.1.1/', 'f')).toThrow(/private/);
    expect(() => deny.checkUrl('https://hooks.example.com/x', 'f')).not.toThrow();
    expect(() => deny.checkUrl('http://8.8.8.8/', 'f')).not.toThrow();
    const allowing = new Outbound({ allow: ['10.0.0.0/8', 'localhost:9000'] });
    expect(() => allowing.checkUrl('http://10.1.1.1/', 'f')).not.toThrow();
    expect(() => allowing.checkUrl('http://localhost:9000/', 'f')).not.toThrow();
    expect(() => allowing.checkUrl('http://localhost:9001/', 'f')).toThrow(/loopback/);
    void allowing.close();
  });
});

describe('one door', () => {
  // The door's own files, and the clients of the server (CLI, agent) which are not the server's requests.
  const ALLOWED = new Set(['src/http/outbound.ts']);
  const CLIENTS = ['src/cli/', 'src/agent/'];

  function files(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = path.join(dir, f);
      if (statSync(p).isDirectory()) return files(p);
      return /\.ts$/.test(f) && !/\.test\.ts$/.test(f) ? [p] : [];
    });
  }

  it('no server module calls fetch, undici or node:http(s) requests except through src/http/outbound.ts', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const offenders: string[] = [];
    for (const file of files(path.join(root, 'src'))) {
      const rel = path.relative(root, file).split(path.sep).join('/');
      if (ALLOWED.has(rel) || CLIENTS.some((c) => rel.startsWith(c))) continue;
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        // Comments, and definitions of a method named fetch (the plugin runner's host.fetch), are not calls.
        const code = line.replace(/\/\/.*$/, '').replace(/\b(async|function)\s+fetch\(/g, '');
        if (/(^|[^.\w])fetch\(|\bundici\b|\bhttps?\.(request|get)\(|from 'node:https?'/.test(code))
          offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
