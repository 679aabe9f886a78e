// e2e: no double execution with a real server process, a real agent process and a real dockerd. The
// server is SIGKILLed while the agent works: the agent finishes, keeps its report on disk and delivers it
// once the server is back (one container created). An agent frozen past its lease (SIGSTOP) whose task
// was leased by another agent stops as soon as it learns, reports nothing, and its stale report is
// refused. A re-leased task whose target already runs the release creates nothing. Effects are counted
// on the target side: dockerd's container-create events.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, pushHttpdImage, runningDigest, startDockerd, type TestDocker } from '../support/docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';

const skip = dockerToolsMissing();
const T = 240_000;

/** Container-create events dockerd recorded for `name` since `sinceMs` (the target side's own count). */
async function creates(docker: Docker, name: string, sinceMs: number): Promise<number> {
  const stream = (await docker.getEvents({
    since: Math.floor(sinceMs / 1000),
    until: Math.ceil(Date.now() / 1000) + 1,
    filters: { type: ['container'], event: ['create'], container: [name] },
  })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter((l) => l.trim()).length;
}

describe.skipIf(skip)('fencing tokens, durable reports and observe-before-acting with a real agent and dockerd', () => {
  let reg: TestRegistry;
  let dk: TestDocker;
  let server: GantryProcess;
  let agent: GantryProcess;
  let base: string;
  let port: number;
  let dbUrl: string;
  let dataDir: string;
  let agentDir: string;
  const token = `gty_${randomBytes(32).toString('base64url')}`;
  const digests: Record<string, string> = {};
  // any: the tests read arbitrary JSON
  const call = async (method: string, url: string, body?: unknown, bearer = token): Promise<{ status: number; body: any }> =>
    api(base, method, url, bearer, body);
  const sql = async (text: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    try {
      return (await c.query(text, params)).rows;
    } finally {
      await c.end();
    }
  };
  const startServer = async () => {
    server = spawnGantry(
      ['server'],
      childEnv({
        DATABASE_URL: dbUrl,
        GANTRY_BOOTSTRAP_TOKEN: token,
        GANTRY_PORT: String(port),
        GANTRY_DATA_DIR: dataDir,
        GANTRY_AGENT_HEARTBEAT_SECONDS: '1',
        GANTRY_AGENT_POLL_SECONDS: '0.3',
        GANTRY_TASK_LEASE_SECONDS: '8',
        GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
      }),
    );
    await waitReady(server, base);
  };
  const killServer = async () => {
    server.child.kill('SIGKILL');
    await server.exited;
  };
  const startAgent = (extra: string[] = []) =>
    spawnGantry(
      ['agent', 'run', '--server', base, '--state-dir', agentDir, '--name', 'edge-1', '--concurrency', '1', ...extra],
      childEnv({}),
    );
  // Generous bounds: a server restart and a rollout take seconds here but much longer on a loaded machine.
  const until = async <V>(what: string, probe: () => Promise<V | undefined | false>, ms = 150_000): Promise<V> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe().catch(() => undefined);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nagent:\n${agent?.stderr()}\nserver:\n${server?.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const job = async (id: string) => (await call('GET', `/api/v1/deployments/${id}`)).body;
  const finished = (id: string) =>
    until(`job ${id} to finish`, async () => ['succeeded', 'failed'].includes((await job(id)).status) && job(id));
  const savedReports = async () => (await readdir(path.join(agentDir, 'reports')).catch(() => [])).filter((f) => f.endsWith('.json'));
  const service = (sleep: number) => ({
    command: ['/bin/sh', '-c', `sleep ${sleep}; exec /bin/busybox httpd -f -p 127.0.0.1:\${label.port.web} -h /www`],
    port: '${label.port.web}',
  });
  const deploy = async (release: string, digest: string, sleep: number) => {
    const r = await call('POST', '/api/v1/releases', { name: release, components: [{ component: 'web', digest }] });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    const created = await call('POST', '/api/v1/deployments', {
      releaseId: release,
      environmentId: 'staging',
      strategyConfig: {
        services: { web: service(sleep) },
        healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 1, retries: 400, interval: 0.3 },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.id as string;
  };
  /** Waits until the task runs and its container was started (the executor is past the create). */
  const containerStarted = (id: string) =>
    until('the container started', async () => {
      const logs = (await call('GET', `/api/v1/deployments/${id}/logs`)).body.lines as { line: string }[];
      return logs.some((l) => /gantry-d1-web: started/.test(l.line));
    });

  beforeAll(async () => {
    [reg, dk] = await Promise.all([startRegistry(), startDockerd()]);
    digests.web1 = await pushHttpdImage(reg, 'demo/web', '1.0', {});
    digests.web2 = await pushHttpdImage(reg, 'demo/web', '2.0', {});
    digests.web3 = await pushHttpdImage(reg, 'demo/web', '3.0', {});
    dbUrl = (await createTestDb()).url;
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-fencing-'));
    agentDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-fencing-'));
    await startServer();
    expect((await call('POST', '/api/v1/components', { name: 'web', imageRepository: `${reg.host}/demo/web` })).status).toBe(201);
    const env = await call('POST', '/api/v1/environments', { name: 'staging' });
    const t = await call('POST', '/api/v1/targets', {
      name: 'd1',
      environmentId: env.body.id,
      targetType: 'docker_host',
      connection: { dockerHost: dk.host },
      labels: { 'port.web': String(await freePort()) },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    const join = await runGantry(['agent', 'token', 'create', '--json'], childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token }));
    agent = startAgent(['--join-token', JSON.parse(join.stdout).token]);
    await until('the agent online', async () => (await call('GET', '/api/v1/agents/edge-1')).body?.status === 'online');
  }, T);

  afterAll(async () => {
    if (agent) {
      agent.child.kill('SIGCONT');
      await stopGantry(agent);
    }
    if (server) await stopGantry(server);
    await killAll();
    await Promise.all([reg?.stop(), dk?.stop()]);
  }, T);

  it(
    'keeps the report of a task finished while the server was down and delivers it once the server is back',
    async () => {
      const since = Date.now();
      const id = await deploy('r1', digests.web1!, 3);
      await containerStarted(id);
      await killServer();
      // The report is written to disk before its first delivery is tried (and logged): wait for both.
      await until(
        'the report saved on the agent and a delivery tried',
        async () => (await savedReports()).length === 1 && /report not delivered yet/.test(agent.stderr()),
      );
      expect(agent.stderr()).toMatch(/report not delivered yet \(cannot reach the Gantry server/);
      await startServer();
      const done = await finished(id);
      expect(done.status, JSON.stringify(done.tasks)).toBe('succeeded');
      expect(done.tasks[0]).toMatchObject({ attempt: 1, fencingToken: 1 });
      expect(await creates(dk.docker, 'gantry-d1-web', since)).toBe(1);
      expect(await runningDigest(dk.docker, 'gantry-d1-web', `${reg.host}/demo/web`)).toBe(digests.web1);
      expect(await sql('SELECT 1 FROM version_stickers WHERE task_id = $1', [done.tasks[0].id])).toHaveLength(1);
      await until('the saved report removed', async () => (await savedReports()).length === 0);
    },
    T,
  );

  it(
    'stops an agent whose lease was taken over, reports nothing from it and refuses its stale report',
    async () => {
      const id = await deploy('r2', digests.web2!, 600); // never healthy while the test looks
      await containerStarted(id);
      const task = (await job(id)).tasks[0];
      agent.child.kill('SIGSTOP'); // frozen past its lease, as a long pause or a partition would
      await sql(`UPDATE deployment_tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [task.id]);
      await until('the lease expired and the task re-queued', async () => (await job(id)).tasks[0].status === 'pending');
      const join = await runGantry(['agent', 'token', 'create', '--json'], childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token }));
      const reg2 = await fetch(`${base}/api/v1/agents/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-agent-token': JSON.parse(join.stdout).token },
        body: JSON.stringify({ name: 'edge-2', capabilities: { executors: ['docker_host'] } }),
      });
      const other = (await reg2.json()) as { agentId: string; credential: string };
      await call('POST', `/api/v1/agents/${other.agentId}/heartbeat`, { sessionId: 'edge-2-session' }, other.credential);
      const lease = await call('POST', `/api/v1/agents/${other.agentId}/tasks/lease`, { max: 1 }, other.credential);
      expect(lease.body.tasks[0]).toMatchObject({ taskId: task.id, attempt: 2, fencingToken: 2 });
      // edge-2 holds its lease (log batches renew it) while the test looks at edge-1
      const holder = `/api/v1/agents/${other.agentId}/tasks/${task.id}`;
      expect((await call('POST', `${holder}/start`, { attempt: 2, fencingToken: 2 }, other.credential)).status).toBe(200);
      const renew = setInterval(
        () => void call('POST', `${holder}/logs`, { attempt: 2, fencingToken: 2, lines: [] }, other.credential),
        1000,
      );
      agent.child.kill('SIGCONT');
      await until('the agent to learn it lost the lease', async () =>
        /task [0-9a-f-]+: Task [0-9a-f-]+ was leased again \(fencing token 2 is current; this request carries 1\).* Stopping it\./.test(
          agent.stderr(),
        ),
      );
      // It is idle again (it leases nothing: the task is edge-2's) and reported nothing.
      await until('the agent idle', async () => (await call('GET', '/api/v1/agents/edge-1')).body.resources?.inflight === 0);
      expect(await savedReports()).toEqual([]);
      expect(agent.stderr()).not.toMatch(new RegExp(`task ${task.id}: report`));
      const now = (await job(id)).tasks[0];
      expect(now).toMatchObject({ status: 'running', fencingToken: 2, agentId: other.agentId });
      const sticker = JSON.parse(await readFile(path.join(agentDir, 'targets', 'd1', 'gantry.version.json'), 'utf8'));
      expect(sticker.release.name).toBe('r1'); // attempt 1 never wrote r2's sticker
      const creds = JSON.parse(await readFile(path.join(agentDir, 'agent.json'), 'utf8')) as { agentId: string; credential: string };
      const stale = await call(
        'POST',
        `/api/v1/agents/${creds.agentId}/tasks/${task.id}/report`,
        { attempt: 1, fencingToken: 1, status: 'succeeded' },
        creds.credential,
      );
      expect(stale.status).toBe(409);
      expect(stale.body).toMatchObject({ code: 'lease_superseded' });
      clearInterval(renew);
      expect((await call('POST', `/api/v1/deployments/${id}/cancel`)).body.status).toBe('cancelled');
    },
    T,
  );

  it(
    'creates nothing for a re-leased task whose target already runs the release, healthy',
    async () => {
      const since = Date.now();
      const id = await deploy('r3', digests.web3!, 3);
      await containerStarted(id);
      await killServer();
      await until('the report saved on the agent', async () => (await savedReports()).length === 1);
      agent.child.kill('SIGKILL');
      await agent.exited;
      // The report is lost with the agent (as if it died before writing it): the task will be leased again.
      for (const f of await savedReports()) await rm(path.join(agentDir, 'reports', f));
      await startServer();
      agent = startAgent();
      const done = await finished(id);
      expect(done.status, JSON.stringify(done.tasks)).toBe('succeeded');
      expect(done.tasks[0].attempt).toBe(2);
      const lines = (await call('GET', `/api/v1/deployments/${id}/logs`)).body.lines.map((l: { line: string }) => l.line);
      expect(lines.some((l: string) => /d1 already runs web@sha256:[0-9a-f]+, healthy: nothing to do/.test(l))).toBe(true);
      expect(await creates(dk.docker, 'gantry-d1-web', since)).toBe(1); // attempt 1's create only
      expect(await runningDigest(dk.docker, 'gantry-d1-web', `${reg.host}/demo/web`)).toBe(digests.web3);
      const target = (await call('GET', '/api/v1/targets/d1')).body;
      expect(target.currentDigest).toBe(digests.web3);
    },
    T,
  );
});
