// e2e: a real `gantry server` serving HTTPS with a private CA and mutual TLS for agents. The CLI trusts
// the server through GANTRY_CA_FILE (and says clearly what is wrong without it); the agent protocol
// refuses a connection without a client certificate (401, before the join token is spent); an agent with
// --ca/--cert/--key registers and heartbeats. Certificates are made with openssl in a temp dir.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { CLIENT_EXT, makeCa, SERVER_EXT } from './certs.js';
import { childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry } from './support.js';

const T = 60_000;

/** A CA, a server certificate for 127.0.0.1 and an agent client certificate, all signed by the CA. */
async function makeCerts(dir: string) {
  const ca = makeCa(dir);
  const server = await ca.leaf('server', '127.0.0.1', SERVER_EXT('IP:127.0.0.1'));
  const agent = await ca.leaf('agent', 'edge-tls', CLIENT_EXT);
  return { ca: ca.ca, serverCert: server.cert, serverKey: server.key, agentCert: agent.cert, agentKey: agent.key };
}

describe('TLS: HTTPS server, CA for clients, mutual TLS for agents', () => {
  let dir: string;
  let certs: Awaited<ReturnType<typeof makeCerts>>;
  let server: GantryProcess;
  let base: string;
  let trusting: Agent;
  const token = `gty_${randomBytes(32).toString('base64url')}`;

  /** fetch over TLS trusting the test CA, optionally with the agent's client certificate. */
  const call = async (dispatcher: Agent, method: string, url: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      dispatcher,
    });
    // any: the API's JSON answers
    const parsed: any = await res.json().catch(() => undefined);
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: parsed };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-tls-'));
    certs = await makeCerts(dir);
    trusting = new Agent({ connect: { ca: await readFile(certs.ca, 'utf8') } });
    const { url } = await createTestDb();
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    server = spawnGantry(
      ['server', '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey],
      childEnv({
        DATABASE_URL: url,
        GANTRY_BOOTSTRAP_TOKEN: token,
        GANTRY_PORT: String(port),
        GANTRY_DATA_DIR: path.join(dir, 'data'),
        GANTRY_TLS_CLIENT_CA_FILE: certs.ca,
        GANTRY_AGENT_HEARTBEAT_SECONDS: '0.5',
        GANTRY_ENGINE: 'off',
      }),
    );
    const deadline = Date.now() + T;
    for (;;) {
      if (server.child.exitCode !== null) throw new Error(`gantry server exited with ${server.child.exitCode}:\n${server.stderr()}`);
      const ready = await call(trusting, 'GET', '/readyz', {}).catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`gantry server was not ready at ${base}:\n${server.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, T);

  afterAll(async () => {
    await trusting?.close();
    await killAll();
  }, T);

  const cli = (extra: Record<string, string>) =>
    childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token, GANTRY_CONFIG: path.join(dir, 'cli.json'), HOME: dir, ...extra });

  it('a missing certificate file stops the server at start, naming the file', async () => {
    const missing = path.join(dir, 'nope.pem');
    const r = await runGantry(
      ['server', '--tls-cert', missing, '--tls-key', certs.serverKey],
      childEnv({ GANTRY_PORT: '0', GANTRY_DATA_DIR: path.join(dir, 'data-x') }),
      20_000,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`cannot read the TLS certificate (GANTRY_TLS_CERT_FILE) ${missing}: ENOENT`);
  });

  it('the CLI works over https with GANTRY_CA_FILE, and says what is wrong without it (exit 6)', async () => {
    const ok = await runGantry(['env', 'list', '--json'], cli({ GANTRY_CA_FILE: certs.ca }));
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(Array.isArray(JSON.parse(ok.stdout))).toBe(true);

    const untrusted = await runGantry(['env', 'list'], cli({}));
    expect(untrusted.code).toBe(6);
    expect(untrusted.stderr).toContain(`cannot verify the TLS certificate of the Gantry server at ${base}`);
    expect(untrusted.stderr).toContain('GANTRY_CA_FILE');

    const badCa = await runGantry(['env', 'list'], cli({ GANTRY_CA_FILE: path.join(dir, 'missing-ca.pem') }));
    expect(badCa.code).toBe(2);
    expect(badCa.stderr).toContain(`cannot read the CA bundle ${path.join(dir, 'missing-ca.pem')} (GANTRY_CA_FILE)`);
  });

  it(
    'agent routes refuse a connection without a client certificate; an agent with --ca/--cert/--key registers and heartbeats',
    async () => {
      const auth = { authorization: `Bearer ${token}` };
      const join = await call(trusting, 'POST', '/api/v1/agents/tokens', auth, {});
      expect(join.status).toBe(201);

      // Without a client certificate: 401 with a problem document, and the join token is not spent.
      const refused = await call(
        trusting,
        'POST',
        '/api/v1/agents/register',
        { 'x-agent-token': join.body.token },
        {
          name: 'edge-tls',
          version: '0.1.0',
          capabilities: { executors: ['docker_host'] },
        },
      );
      expect(refused.status, server.stderr()).toBe(401);
      expect(refused.contentType).toContain('application/problem+json');
      expect(refused.body.code).toBe('client_certificate_required');
      expect(refused.body.detail).toContain('--cert');
      const heartbeatRefused = await call(trusting, 'POST', `/api/v1/agents/${randomUUID()}/heartbeat`, auth, {});
      expect(heartbeatRefused.status).toBe(401);
      expect(heartbeatRefused.body.code).toBe('client_certificate_required');

      // A new connection that resumes an earlier TLS session (which never had a client certificate) is
      // still refused: Node reports such a resumed TLS 1.3 session as "authorized".
      const tlsAgent = new https.Agent({ ca: await readFile(certs.ca, 'utf8'), keepAlive: false });
      const post = (url: string) =>
        new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
          const req = https.request(
            `${base}${url}`,
            { method: 'POST', agent: tlsAgent, headers: { 'content-type': 'application/json' } },
            (res) => {
              res.resume();
              resolve({ status: res.statusCode ?? 0, reused: (res.socket as import('node:tls').TLSSocket).isSessionReused() });
            },
          );
          req.once('error', reject);
          req.end('{}');
        });
      const first = await post(`/api/v1/agents/${randomUUID()}/heartbeat`);
      const resumed = await post(`/api/v1/agents/${randomUUID()}/heartbeat`);
      tlsAgent.destroy();
      expect(first).toEqual({ status: 401, reused: false });
      expect(resumed).toEqual({ status: 401, reused: true });

      // The agent process without --cert/--key is refused the same way and exits non-zero.
      const noCert = await runGantry(
        [
          'agent',
          'run',
          '--server',
          base,
          '--ca',
          certs.ca,
          '--join-token',
          join.body.token,
          '--state-dir',
          path.join(dir, 'agent-x'),
          '--noop',
        ],
        childEnv({}),
        20_000,
      );
      expect(noCert.code).not.toBe(0);
      expect(noCert.stderr).toContain('client certificate');

      // The user API still works without a client certificate (the server only asks for one).
      expect((await call(trusting, 'GET', '/api/v1/agents', auth)).status).toBe(200);

      const agent = spawnGantry(
        [
          'agent',
          'run',
          '--server',
          base,
          '--ca',
          certs.ca,
          '--cert',
          certs.agentCert,
          '--key',
          certs.agentKey,
          '--join-token',
          join.body.token,
          '--name',
          'edge-tls',
          '--state-dir',
          path.join(dir, 'agent'),
          '--noop',
        ],
        childEnv({}),
      );
      try {
        const seen: string[] = [];
        const deadline = Date.now() + 20_000;
        // online, and at least two heartbeats (the first one at start, then the timer's).
        while (Date.now() < deadline) {
          const list = await call(trusting, 'GET', '/api/v1/agents', auth);
          const a = list.body.items.find((x: { name: string }) => x.name === 'edge-tls');
          if (a?.status === 'online' && a.lastHeartbeat && !seen.includes(a.lastHeartbeat)) seen.push(a.lastHeartbeat);
          if (seen.length >= 2) break;
          if (agent.child.exitCode !== null) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(agent.stderr()).toContain('registered as edge-tls');
        expect(seen.length, agent.stderr()).toBeGreaterThanOrEqual(2);
      } finally {
        expect(await stopGantry(agent, 10_000)).toBe(0);
      }
      expect(await stopGantry(server)).toBe(0);
    },
    T,
  );
});
