// e2e: a real server, agent process, dockerd, docker-compose v1 and registry. A release deployed for the
// first time to a docker_host and a compose_host target reports, per container, what the agent observed
// after the change (container id, image digest, health, time) into the job and its evidence packet; rolling
// that first-ever deployment back removes what Gantry created (containers, compose project and lock file,
// stickers) and the rollback's evidence packet says so per target.
import { randomBytes } from 'node:crypto';
import { access, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, pushHttpdImage, startDockerd, type TestDocker } from '../support/docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';

const skip = dockerToolsMissing();
const T = 180_000;

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

describe.skipIf(skip)('first-deployment rollback and proof of convergence with a real agent and dockerd', () => {
  let reg: TestRegistry;
  let dk: TestDocker;
  let server: GantryProcess;
  let agent: GantryProcess;
  let base: string;
  let dbUrl: string;
  let agentDir: string;
  let projectDir: string;
  let web1 = '';
  const token = `gty_${randomBytes(32).toString('base64url')}`;
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
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const names = async () => (await dk.docker.listContainers({ all: true })).map((c) => c.Names[0]!.replace(/^\//, '')).sort();

  beforeAll(async () => {
    [reg, dk] = await Promise.all([startRegistry(), startDockerd()]);
    web1 = await pushHttpdImage(reg, 'demo/web', '1.0');
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
        GANTRY_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-first-')),
        GANTRY_AGENT_HEARTBEAT_SECONDS: '1',
        GANTRY_AGENT_POLL_SECONDS: '0.3',
        GANTRY_TASK_LEASE_SECONDS: '10',
        GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
      }),
    );
    await waitReady(server, base);
    agentDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-'));
    projectDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-compose-'));
    expect((await gantry('component', 'create', 'web', '--image', `${reg.host}/demo/web`)).code).toBe(0);
    const deployment = {
      services: {
        web: { command: ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:${label.port}', '-h', '/www'], port: '${label.port}' },
      },
      healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 15, interval: 0.3 },
    };
    const env = await call('POST', '/api/v1/environments', { name: 'fresh', config: { deployment } });
    expect(env.status).toBe(201);
    for (const t of [
      { name: 'f1', targetType: 'docker_host', connection: { dockerHost: dk.host } },
      { name: 'fc1', targetType: 'compose_host', connection: { dockerHost: dk.host, projectDir, composeCommand: 'docker-compose' } },
    ]) {
      const r = await call('POST', '/api/v1/targets', { ...t, environmentId: env.body.id, labels: { port: String(await freePort()) } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const joinToken = (await gantry('agent', 'token', 'create', '--json')).json().token as string;
    agent = spawnGantry(
      ['agent', 'run', '--server', base, '--state-dir', agentDir, '--name', 'edge-1', '--join-token', joinToken],
      childEnv({}),
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      const a = await call('GET', '/api/v1/agents/edge-1');
      if (a.status === 200 && a.body.status === 'online' && a.body.capabilities.actions) break;
      if (Date.now() > deadline) throw new Error(`agent not online: ${agent.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, T);

  afterAll(async () => {
    if (agent) await stopGantry(agent);
    if (server) await stopGantry(server);
    await killAll();
    await Promise.all([reg?.stop(), dk?.stop()]);
  }, T);

  let firstJob = '';

  it(
    'a first deployment reports, per container, the observed id, digest, health and time, in the job and its evidence packet',
    async () => {
      const r = await call('POST', '/api/v1/releases', { name: 'r1', components: [{ component: 'web', digest: web1 }] });
      expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
      const created = await call('POST', '/api/v1/deployments', { releaseId: 'r1', environmentId: 'fresh' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      firstJob = created.body.id;
      const job = await waitJob(firstJob);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
      expect(await names()).toEqual(['gantry-f1-web', 'gantry-fc1-web']);
      const packet = (await sql(`SELECT content FROM evidence_packets WHERE packet_type = 'deployment'`))[0].content;
      for (const name of ['f1', 'fc1']) {
        const id = (await dk.docker.getContainer(`gantry-${name}-web`).inspect()).Id;
        const task = job.tasks.find((t: any) => t.targetName === name);
        const inPacket = packet.targets.find((t: any) => t.target.name === name);
        for (const observed of [task.observed, inPacket.observed]) {
          expect(observed).toEqual([
            {
              component: 'web',
              containerName: `gantry-${name}-web`,
              containerId: id,
              image: `${reg.host}/demo/web@${web1}`,
              digest: web1,
              running: true,
              observedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
              health: { status: 'healthy', detail: 'healthy', probes: expect.any(Number) },
            },
          ]);
          // Observed after the change: not before the task started.
          expect(Date.parse(observed[0].observedAt)).toBeGreaterThanOrEqual(Date.parse(task.startedAt));
        }
        expect(inPacket.previousDigest).toBeNull();
      }
    },
    T,
  );

  it(
    'rolling back the first-ever deployment removes the containers, compose project, lock file and stickers',
    async () => {
      const stickers = [path.join(agentDir, 'targets', 'f1', 'gantry.version.json'), path.join(projectDir, 'gantry.version.json')];
      const lock = path.join(projectDir, 'compose.gantry.lock.yml');
      for (const f of [...stickers, lock]) expect(await exists(f), f).toBe(true);

      const back = await gantry('rollback', 'fresh', '--wait', '--json');
      expect(back.code, back.stderr + back.stdout).toBe(0);
      const rb = back.json();
      expect(rb).toMatchObject({ status: 'succeeded', rollbackOf: firstJob });
      expect(rb.tasks.map((t: any) => [t.targetName, t.action, t.status])).toEqual([
        ['f1', 'remove', 'succeeded'],
        ['fc1', 'remove', 'succeeded'],
      ]);
      expect(await names()).toEqual([]);
      for (const f of [...stickers, lock]) expect(await exists(f), f).toBe(false);
      for (const name of ['f1', 'fc1']) {
        expect((await call('GET', `/api/v1/targets/${name}`)).body).toMatchObject({ currentDigest: null });
      }
      const logs = (await call('GET', `/api/v1/deployments/${rb.id}/logs`)).body.lines.map((l: any) => l.line);
      expect(logs).toContain('gantry-f1-web: removed');
      expect(logs.some((l: string) => l.includes('docker-compose -p gantry-fc1 -f') && l.includes('down --remove-orphans'))).toBe(true);

      const packet = (await sql(`SELECT content FROM evidence_packets WHERE packet_type = 'rollback'`))[0].content;
      expect(packet).toMatchObject({ outcome: 'succeeded', job: { rollbackOf: firstJob } });
      for (const t of packet.targets) {
        expect(t).toMatchObject({ action: 'remove', task: { status: 'succeeded' }, removal: { removed: true } });
        expect(t.removal.reason).toContain('no previous release');
        // One observation per name Gantry may have used (plain, blue, green): none left.
        expect(t.observed).toHaveLength(3);
        expect(t.observed.every((o: any) => o.containerId === null && o.health.status === 'absent')).toBe(true);
      }
      const human = await gantry('deploy', 'show', rb.id);
      expect(human.stdout).toMatch(/f1 .*remove .*succeeded.*removed/);
    },
    T,
  );
});
