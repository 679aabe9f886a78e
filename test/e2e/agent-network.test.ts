// e2e: agents in real networks and TLS operations, with real `gantry server` and `gantry agent run`
// processes over HTTPS with mutual TLS (certificates made with openssl). An agent whose only way to the
// server is an HTTP CONNECT proxy (the server's host name resolves nowhere but in the proxy) registers,
// heartbeats and completes a deployment through it with its client certificate; NO_PROXY sends another
// agent straight past the proxy. The server's certificate files are replaced while it runs: new
// connections get the new certificate, same process. An agent revoked through one replica is refused by
// the replica it talks to within seconds and stops; its certificate cannot register again.
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { CLIENT_EXT, makeCa, SERVER_EXT, type TestCa } from './certs.js';
import { childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry } from './support.js';

const T = 180_000;
/** The server's name for agents behind the proxy: only the proxy knows where it is. */
const HIDDEN_HOST = 'gantry.internal.test';

/** A real forward proxy for HTTPS: HTTP CONNECT tunnels (counted), with its own view of host names. */
async function connectProxy(hosts: Record<string, string>) {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(405).end('CONNECT only\n');
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    const [host = '', port = '443'] = (req.url ?? '').split(':');
    tunnels.push(`${host}:${port}`);
    const upstream = net.connect(Number(port), hosts[host] ?? host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Serial of the certificate a new TLS connection to the server is given. */
const servedSerial = (port: number, ca: string) =>
  new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.once('error', reject);
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agents through proxies, certificate renewal and revocation over mutual TLS', () => {
  let dir: string;
  let ca: TestCa;
  let caPem: string;
  let dbUrl: string;
  let port: number;
  let base: string;
  let server: GantryProcess;
  let trusting: Agent;
  let proxy: Awaited<ReturnType<typeof connectProxy>>;
  const token = `gty_${randomBytes(32).toString('base64url')}`;
  const live = { cert: '', key: '' };

  // any: the API's JSON answers
  const call = async (
    method: string,
    url: string,
    body?: unknown,
    opts: { base?: string; headers?: Record<string, string>; dispatcher?: Agent } = {},
  ) => {
    const res = await fetch(`${opts.base ?? base}${url}`, {
      method,
      headers: {
        ...(opts.headers ?? { authorization: `Bearer ${token}` }),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      dispatcher: opts.dispatcher ?? trusting,
    });
    const parsed: any = await res.json().catch(() => undefined);
    return { status: res.status, body: parsed };
  };

  const serverEnv = (p: number) =>
    childEnv({
      DATABASE_URL: dbUrl,
      GANTRY_BOOTSTRAP_TOKEN: token,
      GANTRY_PORT: String(p),
      GANTRY_DATA_DIR: path.join(dir, `data-${p}`),
      GANTRY_TLS_CERT_FILE: live.cert,
      GANTRY_TLS_KEY_FILE: live.key,
      GANTRY_TLS_CLIENT_CA_FILE: ca.ca,
      GANTRY_AGENT_HEARTBEAT_SECONDS: '0.5',
      GANTRY_AGENT_POLL_SECONDS: '0.5',
      GANTRY_ENGINE: 'off',
    });

  const waitReady = async (p: GantryProcess, url: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (p.child.exitCode !== null) throw new Error(`gantry server exited with ${p.child.exitCode}:\n${p.stderr()}`);
      const ready = await call('GET', '/readyz', undefined, { base: url }).catch(() => undefined);
      if (ready?.status === 200) return;
      if (Date.now() > deadline) throw new Error(`gantry server was not ready at ${url}:\n${p.stderr()}`);
      await sleep(200);
    }
  };

  /** Agent process env: no proxy settings of this machine leak in; `extra` sets the test's. */
  const agentEnv = (extra: Record<string, string>) => {
    const env = childEnv(extra);
    for (const k of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy']) if (!(k in extra)) delete env[k];
    return env;
  };

  const joinToken = async () => {
    const j = await call('POST', '/api/v1/agents/tokens', {});
    expect(j.status).toBe(201);
    return j.body.token as string;
  };

  const startAgent = async (name: string, server: string, cert: { cert: string; key: string }, env: Record<string, string>) =>
    spawnGantry(
      [
        'agent',
        'run',
        '--server',
        server,
        '--ca',
        ca.ca,
        '--cert',
        cert.cert,
        '--key',
        cert.key,
        '--join-token',
        await joinToken(),
        '--name',
        name,
        '--state-dir',
        path.join(dir, `agent-${name}`),
        '--executor',
        'docker_host',
        '--noop',
      ],
      agentEnv({ GANTRY_AGENT_NOOP_DIR: path.join(dir, `noop-${name}`), ...env }),
    );

  /** Waits until the agent is online with `beats` distinct heartbeats seen. */
  const heartbeats = async (name: string, agent: GantryProcess, beats = 2) => {
    const seen: string[] = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && seen.length < beats && agent.child.exitCode === null) {
      const a = (await call('GET', `/api/v1/agents/${name}`)).body;
      if (a?.status === 'online' && a.lastHeartbeat && !seen.includes(a.lastHeartbeat)) seen.push(a.lastHeartbeat);
      await sleep(150);
    }
    return seen.length;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-net-'));
    ca = makeCa(dir);
    caPem = await readFile(ca.ca, 'utf8');
    const first = await ca.leaf('server-1', HIDDEN_HOST, SERVER_EXT(`DNS:${HIDDEN_HOST}`, 'IP:127.0.0.1'));
    live.cert = path.join(dir, 'live-cert.pem');
    live.key = path.join(dir, 'live-key.pem');
    await copyFile(first.cert, live.cert);
    await copyFile(first.key, live.key);
    trusting = new Agent({ connect: { ca: caPem } });
    dbUrl = (await createTestDb()).url;
    port = await freePort();
    base = `https://127.0.0.1:${port}`;
    server = spawnGantry(['server'], serverEnv(port));
    await waitReady(server, base);
    proxy = await connectProxy({ [HIDDEN_HOST]: '127.0.0.1' });
    expect((await call('POST', '/api/v1/components', { name: 'app', imageRepository: 'r.example.com/app' })).status).toBe(201);
  }, T);

  afterAll(async () => {
    await proxy?.close();
    await trusting?.close();
    await killAll();
  }, T);

  it(
    'an agent that can reach the server only through an HTTP CONNECT proxy registers, heartbeats and deploys, with its client certificate',
    async () => {
      const cert = await ca.leaf('agent-proxy', 'edge-proxy', CLIENT_EXT);
      const before = proxy.tunnels.length;
      // The host name does not resolve here: without the proxy the agent could not connect at all.
      const agent = await startAgent('edge-proxy', `https://${HIDDEN_HOST}:${port}`, cert, { HTTPS_PROXY: proxy.url });
      try {
        expect(await heartbeats('edge-proxy', agent), agent.stderr()).toBeGreaterThanOrEqual(2);
        expect(proxy.tunnels.length).toBeGreaterThan(before);
        expect(new Set(proxy.tunnels.slice(before))).toEqual(new Set([`${HIDDEN_HOST}:${port}`]));
        expect(agent.stderr()).toContain(`proxy settings for the server connection: HTTPS_PROXY ${proxy.url}`);
        // Mutual TLS ran inside the tunnel: the server recorded the agent's client certificate.
        const fingerprint = new X509Certificate(await readFile(cert.cert)).fingerprint256.replace(/:/g, '').toLowerCase();
        const got = await call('GET', '/api/v1/agents/edge-proxy');
        expect(got.body.certificates).toEqual([expect.objectContaining({ fingerprint: `sha256:${fingerprint}`, revokedAt: null })]);

        // A deployment to a target pinned to this agent completes: lease, start, logs and report through the proxy.
        const env = await call('POST', '/api/v1/environments', { name: 'behind-proxy' });
        const target = await call('POST', '/api/v1/targets', {
          name: 'web-proxy',
          environmentId: env.body.id,
          targetType: 'docker_host',
          connection: { dockerHost: 'unix:///nowhere.sock' },
          labels: { agent: 'edge-proxy' },
        });
        expect(target.status, JSON.stringify(target.body)).toBe(201);
        const rel = await call('POST', '/api/v1/releases', {
          name: 'proxied-1',
          components: [{ component: 'app', digest: `sha256:${'d'.repeat(64)}` }],
        });
        expect((await call('POST', `/api/v1/releases/${rel.body.id}/ready`)).status).toBe(200);
        const job = await call('POST', '/api/v1/deployments', { releaseId: rel.body.id, environmentId: env.body.id });
        expect(job.status, JSON.stringify(job.body)).toBe(201);
        let status = '';
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && !['succeeded', 'failed'].includes(status)) {
          status = (await call('GET', `/api/v1/deployments/${job.body.id}`)).body.status;
          await sleep(200);
        }
        expect(status, agent.stderr()).toBe('succeeded');
      } finally {
        expect(await stopGantry(agent, 15_000)).toBe(0);
      }
    },
    T,
  );

  it(
    'NO_PROXY (lower-case forms too) sends the agent straight to the server, past the proxy',
    async () => {
      const cert = await ca.leaf('agent-direct', 'edge-direct', CLIENT_EXT);
      const before = proxy.tunnels.length;
      const agent = await startAgent('edge-direct', base, cert, { https_proxy: proxy.url, no_proxy: 'localhost,127.0.0.1' });
      try {
        expect(await heartbeats('edge-direct', agent), agent.stderr()).toBeGreaterThanOrEqual(2);
        expect(proxy.tunnels.length).toBe(before);
        expect(agent.stderr()).toContain('NO_PROXY localhost,127.0.0.1');
      } finally {
        expect(await stopGantry(agent, 15_000)).toBe(0);
      }
    },
    T,
  );

  it(
    'renewed certificate files are served to new connections within seconds, by the same server process',
    async () => {
      const pid = server.child.pid;
      const old = await servedSerial(port, caPem);
      const renewed = await ca.leaf('server-2', HIDDEN_HOST, SERVER_EXT(`DNS:${HIDDEN_HOST}`, 'IP:127.0.0.1'));
      const serial = new X509Certificate(await readFile(renewed.cert)).serialNumber;
      expect(serial).not.toBe(old);
      const t0 = Date.now();
      // As a renewal tool does: write the key, then the certificate (the server may see the pair half-written).
      await copyFile(renewed.key, live.key);
      await copyFile(renewed.cert, live.cert);
      let served = old;
      while (served !== serial && Date.now() - t0 < 5000) {
        await sleep(100);
        served = await servedSerial(port, caPem);
      }
      expect(served, server.stderr()).toBe(serial);
      const ms = Date.now() - t0;
      expect(ms).toBeLessThan(5000);
      process.stderr.write(`renewed certificate served after ${ms} ms\n`);
      expect(server.child.exitCode).toBeNull();
      expect(server.child.pid).toBe(pid);
      // The API still answers over the renewed certificate.
      expect((await call('GET', '/api/v1/agents')).status).toBe(200);
    },
    T,
  );

  it(
    'gantry agent revoke through one replica: the agent is refused by the other within seconds and stops; its certificate cannot register again',
    async () => {
      const port2 = await freePort();
      const base2 = `https://127.0.0.1:${port2}`;
      const replica = spawnGantry(['server'], serverEnv(port2));
      await waitReady(replica, base2);
      const cert = await ca.leaf('agent-revoke', 'edge-revoke', CLIENT_EXT);
      const agent = await startAgent('edge-revoke', base2, cert, {});
      expect(await heartbeats('edge-revoke', agent), agent.stderr()).toBeGreaterThanOrEqual(2);

      // Revoked through the first replica's API (the CLI's --certificate form is below).
      const revokedAt = Date.now();
      const revoked = await call('POST', '/api/v1/agents/edge-revoke/revoke', {});
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      expect(revoked.body.revokedAt).not.toBeNull();
      const fingerprint = new X509Certificate(await readFile(cert.cert)).fingerprint256.replace(/:/g, '').toLowerCase();
      expect(revoked.body.certificates).toEqual([
        expect.objectContaining({ fingerprint: `sha256:${fingerprint}`, revokedAt: expect.any(String) }),
      ]);

      // The agent, talking to the other replica, is refused and exits (auth exit code 3).
      const code = await new Promise<number | null>((resolve) => {
        if (agent.child.exitCode !== null) resolve(agent.child.exitCode);
        agent.child.once('exit', (c) => resolve(c));
        setTimeout(() => resolve(null), 10_000);
      });
      const ms = Date.now() - revokedAt;
      expect(code, agent.stderr()).toBe(3);
      expect(ms).toBeLessThan(5000);
      process.stderr.write(`revoked agent stopped ${ms} ms after the revocation request was sent\n`);
      expect(agent.stderr()).toMatch(/the server refused this agent: .*\((agent_revoked|agent_certificate_revoked)\); exiting/);

      // Its credential with its certificate: refused on both replicas, with the certificate's code (checked first).
      const stored = JSON.parse(await readFile(path.join(dir, 'agent-edge-revoke', 'agent.json'), 'utf8'));
      const withCert = new Agent({ connect: { ca: caPem, cert: await readFile(cert.cert), key: await readFile(cert.key) } });
      const other = await ca.leaf('agent-new', 'edge-new', CLIENT_EXT);
      const withNewCert = new Agent({ connect: { ca: caPem, cert: await readFile(other.cert), key: await readFile(other.key) } });
      try {
        for (const b of [base, base2]) {
          const lease = await call(
            'POST',
            `/api/v1/agents/${stored.agentId}/tasks/lease`,
            { max: 1 },
            {
              base: b,
              headers: { authorization: `Bearer ${stored.credential}` },
              dispatcher: withCert,
            },
          );
          expect(lease.status).toBe(403);
          expect(lease.body.code).toBe('agent_certificate_revoked');
        }
        // The same credential over another (valid) certificate: the agent itself is revoked.
        const hb = await call(
          'POST',
          `/api/v1/agents/${stored.agentId}/heartbeat`,
          { sessionId: 'x'.repeat(16) },
          {
            base: base2,
            headers: { authorization: `Bearer ${stored.credential}` },
            dispatcher: withNewCert,
          },
        );
        expect(hb.status).toBe(403);
        expect(hb.body.code).toBe('agent_revoked');

        // A fresh join token does not let the revoked certificate in under a new name; a new certificate can.
        const register = (dispatcher: Agent, jt: string, name: string) =>
          call(
            'POST',
            '/api/v1/agents/register',
            { name, capabilities: { executors: ['docker_host'] } },
            {
              base: base2,
              headers: { 'x-agent-token': jt },
              dispatcher,
            },
          );
        const jt = await joinToken();
        const again = await register(withCert, jt, 'edge-revoke-2');
        expect(again.status).toBe(403);
        expect(again.body.code).toBe('agent_certificate_revoked');
        expect(again.body.detail).toContain(`sha256:${fingerprint}`);
        const fresh = await register(withNewCert, jt, 'edge-new'); // the refused attempt did not spend the token
        expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);

        // `gantry agent revoke NAME --certificate FP` (openssl's form) revokes that certificate only.
        const opensslFp = `sha256 Fingerprint=${new X509Certificate(await readFile(other.cert)).fingerprint256}`;
        const cli = await runGantry(
          ['agent', 'revoke', 'edge-new', '--certificate', opensslFp],
          childEnv({
            GANTRY_SERVER: base,
            GANTRY_TOKEN: token,
            GANTRY_CA_FILE: ca.ca,
            GANTRY_CONFIG: path.join(dir, 'cli.json'),
            HOME: dir,
          }),
        );
        expect(cli.code, cli.stderr).toBe(0);
        expect(cli.stdout).toContain('client certificates:');
        const newFp = `sha256:${new X509Certificate(await readFile(other.cert)).fingerprint256.replace(/:/g, '').toLowerCase()}`;
        expect(cli.stdout).toContain(newFp);
        expect((await call('GET', '/api/v1/agents/edge-new')).body.revokedAt).toBeNull();
        const refusedNew = await call(
          'POST',
          `/api/v1/agents/${fresh.body.agentId}/heartbeat`,
          { sessionId: 'y'.repeat(16) },
          {
            base: base2,
            headers: { authorization: `Bearer ${fresh.body.credential}` },
            dispatcher: withNewCert,
          },
        );
        expect(refusedNew.status).toBe(403);
        expect(refusedNew.body.code).toBe('agent_certificate_revoked');
      } finally {
        await withCert.close();
        await withNewCert.close();
        await stopGantry(replica);
      }
    },
    T,
  );
});
