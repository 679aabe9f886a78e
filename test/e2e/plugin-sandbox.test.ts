// e2e: a hostile plugin on a real server. Its gates try to read the admin token and the evidence signing
// key, write outside its directory, run a program, start a worker, open a TCP connection and fetch from a
// server this test listens on. Each is refused, fails its own gate with the reason, and is logged by the
// server with the plugin's name; nothing reaches the listener or the disk. A well-behaved gate passes in
// the same promotion; a workflow step and a notification channel that try the same fail alone too;
// host.fetch reaches an allowed URL and is refused for a loopback and a link-local one; and (as root) the
// plugin runs as the unprivileged plugin user with no network interfaces.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { insertReadyRelease, NO_DEPLOY_TEMPLATE } from '../promotion-fixture.js';
import { startReceiver } from './plugin-fakes.js';
import { api, childEnv, freePort, killAll, REPO_ROOT, runGantry, spawnGantry, waitReady } from './support.js';

const T = 180_000;
const HOSTILE = path.join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'plugins', 'hostile');
const WINDOW = path.join(REPO_ROOT, 'examples', 'plugins', 'change-window');
const ALWAYS = { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], fromHour: 0, toHour: 24 };
const isRoot = process.getuid?.() === 0;

interface LogLine {
  msg: string;
  plugin?: string;
  permission?: string;
  resource?: string;
  api?: string;
  err?: string;
}

/** A loopback server that counts every TCP connection it gets: a plugin must reach it zero times. */
async function trap() {
  let connections = 0;
  const server = http.createServer((_req, res) => res.end('you should not see this'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    connections: () => connections,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('the plugin sandbox', () => {
  afterAll(() => killAll(), T);

  it(
    'refuses a hostile plugin each escape, fails only that gate, logs it with the plugin name, and leaves host.fetch working',
    async () => {
      const listener = await trap();
      const allowed = await startReceiver(200);
      const { db, url } = await createTestDb();
      const token = `gty_${randomBytes(32).toString('base64url')}`;
      const allowedHost = new URL(allowed.url).host;
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-sandbox-'));
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const proc = spawnGantry(
        ['server'],
        childEnv({
          DATABASE_URL: url,
          GANTRY_BOOTSTRAP_TOKEN: token,
          GANTRY_PORT: String(port),
          GANTRY_DATA_DIR: dataDir,
          GANTRY_OUTBOUND_ALLOW: allowedHost,
        }),
      );
      await waitReady(proc, base);
      const cli = (...args: string[]) => runGantry(args, childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token }));
      const call = (method: string, p: string, body?: unknown) => api(base, method, p, token, body);

      for (const dir of [HOSTILE, WINDOW]) {
        const r = await cli('plugin', 'install', dir, '--enable');
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/: active/);
      }
      expect((await cli('plugin', 'instance', 'create', 'hostile', '--config', '{}')).code).toBe(0);
      expect((await cli('plugin', 'instance', 'create', 'acme-window', '--config', '{}')).code).toBe(0);
      expect((await call('POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
      const hostile = (name: string, config: Record<string, unknown> = {}) => ({ id: `plugin.hostile.${name}`, config });
      const env = await call('POST', '/api/v1/environments', {
        name: 'dev',
        config: {
          promotionTemplate: 'promote-no-deploy',
          requirePreviousEnvironment: false,
          gates: [
            'release_status',
            { id: 'plugin.acme-window.change-window', config: ALWAYS },
            hostile('read-admin-token'),
            hostile('read-signing-key'),
            hostile('write-outside'),
            hostile('spawn'),
            hostile('worker'),
            hostile('connect', { port: listener.port }),
            hostile('fetch', { url: listener.url }),
            hostile('whoami'),
          ],
        },
      });
      expect(env.status, JSON.stringify(env.body)).toBe(201);
      const envFetch = await call('POST', '/api/v1/environments', {
        name: 'fetching',
        config: {
          promotionTemplate: 'promote-no-deploy',
          requirePreviousEnvironment: false,
          gates: [hostile('host-fetch', { url: `${allowed.url}/hook` })],
        },
      });
      expect(envFetch.status, JSON.stringify(envFetch.body)).toBe(201);
      const envLoopback = await call('POST', '/api/v1/environments', {
        name: 'loopback',
        config: {
          promotionTemplate: 'promote-no-deploy',
          requirePreviousEnvironment: false,
          gates: [hostile('host-fetch', { url: listener.url })],
        },
      });
      expect(envLoopback.status).toBe(201);
      const envMetadata = await call('POST', '/api/v1/environments', {
        name: 'metadata',
        config: {
          promotionTemplate: 'promote-no-deploy',
          requirePreviousEnvironment: false,
          gates: [hostile('host-fetch', { url: 'http://169.254.169.254/latest/meta-data/' })],
        },
      });
      expect(envMetadata.status).toBe(201);

      const release = await insertReadyRelease(db, (await call('GET', '/api/v1/whoami')).body.tenant.id);
      const promote = async (envId: string) => {
        const p = await call('POST', '/api/v1/promotions', { releaseId: release, targetEnvironmentId: envId, reason: 'e2e' });
        expect(p.status, JSON.stringify(p.body)).toBe(201);
        const deadline = Date.now() + 60_000;
        for (;;) {
          const cur = await call('GET', `/api/v1/promotions/${p.body.id}`);
          if (['deployed', 'rejected', 'failed'].includes(cur.body.status)) break;
          if (Date.now() > deadline) throw new Error(`promotion still ${cur.body.status}: ${cur.body.blockedReason}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const g = await call('GET', `/api/v1/promotions/${p.body.id}/gates`);
        expect(g.status).toBe(200);
        return Object.fromEntries(
          g.body.gates.map((x: { gate: string; status: string; reason: string; inputs: Record<string, unknown> }) => [x.gate, x]),
        );
      };

      const gates = await promote(env.body.id);
      const reason = (name: string) => {
        const g = gates[`plugin.hostile.${name}`];
        expect(g?.status, `${name}: ${JSON.stringify(g)}`).toBe('fail');
        return g.reason as string;
      };
      const tokenFile = path.join(dataDir, 'admin.token');
      const keyFile = path.join(dataDir, 'evidence-signing.key');
      expect(reason('read-admin-token')).toBe(
        `plugin hostile failed: sandbox refused fs.readFileSync: reading ${tokenFile} is refused: a plugin may read only its own package and its work directory ${path.join(dataDir, 'plugins', 'hostile', 'work')}`,
      );
      expect(reason('read-signing-key')).toMatch(
        new RegExp(`^plugin hostile failed: sandbox refused fs.promises.readFile: reading ${keyFile} is refused`),
      );
      expect(reason('write-outside')).toMatch(
        /^plugin hostile failed: sandbox refused fs.writeFileSync: writing .*written-by-plugin is refused: a plugin may write only in its work directory/,
      );
      expect(reason('spawn')).toBe(
        'plugin hostile failed: sandbox refused child_process.spawn: starting a process is refused: plugins may not run programs',
      );
      expect(reason('worker')).toBe(
        'plugin hostile failed: sandbox refused worker_threads.Worker: starting a worker thread is refused: plugins may not start workers',
      );
      expect(reason('connect')).toBe(
        `plugin hostile failed: sandbox refused net.Socket.connect: a connection to 127.0.0.1:${listener.port} is refused: plugins have no network; make HTTP requests with host.fetch (see docs/plugins.md)`,
      );
      expect(reason('fetch')).toBe(
        `plugin hostile failed: sandbox refused fetch: fetch ${listener.url} is refused: plugins have no network; make HTTP requests with host.fetch (see docs/plugins.md)`,
      );
      // The secrets are in no gate's answer, and nothing the plugin tried reached the listener or the disk.
      expect(JSON.stringify(gates)).not.toContain((await readFile(tokenFile, 'utf8')).trim());
      expect(listener.connections()).toBe(0);
      for (const f of ['written-by-plugin', 'spawned-by-plugin', 'worker-wrote']) expect(existsSync(path.join(dataDir, f)), f).toBe(false);

      // The well-behaved gates in the same promotion: the example passes, whoami uses its work directory.
      expect(gates['plugin.acme-window.change-window'].status).toBe('pass');
      expect(gates.release_status.status).toBe('pass');
      const who = gates['plugin.hostile.whoami'];
      expect(who.status, JSON.stringify(who)).toBe('pass');
      expect(who.inputs).toMatchObject({ note: 'mine', work: path.join(dataDir, 'plugins', 'hostile', 'work') });
      expect(who.inputs.env).toEqual(['GANTRY_PLUGIN_ID', 'GANTRY_PLUGIN_WORK_DIR', 'HOME', 'NODE_ENV', 'PATH']);
      if (isRoot) {
        // As root: the plugin user (nobody) and a network namespace with no interface up.
        expect([who.inputs.uid, who.inputs.gid]).toEqual([65534, 65534]);
        expect(who.inputs.interfaces).toEqual([]);
      }

      // A workflow step that hits the sandbox fails that step, with the reason.
      const tpl = await call('POST', '/api/v1/workflow-templates', {
        name: 'hostile-step',
        nodes: [{ id: 'escape', type: 'plugin.hostile.escape' }],
      });
      expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
      const started = await call('POST', '/api/v1/workflow-runs', { template: 'hostile-step', inputs: {} });
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      let run = started.body;
      for (const deadline = Date.now() + 60_000; !['succeeded', 'failed', 'cancelled'].includes(run.status); ) {
        if (Date.now() > deadline) throw new Error(`workflow run still ${run.status}`);
        await new Promise((r) => setTimeout(r, 200));
        run = (await call('GET', `/api/v1/workflow-runs/${started.body.id}`)).body;
      }
      expect(run.status).toBe('failed');
      const escapeStep = run.steps.find((x: { nodeId: string }) => x.nodeId === 'escape');
      expect(escapeStep.status).toBe('failed');
      expect(JSON.stringify(escapeStep)).toMatch(/sandbox refused fs.readFileSync: reading \/[^"]*admin.token is refused/);

      // host.fetch: the allowed URL is reached (through the server); loopback and link-local are refused.
      const fetched = await promote(envFetch.body.id);
      expect(fetched['plugin.hostile.host-fetch']).toMatchObject({ status: 'pass', inputs: { status: 200, body: '{"ok":true}' } });
      // (Gates may be evaluated more than once per promotion: every request is the plugin's.)
      expect(allowed.requests.length).toBeGreaterThan(0);
      for (const r of allowed.requests) expect([r.method, r.url, r.body]).toEqual(['POST', '/hook', 'hello from a plugin']);
      const loop = await promote(envLoopback.body.id);
      expect(loop['plugin.hostile.host-fetch'].reason).toBe(
        `plugin hostile failed: host.fetch refused 127.0.0.1:${listener.port}: it is a loopback address, which plugins may not reach; an operator allows it with GANTRY_OUTBOUND_ALLOW=127.0.0.1:${listener.port}`,
      );
      const meta = await promote(envMetadata.body.id);
      expect(meta['plugin.hostile.host-fetch'].reason).toMatch(
        /^plugin hostile failed: host.fetch refused 169.254.169.254: it is a link-local address/,
      );
      expect(listener.connections()).toBe(0);

      // The server logged every refusal with the plugin's name and what was refused.
      const lines: LogLine[] = proc
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      const refusals = lines
        .filter((l) => l.msg.startsWith('plugin sandbox refused hostile') && l.plugin === 'hostile')
        .map((l) => [l.permission, l.api, l.resource]);
      expect(refusals).toEqual(
        expect.arrayContaining([
          ['FileSystemRead', 'fs.readFileSync', tokenFile],
          ['FileSystemRead', 'fs.promises.readFile', keyFile],
          ['FileSystemWrite', 'fs.writeFileSync', path.join(dataDir, 'written-by-plugin')],
          ['ChildProcess', 'child_process.spawn', ''],
          ['WorkerThreads', 'worker_threads.Worker', ''],
          ['Network', 'net.Socket.connect', `a connection to 127.0.0.1:${listener.port}`],
          ['Network', 'fetch', `fetch ${listener.url}`],
        ]),
      );
      // The notification channel that tried the same: each delivery failed alone, and was logged.
      const notDelivered = lines.filter((l) => l.msg === 'plugin notification not delivered' && l.plugin === 'hostile');
      expect(notDelivered.length).toBeGreaterThan(0);
      for (const l of notDelivered)
        expect(l.err).toMatch(/^plugin hostile failed: sandbox refused fs.promises.readFile: reading .*admin.token is refused/);
      const hostCalls = lines.filter((l) => l.msg === 'plugin host call of hostile failed' && l.plugin === 'hostile').map((l) => l.err);
      expect(hostCalls.some((e) => e?.startsWith(`host.fetch refused 127.0.0.1:${listener.port}:`))).toBe(true);
      expect(hostCalls.some((e) => e?.startsWith('host.fetch refused 169.254.169.254:'))).toBe(true);

      // The server is fine.
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(proc.child.exitCode).toBeNull();
      await listener.close();
      await allowed.close();
    },
    T,
  );
});
