// e2e: blue_green to a docker_host target through a real agent, a real dockerd, a real registry and a
// real nginx on 127.0.0.1 whose upstream file is the router. Release A goes to the blue colour; release B
// starts green beside blue (both running on their own ports while green is not yet healthy, traffic still
// on blue), then the upstream file is switched and nginx reloaded (traffic through nginx reaches green),
// then blue drains (nginx's previous workers exit) and is stopped, then removed. A release whose new colour fails its health check leaves the old colour serving
// and the upstream file byte-identical; a rollback goes blue-green too.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Of } from '../../src/protocol/deployment.js';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, pushHttpdImage, runningDigest, startDockerd, type TestDocker } from '../support/docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';

const execFileP = promisify(execFile);
const NGINX = '/usr/sbin/nginx';

function toolsMissing(): string | undefined {
  const docker = dockerToolsMissing();
  if (docker) return docker;
  if (existsSync(NGINX)) return undefined;
  const msg = `the blue_green e2e test needs ${NGINX} (apt-get install -y nginx)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return msg;
}

const skip = toolsMissing();
const T = 180_000;
const TARGET = 'bg1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('blue_green through an agent to a real Docker host behind a real nginx', () => {
  let reg: TestRegistry;
  let dk: TestDocker;
  let server: GantryProcess;
  let agent: GantryProcess;
  let base: string;
  let dbUrl: string;
  let agentDir: string;
  let nginxDir: string;
  let nginxConf: string;
  let upstreamFile: string;
  let nginxPort: number;
  const ports = { blue: 0, green: 0 };
  const token = `gty_${randomBytes(32).toString('base64url')}`;
  const digests: Record<string, string> = {};
  const webRepo = () => `${reg.host}/demo/web`;
  // any: the tests read arbitrary JSON
  const call = async (method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> =>
    api(base, method, url, token, body);
  const gantry = async (...args: string[]) => {
    const r = await runGantry(args, childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token }));
    return { ...r, json: (): any => JSON.parse(r.stdout) };
  };
  const sql = async (text: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    try {
      return (await c.query(text, params)).rows;
    } finally {
      await c.end();
    }
  };
  const waitJob = async (id: string, timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const j = await call('GET', `/api/v1/deployments/${id}`);
      if (['succeeded', 'failed', 'cancelled'].includes(j.body.status)) return j.body;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${j.body.status}: ${JSON.stringify(j.body.tasks)}\n${agent.stderr()}`);
      await sleep(200);
    }
  };
  const release = async (name: string, key: string) => {
    const r = await call('POST', '/api/v1/releases', { name, components: [{ component: 'web', digest: digests[key] }] });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    return r.body.id as string;
  };
  /** GET through nginx: what the traffic reaches. */
  const viaNginx = async (p: string) => {
    const res = await fetch(`http://127.0.0.1:${nginxPort}${p}`, { signal: AbortSignal.timeout(3_000) });
    return { status: res.status, text: await res.text() };
  };
  /** GET a colour's port directly (null when nothing listens). */
  const direct = async (port: number, p: string) => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(2_000) });
      return { status: res.status, text: await res.text() };
    } catch {
      return null;
    }
  };
  const inspect = async (name: string) => {
    try {
      return await dk.docker.getContainer(name).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    }
  };
  const upstreamFor = (port: number) => `upstream gantry_${TARGET}_web {\n  server 127.0.0.1:${port};\n}\n`;
  const stickerFile = () => path.join(agentDir, 'targets', TARGET, 'gantry.version.json');
  const target = async () => (await call('GET', `/api/v1/targets/${TARGET}`)).body;
  const logLines = async (jobId: string): Promise<string[]> =>
    (await call('GET', `/api/v1/deployments/${jobId}/logs`)).body.lines.map((l: any) => l.line as string);
  const service = (slowStart = 0) => ({
    command: [
      '/bin/sh',
      '-c',
      `${slowStart ? `sleep ${slowStart}; ` : ''}exec /bin/busybox httpd -f -p 127.0.0.1:\${label.port.web.\${color}} -h /www`,
    ],
    env: { REGION: '${label.region}' },
    port: '${label.port.web.${color}}',
  });
  const nginxCtl = (...args: string[]) => execFileP(NGINX, ['-p', nginxDir, '-c', nginxConf, ...args]);

  beforeAll(async () => {
    [reg, dk] = await Promise.all([startRegistry(), startDockerd()]);
    for (const [key, tag, opts] of [
      ['a', '1.0', {}],
      ['b', '2.0', {}],
      ['bad', '2.1-broken-eu', { brokenInRegion: 'eu' }],
    ] as const) {
      digests[key] = await pushHttpdImage(reg, 'demo/web', tag, opts);
    }

    // nginx on 127.0.0.1 proxying to the upstream Gantry writes; before the first deployment the
    // upstream points at a closed port (502).
    nginxDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-nginx-'));
    nginxConf = path.join(nginxDir, 'nginx.conf');
    upstreamFile = path.join(nginxDir, 'upstreams', `${TARGET}.conf`);
    nginxPort = await freePort();
    [ports.blue, ports.green] = [await freePort(), await freePort()];
    await mkdir(path.dirname(upstreamFile), { recursive: true });
    await mkdir(path.join(nginxDir, 'tmp'), { recursive: true });
    await writeFile(upstreamFile, upstreamFor(await freePort()));
    const tmp = (k: string) => `${k}_temp_path ${nginxDir}/tmp/${k};`;
    await writeFile(
      nginxConf,
      `pid ${nginxDir}/nginx.pid;\nerror_log ${nginxDir}/error.log warn;\nevents { worker_connections 64; }\n` +
        `http {\n  access_log off;\n  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp).join('\n  ')}\n` +
        `  include ${nginxDir}/upstreams/*.conf;\n` +
        `  server {\n    listen 127.0.0.1:${nginxPort};\n    location / { proxy_pass http://gantry_${TARGET}_web; }\n  }\n}\n`,
    );
    await nginxCtl(); // daemonizes; stopped in afterAll with -s stop
    expect((await viaNginx('/VERSION')).status).toBe(502);

    const tdb = await createTestDb();
    dbUrl = tdb.url;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawnGantry(
      ['server'],
      childEnv({
        DATABASE_URL: tdb.url,
        GANTRY_BOOTSTRAP_TOKEN: token,
        GANTRY_PORT: String(port),
        GANTRY_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-bg-')),
        GANTRY_AGENT_HEARTBEAT_SECONDS: '1',
        GANTRY_AGENT_POLL_SECONDS: '0.3',
        GANTRY_TASK_LEASE_SECONDS: '10',
        GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
      }),
    );
    await waitReady(server, base);
    agentDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-bg-'));
    expect((await gantry('component', 'create', 'web', '--image', webRepo())).code).toBe(0);
    const deployment = {
      strategy: 'blue_green',
      services: { web: service() },
      healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 15, interval: 0.3 },
      router: {
        type: 'nginx',
        path: path.join(nginxDir, 'upstreams', '${target.name}.conf'),
        validateCommand: [NGINX, '-p', nginxDir, '-c', nginxConf, '-t', '-q'],
        reloadCommand: [NGINX, '-p', nginxDir, '-c', nginxConf, '-s', 'reload'],
        pidFile: path.join(nginxDir, 'nginx.pid'),
      },
      drainSeconds: 5,
      stopGraceSeconds: 2,
    };
    const env = await call('POST', '/api/v1/environments', { name: 'bg', config: { deployment } });
    expect(env.status, JSON.stringify(env.body)).toBe(201);
    const t = await call('POST', '/api/v1/targets', {
      name: TARGET,
      environmentId: env.body.id,
      targetType: 'docker_host',
      connection: { dockerHost: dk.host },
      labels: { 'port.web.blue': String(ports.blue), 'port.web.green': String(ports.green), region: 'eu' },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    const join = await gantry('agent', 'token', 'create', '--json');
    expect(join.code, join.stderr).toBe(0);
    agent = spawnGantry(
      ['agent', 'run', '--server', base, '--state-dir', agentDir, '--name', 'edge-bg', '--join-token', join.json().token],
      childEnv({}),
    );
  }, T);

  afterAll(async () => {
    if (agent) await stopGantry(agent);
    if (server) await stopGantry(server);
    await killAll();
    if (nginxDir) {
      await nginxCtl('-s', 'stop').catch(() => {});
      await rm(nginxDir, { recursive: true, force: true });
    }
    await Promise.all([reg?.stop(), dk?.stop()]);
  }, T);

  it(
    'deploys release A to the blue colour and switches nginx to it',
    async () => {
      await release('A', 'a');
      const created = await call('POST', '/api/v1/deployments', { releaseId: 'A', environmentId: 'bg' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.strategy).toBe('blue_green');
      const job = await waitJob(created.body.id);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
      const blue = await inspect(`gantry-${TARGET}-web-blue`);
      expect(blue?.State.Running).toBe(true);
      expect(blue?.Config.Labels).toMatchObject({ 'gantry.color': 'blue', 'gantry.release': 'A', 'gantry.digest': digests.a });
      expect(blue?.HostConfig.NetworkMode).toBe('host');
      expect(await runningDigest(dk.docker, `gantry-${TARGET}-web-blue`, webRepo())).toBe(digests.a);
      expect(await inspect(`gantry-${TARGET}-web-green`)).toBeNull();
      expect(await readFile(upstreamFile, 'utf8')).toBe(upstreamFor(ports.blue));
      expect(await viaNginx('/VERSION')).toEqual({ status: 200, text: 'demo/web:1.0\n' });
      expect((await target()).currentDigest).toBe(digests.a);
      expect(JSON.parse(await readFile(stickerFile(), 'utf8'))).toMatchObject({ release: { name: 'A' }, digest: digests.a });
      const artifact = await call('GET', `/api/v1/deployments/${job.id}/artifacts/router.${TARGET}.nginx`);
      expect(artifact.body.content).toBe(upstreamFor(ports.blue));
    },
    T,
  );

  it(
    'deploys release B: green starts beside blue, passes its health check, nginx is switched to it, blue is removed',
    async () => {
      await release('B', 'b');
      // green sleeps 2 s before it listens: the window in which both colours run and traffic stays on blue
      const created = await call('POST', '/api/v1/deployments', {
        releaseId: 'B',
        environmentId: 'bg',
        strategyConfig: { services: { web: service(2) } },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      let sawBoth = false;
      const deadline = Date.now() + 30_000;
      while (!sawBoth && Date.now() < deadline) {
        const [b, g] = await Promise.all([inspect(`gantry-${TARGET}-web-blue`), inspect(`gantry-${TARGET}-web-green`)]);
        if (b?.State.Running && g?.State.Running) {
          sawBoth = true;
          expect(g.Config.Labels).toMatchObject({ 'gantry.color': 'green', 'gantry.release': 'B' });
          expect(g.Config.Cmd?.join(' ')).toContain(`127.0.0.1:${ports.green}`);
          expect(b.Config.Cmd?.join(' ')).toContain(`127.0.0.1:${ports.blue}`);
          // green is not healthy yet: the router still points at blue and traffic reaches A
          expect(await readFile(upstreamFile, 'utf8')).toBe(upstreamFor(ports.blue));
          expect(await viaNginx('/VERSION')).toEqual({ status: 200, text: 'demo/web:1.0\n' });
        }
        await sleep(50);
      }
      expect(sawBoth, 'blue and green never ran at the same time').toBe(true);
      const job = await waitJob(created.body.id);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');

      // order: green healthy -> upstream written -> reloaded -> reload confirmed -> blue drained -> stopped -> removed
      const lines = await logLines(job.id);
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      const order = [
        at(/starting the green set beside blue/),
        at(/gantry-bg1-web-green: healthy/),
        at(/router: switching bg1 to the green set/),
        at(/configuration valid/),
        at(/router reloaded/),
        at(/router reload confirmed: nginx \d+ runs new workers/),
        at(/router switched to green/),
        at(/blue set drained \(the previous proxy workers exited after \d+ ms\)/),
        at(/gantry-bg1-web-blue: stopped \(SIGTERM, grace 2 s/),
        at(/gantry-bg1-web-blue: removed/),
      ];
      expect(
        order.every((i) => i >= 0),
        lines.join('\n'),
      ).toBe(true);
      expect([...order].sort((x, y) => x - y)).toEqual(order);

      expect(await inspect(`gantry-${TARGET}-web-blue`)).toBeNull();
      expect(await direct(ports.blue, '/VERSION')).toBeNull();
      expect((await inspect(`gantry-${TARGET}-web-green`))?.State.Running).toBe(true);
      expect(await runningDigest(dk.docker, `gantry-${TARGET}-web-green`, webRepo())).toBe(digests.b);
      expect(await readFile(upstreamFile, 'utf8')).toBe(upstreamFor(ports.green));
      expect(await viaNginx('/VERSION')).toEqual({ status: 200, text: 'demo/web:2.0\n' });

      const t = await target();
      expect(t.currentDigest).toBe(digests.b);
      expect(t.healthStatus).toBe('healthy');
      const onTarget = JSON.parse(await readFile(stickerFile(), 'utf8'));
      expect(onTarget).toMatchObject({ release: { name: 'B' }, digest: digests.b, job: job.id });
      const stickers = await sql('SELECT content_hash FROM version_stickers WHERE target_id = $1 ORDER BY written_at DESC LIMIT 1', [t.id]);
      expect(stickers[0].content_hash).toBe(sha256Of(canonicalJson(onTarget)));
      expect(job.tasks[0].health).toMatchObject({ color: 'green' });
    },
    T,
  );

  it(
    'fails a release whose new colour is unhealthy: the new colour is removed, green keeps serving, the upstream file is unchanged',
    async () => {
      await release('C-bad', 'bad');
      const before = await readFile(upstreamFile, 'utf8');
      const stickerBefore = await readFile(stickerFile(), 'utf8');
      const created = await call('POST', '/api/v1/deployments', {
        releaseId: 'C-bad',
        environmentId: 'bg',
        strategyConfig: { healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 3, interval: 0.3 } },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const job = await waitJob(created.body.id);
      expect(job.status).toBe('failed');
      expect(job.tasks[0].status).toBe('failed');
      expect(job.tasks[0].error).toMatch(/gantry-bg1-web-blue is unhealthy: .*500/);
      const lines = await logLines(job.id);
      expect(lines.some((l) => /starting the blue set beside green/.test(l))).toBe(true);
      expect(lines.some((l) => /switched/.test(l))).toBe(false);

      expect(await readFile(upstreamFile, 'utf8')).toBe(before);
      expect(before).toBe(upstreamFor(ports.green));
      expect(await inspect(`gantry-${TARGET}-web-blue`)).toBeNull();
      expect((await inspect(`gantry-${TARGET}-web-green`))?.State.Running).toBe(true);
      expect(await runningDigest(dk.docker, `gantry-${TARGET}-web-green`, webRepo())).toBe(digests.b);
      expect(await viaNginx('/VERSION')).toEqual({ status: 200, text: 'demo/web:2.0\n' });
      expect((await target()).currentDigest).toBe(digests.b);
      expect(await readFile(stickerFile(), 'utf8')).toBe(stickerBefore);
    },
    T,
  );

  it(
    'fails a release whose router reload fails: the upstream file is restored and the old colour keeps serving',
    async () => {
      await release('D', 'a');
      const before = await readFile(upstreamFile, 'utf8');
      const created = await call('POST', '/api/v1/deployments', {
        releaseId: 'D',
        environmentId: 'bg',
        strategyConfig: {
          router: {
            type: 'nginx',
            path: upstreamFile,
            reloadCommand: [NGINX, '-p', nginxDir, '-c', `${nginxDir}/missing.conf`, '-s', 'reload'],
          },
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const job = await waitJob(created.body.id);
      expect(job.status).toBe('failed');
      expect(job.tasks[0].error).toMatch(/reload/);
      expect(await readFile(upstreamFile, 'utf8')).toBe(before);
      expect(await inspect(`gantry-${TARGET}-web-blue`)).toBeNull();
      expect(await runningDigest(dk.docker, `gantry-${TARGET}-web-green`, webRepo())).toBe(digests.b);
      expect(await viaNginx('/VERSION')).toEqual({ status: 200, text: 'demo/web:2.0\n' });
      expect((await target()).currentDigest).toBe(digests.b);
    },
    T,
  );

  it(
    'rolls back blue-green: A starts on blue beside green, nginx is switched back, green is removed',
    async () => {
      const rb = await gantry('rollback', 'bg', '--to', 'A', '--json');
      expect(rb.code, rb.stderr + rb.stdout).toBe(0);
      const id = rb.json().id as string;
      const job = await waitJob(id);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
      const lines = await logLines(id);
      expect(lines.some((l) => /starting the blue set beside green/.test(l))).toBe(true);
      expect(await inspect(`gantry-${TARGET}-web-green`)).toBeNull();
      expect(await runningDigest(dk.docker, `gantry-${TARGET}-web-blue`, webRepo())).toBe(digests.a);
      expect(await readFile(upstreamFile, 'utf8')).toBe(upstreamFor(ports.blue));
      expect(await viaNginx('/VERSION')).toEqual({ status: 200, text: 'demo/web:1.0\n' });
      expect((await target()).currentDigest).toBe(digests.a);
      const names = (await dk.docker.listContainers({ all: true })).map((c) => c.Names[0]!.replace(/^\//, ''));
      expect(names).toEqual([`gantry-${TARGET}-web-blue`]);
    },
    T,
  );
});
