// e2e: an operator's session with a real server, a real agent process, a real dockerd, docker-compose v1
// and a real registry. A two-component release deploys to two docker_host targets and one compose_host
// target; a hand-made change is reported as drift; a release that breaks in the second rolling batch is
// rolled back automatically; an agent SIGKILLed mid-task restarts and finishes without duplicates.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleDigest, canonicalJson, sha256Of } from '../../src/protocol/deployment.js';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, pushHttpdImage, runningDigest, startDockerd, type TestDocker } from '../support/docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';

const skip = dockerToolsMissing();
const T = 180_000;
const DRIFT_SECONDS = 3;

describe.skipIf(skip)('deployments through an agent to real Docker and Compose hosts', () => {
  let reg: TestRegistry;
  let dk: TestDocker;
  let server: GantryProcess;
  let agent: GantryProcess;
  let base: string;
  let dbUrl: string;
  let agentDir: string;
  let projectDir: string;
  const token = `gty_${randomBytes(32).toString('base64url')}`;
  const digests: Record<string, string> = {};
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
  const startAgent = (extra: string[] = []) => {
    const p = spawnGantry(['agent', 'run', '--server', base, '--state-dir', agentDir, '--name', 'edge-1', ...extra], childEnv({}));
    return p;
  };
  const waitJob = async (id: string, timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const j = await call('GET', `/api/v1/deployments/${id}`);
      if (['succeeded', 'failed', 'cancelled'].includes(j.body.status)) return j.body;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${j.body.status}: ${JSON.stringify(j.body.tasks)}\n${agent.stderr()}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const release = async (name: string, web: string, api_: string) => {
    const r = await call('POST', '/api/v1/releases', {
      name,
      components: [
        { component: 'web', digest: digests[web] },
        { component: 'api', digest: digests[api_] },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    return r.body.id as string;
  };

  beforeAll(async () => {
    [reg, dk] = await Promise.all([startRegistry(), startDockerd()]);
    for (const [key, repo, tag, opts] of [
      ['web1', 'demo/web', '1.0', {}],
      ['api1', 'demo/api', '1.0', {}],
      ['web2', 'demo/web', '2.0', {}],
      ['api2', 'demo/api', '2.0', {}],
      ['webBad', 'demo/web', '2.1-broken-eu', { brokenInRegion: 'eu' }],
    ] as const) {
      digests[key] = await pushHttpdImage(reg, repo, tag, opts);
    }
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
        GANTRY_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-deploy-')),
        GANTRY_AGENT_HEARTBEAT_SECONDS: '1',
        GANTRY_AGENT_POLL_SECONDS: '0.3',
        GANTRY_TASK_LEASE_SECONDS: '10',
        GANTRY_DRIFT_INTERVAL_SECONDS: String(DRIFT_SECONDS),
        GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
      }),
    );
    await waitReady(server, base);
    agentDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-'));
    projectDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-compose-'));
    for (const c of ['web', 'api']) expect((await gantry('component', 'create', c, '--image', `${reg.host}/demo/${c}`)).code).toBe(0);
    const service = (c: string) => ({
      command: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:\${label.port.${c}}`, '-h', '/www'],
      env: { REGION: '${label.region}' },
      port: `\${label.port.${c}}`,
    });
    const deployment = {
      services: { web: service('web'), api: service('api') },
      healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 15, interval: 0.3 },
    };
    expect((await call('POST', '/api/v1/environments', { name: 'staging', config: { deployment } })).status).toBe(201);
    expect(
      (
        await call('POST', '/api/v1/environments', {
          name: 'prod',
          config: { autoRollback: true, deployment: { ...deployment, strategy: 'rolling', batchSize: 1 } },
        })
      ).status,
    ).toBe(201);
    const ports = async () => ({ 'port.web': String(await freePort()), 'port.api': String(await freePort()) });
    const targets = [
      {
        name: 'd1',
        environmentId: 'staging',
        targetType: 'docker_host',
        connection: { dockerHost: dk.host },
        labels: { ...(await ports()), region: 'us' },
      },
      {
        name: 'd2',
        environmentId: 'staging',
        targetType: 'docker_host',
        connection: { dockerHost: dk.host },
        labels: { ...(await ports()), region: 'us' },
      },
      {
        name: 'c1',
        environmentId: 'staging',
        targetType: 'compose_host',
        connection: { dockerHost: dk.host, projectDir, composeCommand: 'docker-compose' },
        labels: { ...(await ports()), region: 'us' },
      },
      {
        name: 'p1-us',
        environmentId: 'prod',
        targetType: 'docker_host',
        connection: { dockerHost: dk.host },
        labels: { ...(await ports()), region: 'us' },
      },
      {
        name: 'p2-eu',
        environmentId: 'prod',
        targetType: 'docker_host',
        connection: { dockerHost: dk.host },
        labels: { ...(await ports()), region: 'eu' },
      },
    ];
    const envs = (await call('GET', '/api/v1/environments')).body.items as { id: string; name: string }[];
    for (const t of targets) {
      const r = await call('POST', '/api/v1/targets', { ...t, environmentId: envs.find((e) => e.name === t.environmentId)!.id });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
  }, T);

  afterAll(async () => {
    if (agent) await stopGantry(agent);
    if (server) await stopGantry(server);
    await killAll();
    await Promise.all([reg?.stop(), dk?.stop()]);
  }, T);

  it(
    'registers an agent with a one-time join token and stores its credential 0600',
    async () => {
      const t = await gantry('agent', 'token', 'create', '--json');
      expect(t.code, t.stderr).toBe(0);
      const joinToken = t.json().token as string;
      agent = startAgent(['--join-token', joinToken]);
      const deadline = Date.now() + 20_000;
      let a: any;
      while (Date.now() < deadline) {
        a = await call('GET', '/api/v1/agents/edge-1');
        if (a.status === 200 && a.body.status === 'online') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(a.body, agent.stderr()).toMatchObject({ status: 'online', capabilities: { executors: ['docker_host', 'compose_host'] } });
      expect(a.body.resources.rssBytes).toBeGreaterThan(0);
      expect((await stat(path.join(agentDir, 'agent.json'))).mode & 0o777).toBe(0o600);
      // single use
      const again = await api(base, 'POST', '/api/v1/agents/register', undefined, { name: 'edge-2' }).catch(() => undefined);
      expect(again?.status).toBe(401);
      const reuse = await fetch(`${base}/api/v1/agents/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-agent-token': joinToken },
        body: JSON.stringify({ name: 'edge-2' }),
      });
      expect(reuse.status).toBe(401);
    },
    T,
  );

  it(
    'deploys a two-component release to two docker_host targets and a compose_host target, pinned by digest',
    async () => {
      const r1 = await release('r1', 'web1', 'api1');
      const created = await call('POST', '/api/v1/deployments', { releaseId: 'r1', environmentId: 'staging' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const job = await waitJob(created.body.id);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
      expect(job.tasks.map((t: any) => [t.targetName, t.status])).toEqual([
        ['c1', 'succeeded'],
        ['d1', 'succeeded'],
        ['d2', 'succeeded'],
      ]);
      const expected = bundleDigest([
        { name: 'web', digest: digests.web1! },
        { name: 'api', digest: digests.api1! },
      ]);
      for (const name of ['d1', 'd2', 'c1']) {
        for (const [c, key] of [
          ['web', 'web1'],
          ['api', 'api1'],
        ] as const) {
          expect(await runningDigest(dk.docker, `gantry-${name}-${c}`, `${reg.host}/demo/${c}`)).toBe(digests[key]);
          const info = await dk.docker.getContainer(`gantry-${name}-${c}`).inspect();
          expect(info.Config.Labels).toMatchObject({ 'gantry.component': c, 'gantry.digest': digests[key], 'gantry.release': 'r1' });
          expect(info.HostConfig.NetworkMode).toBe('host');
        }
        const target = (await call('GET', `/api/v1/targets/${name}`)).body;
        expect(target.currentDigest).toBe(expected);
        expect(target.healthStatus).toBe('healthy');
        const stickers = await sql('SELECT sticker_content, content_hash FROM version_stickers WHERE target_id = $1', [target.id]);
        expect(stickers).toHaveLength(1);
        expect(stickers[0].sticker_content.digest).toBe(target.currentDigest);
        expect(stickers[0].sticker_content.release).toEqual({ id: r1, name: 'r1' });
        const file =
          name === 'c1' ? path.join(projectDir, 'gantry.version.json') : path.join(agentDir, 'targets', name, 'gantry.version.json');
        const onTarget = JSON.parse(await readFile(file, 'utf8'));
        expect(sha256Of(canonicalJson(onTarget))).toBe(stickers[0].content_hash);
      }
      const lock = await readFile(path.join(projectDir, 'compose.gantry.lock.yml'), 'utf8');
      expect(lock).toContain(`${reg.host}/demo/web@${digests.web1}`);
      const artifact = await call('GET', `/api/v1/deployments/${job.id}/artifacts/compose.gantry.lock.yml`);
      expect(artifact.body.content).toBe(lock);
      expect(artifact.body.sha256).toBe(sha256Of(lock));
      expect(job.artifacts.map((a: any) => a.name)).toContain('compose.gantry.lock.yml');
      const packets = await sql(`SELECT content FROM evidence_packets WHERE packet_type = 'deployment'`);
      expect(packets).toHaveLength(1);
      expect(packets[0].content).toMatchObject({ outcome: 'succeeded', environment: { name: 'staging' }, promotion: null });
      const logs = await call('GET', `/api/v1/deployments/${job.id}/logs`);
      expect(logs.body.lines.some((l: any) => l.line.includes('healthy'))).toBe(true);
      const status = await gantry('deploy', 'status', job.id);
      expect(status.stdout).toContain('succeeded');
    },
    T,
  );

  it(
    'reports a container changed by hand as drift by the periodic check, within two check intervals',
    async () => {
      const clean = await gantry('drift', 'staging', '--check', '--json');
      expect(
        clean.json().every((r: any) => r.driftDetected === false),
        clean.stdout,
      ).toBe(true);
      // By hand: replace d1's web container with the 2.0 image under the same name.
      await dk.docker.getContainer('gantry-d1-web').remove({ force: true });
      const portWeb = (await call('GET', '/api/v1/targets/d1')).body.labels['port.web'];
      const c = await dk.docker
        .createContainer({
          name: 'gantry-d1-web',
          Image: `${reg.host}/demo/web@${digests.web2}`,
          Cmd: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${portWeb}`, '-h', '/www'],
          HostConfig: { NetworkMode: 'host' },
        })
        .catch(async () => {
          await new Promise<void>((resolve, reject) =>
            dk.docker.pull(`${reg.host}/demo/web@${digests.web2}`, (err: Error | null, s: NodeJS.ReadableStream) =>
              err ? reject(err) : dk.docker.modem.followProgress(s, () => resolve()),
            ),
          );
          return dk.docker.createContainer({
            name: 'gantry-d1-web',
            Image: `${reg.host}/demo/web@${digests.web2}`,
            Cmd: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${portWeb}`, '-h', '/www'],
            HostConfig: { NetworkMode: 'host' },
          });
        });
      await c.start();
      const changedAt = Date.now();
      let row: any;
      // Polled through the API: a CLI spawn per poll takes seconds on a loaded machine (the CLI is checked below).
      // Two intervals and a margin: a check that began just before the change sees nothing, the next one must
      // (a loaded machine adds seconds to a check's docker calls and its report).
      const within = (2 * DRIFT_SECONDS + 6) * 1000;
      while (Date.now() - changedAt < within) {
        const r = await call('GET', '/api/v1/drift?environment=staging');
        row = r.body.items.find((x: any) => x.targetName === 'd1');
        // A check that ran while the container was being replaced saw it missing: that is drift too, but
        // the test waits for the check that sees the new image.
        if (row.driftDetected && row.drift.some((d: any) => d.field === 'digest')) break;
        await new Promise((r2) => setTimeout(r2, 250));
      }
      expect(row.driftDetected, JSON.stringify(row)).toBe(true);
      expect(Date.now() - changedAt).toBeLessThan(within);
      expect(row.drift).toContainEqual({ component: 'web', field: 'digest', expected: digests.web1, actual: digests.web2 });
      const human = await gantry('drift', 'staging');
      expect(human.code).toBe(1);
      expect(human.stdout).toMatch(/d1 .*yes .*web .*digest/);
      const sticker = await sql(
        `SELECT s.drift_detected FROM version_stickers s JOIN targets t ON t.id = s.target_id WHERE t.name = 'd1' ORDER BY written_at DESC LIMIT 1`,
      );
      expect(sticker[0].drift_detected).toBe(true);
      const others = (await gantry('drift', 'staging', '--json')).json().filter((x: any) => x.targetName !== 'd1');
      expect(others.every((x: any) => !x.driftDetected)).toBe(true);
    },
    T,
  );

  it(
    'stops a rolling release that fails health in its second batch and rolls the first back automatically',
    async () => {
      await release('r2', 'web1', 'api1');
      const first = await call('POST', '/api/v1/deployments', { releaseId: 'r2', environmentId: 'prod' });
      expect((await waitJob(first.body.id)).status).toBe('succeeded');
      await release('r3-bad', 'webBad', 'api2');
      const bad = await call('POST', '/api/v1/deployments', { releaseId: 'r3-bad', environmentId: 'prod' });
      expect(bad.body).toMatchObject({ strategy: 'rolling', batchCount: 2, autoRollback: true });
      const job = await waitJob(bad.body.id);
      expect(job.status).toBe('failed');
      const byName = Object.fromEntries(job.tasks.map((t: any) => [t.targetName, t]));
      expect(byName['p1-us']).toMatchObject({ batch: 0, status: 'succeeded' });
      expect(byName['p2-eu']).toMatchObject({ batch: 1, status: 'failed' });
      expect(byName['p2-eu'].error).toMatch(/unhealthy.*500/);
      const rollbacks = await sql('SELECT id FROM deployment_jobs WHERE rollback_of = $1', [job.id]);
      expect(rollbacks).toHaveLength(1);
      const rb = await waitJob(rollbacks[0].id);
      expect(rb.status, JSON.stringify(rb.tasks)).toBe('succeeded');
      for (const t of ['p1-us', 'p2-eu']) {
        expect(await runningDigest(dk.docker, `gantry-${t}-web`, `${reg.host}/demo/web`)).toBe(digests.web1);
        expect(await runningDigest(dk.docker, `gantry-${t}-api`, `${reg.host}/demo/api`)).toBe(digests.api1);
        const target = (await call('GET', `/api/v1/targets/${t}`)).body;
        expect(target.currentDigest).toBe(
          bundleDigest([
            { name: 'web', digest: digests.web1! },
            { name: 'api', digest: digests.api1! },
          ]),
        );
      }
      const packet = await sql(`SELECT content FROM evidence_packets WHERE packet_type = 'rollback'`);
      expect(packet).toHaveLength(1);
      expect(packet[0].content).toMatchObject({ outcome: 'succeeded', job: { rollbackOf: job.id }, environment: { name: 'prod' } });
      expect(packet[0].content.targets.map((x: any) => x.digest)).toEqual(
        packet[0].content.targets.map(() =>
          bundleDigest([
            { name: 'web', digest: digests.web1! },
            { name: 'api', digest: digests.api1! },
          ]),
        ),
      );
    },
    T,
  );

  it(
    'finishes a task after the agent is SIGKILLed mid-task and restarted, with no duplicate containers',
    async () => {
      // A slow start (sleep before httpd) keeps the task mid-flight long enough to kill the agent.
      const slow = (c: string) => ({
        command: ['/bin/sh', '-c', `sleep 3; exec /bin/busybox httpd -f -p 127.0.0.1:\${label.port.${c}} -h /www`],
        env: { REGION: '${label.region}' },
        port: `\${label.port.${c}}`,
      });
      await release('r4', 'web2', 'api2');
      const created = await call('POST', '/api/v1/deployments', {
        releaseId: 'r4',
        environmentId: 'staging',
        strategyConfig: {
          services: { web: slow('web'), api: slow('api') },
          healthCheck: { type: 'http', path: '/cgi-bin/healthz', retries: 40, interval: 0.3 },
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const j = (await call('GET', `/api/v1/deployments/${created.body.id}`)).body;
        const logs = (await call('GET', `/api/v1/deployments/${created.body.id}/logs`)).body.lines;
        if (j.tasks.some((t: any) => t.status === 'running') && logs.some((l: any) => /started|not healthy yet/.test(l.line))) break;
        if (Date.now() > deadline) throw new Error('no task got running');
        await new Promise((r) => setTimeout(r, 100));
      }
      agent.child.kill('SIGKILL');
      await agent.exited;
      const mid = (await call('GET', `/api/v1/deployments/${created.body.id}`)).body;
      expect(mid.tasks.some((t: any) => t.status === 'running' || t.status === 'assigned')).toBe(true);
      agent = startAgent(); // same state dir: the stored credential, a new session
      const job = await waitJob(created.body.id);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
      const retried = job.tasks.filter((t: any) => t.attempt > 1);
      expect(retried.length).toBeGreaterThan(0);
      expect(job.tasks.every((t: any) => t.attempt <= 2)).toBe(true);
      const names = (await dk.docker.listContainers({ all: true })).map((c) => c.Names[0]!.replace(/^\//, '')).sort();
      for (const t of ['c1', 'd1', 'd2']) {
        for (const c of ['web', 'api']) {
          expect(names.filter((n) => n.includes(`${t}-${c}`))).toEqual([`gantry-${t}-${c}`]);
          expect(await runningDigest(dk.docker, `gantry-${t}-${c}`, `${reg.host}/demo/${c}`)).toBe(
            c === 'web' ? digests.web2 : digests.api2,
          );
        }
      }
    },
    T,
  );
});
