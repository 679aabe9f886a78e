// e2e: a real server, agent process, dockerd, docker-compose v1 and registry. A compose promotion's plan
// names exactly the services and digests that change (web gets a new image, api stays); the CLI shows it
// (`promote --dry-run`, `promotion plan`) and approves a plan hash; a target that joins after the first
// approval voids it, the promotion says why, re-approval lets it proceed; the containers dockerd has
// afterwards show that the executed actions are the plan's (recreated: a new container; unchanged: the
// same container; created: a new one), each running the planned digest.
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, pushHttpdImage, startDockerd, type TestDocker } from '../support/docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';

const skip = dockerToolsMissing();
const T = 180_000;

interface PlannedComponent {
  name: string;
  action: string;
  fromDigest: string | null;
  toDigest: string | null;
}
interface PlannedTarget {
  name: string;
  action: string;
  components: PlannedComponent[];
}

describe.skipIf(skip)('deployment plans of a compose promotion, executed as planned, with a real agent and dockerd', () => {
  let reg: TestRegistry;
  let dk: TestDocker;
  let server: GantryProcess;
  let agent: GantryProcess;
  let base: string;
  let envId = '';
  const digests: Record<string, string> = {};
  const tokens: Record<string, string> = { admin: `gty_${randomBytes(32).toString('base64url')}` };
  // any: the tests read arbitrary JSON
  const call = async (method: string, url: string, body?: unknown, who = 'admin'): Promise<{ status: number; body: any }> =>
    api(base, method, url, tokens[who], body);
  const gantry = async (who: string, ...args: string[]) => {
    const r = await runGantry(args, childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: tokens[who]! }));
    return { ...r, json: (): any => JSON.parse(r.stdout) };
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
  /** Container id and image digest of every gantry container, by name. */
  const containers = async () => {
    const out: Record<string, { id: string; digest: string }> = {};
    for (const c of await dk.docker.listContainers({ all: true })) {
      const name = c.Names[0]!.replace(/^\//, '');
      out[name] = { id: c.Id, digest: c.Labels['gantry.digest'] ?? '' };
    }
    return out;
  };
  const addTarget = async (name: string) => {
    const projectDir = await mkdtemp(path.join(os.tmpdir(), `gantry-plan-${name}-`));
    const labels = { 'port.web': String(await freePort()), 'port.api': String(await freePort()) };
    const r = await call('POST', '/api/v1/targets', {
      name,
      environmentId: envId,
      targetType: 'compose_host',
      connection: { dockerHost: dk.host, projectDir, composeCommand: 'docker-compose' },
      labels,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  };

  beforeAll(async () => {
    [reg, dk] = await Promise.all([startRegistry(), startDockerd()]);
    digests.web1 = await pushHttpdImage(reg, 'demo/web', '1.0');
    digests.web2 = await pushHttpdImage(reg, 'demo/web', '2.0');
    digests.api1 = await pushHttpdImage(reg, 'demo/api', '1.0');
    const tdb = await createTestDb();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawnGantry(
      ['server'],
      childEnv({
        DATABASE_URL: tdb.url,
        GANTRY_BOOTSTRAP_TOKEN: tokens.admin!,
        GANTRY_PORT: String(port),
        GANTRY_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-plan-')),
        GANTRY_AGENT_HEARTBEAT_SECONDS: '1',
        GANTRY_AGENT_POLL_SECONDS: '0.3',
        GANTRY_TASK_LEASE_SECONDS: '10',
        GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
        GANTRY_PROMOTION_RECHECK_SECONDS: '1',
      }),
    );
    await waitReady(server, base);
    for (const who of ['bob', 'carol']) {
      const u = await call('POST', '/api/v1/users', { username: who, roles: ['approver'] });
      expect(u.status, JSON.stringify(u.body)).toBe(201);
      tokens[who] = (await call('POST', '/api/v1/tokens', { name: `${who}-cli`, userId: u.body.id })).body.secret;
    }
    for (const c of ['web', 'api'])
      expect((await gantry('admin', 'component', 'create', c, '--image', `${reg.host}/demo/${c}`)).code).toBe(0);
    const service = (c: string) => ({
      command: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:\${label.port.${c}}`, '-h', '/www'],
      port: `\${label.port.${c}}`,
    });
    const deployment = {
      services: { web: service('web'), api: service('api') },
      healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 15, interval: 0.3 },
    };
    const env = await call('POST', '/api/v1/environments', { name: 'prod', requiredApprovals: 2, config: { deployment } });
    expect(env.status, JSON.stringify(env.body)).toBe(201);
    envId = env.body.id;
    await addTarget('c1');
    const joinToken = (await gantry('admin', 'agent', 'token', 'create', '--json')).json().token as string;
    agent = spawnGantry(
      [
        'agent',
        'run',
        '--server',
        base,
        '--state-dir',
        await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-')),
        '--name',
        'edge-1',
        '--join-token',
        joinToken,
      ],
      childEnv({}),
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      const a = await call('GET', '/api/v1/agents/edge-1');
      if (a.status === 200 && a.body.status === 'online' && a.body.capabilities.actions) break;
      if (Date.now() > deadline) throw new Error(`agent not online: ${agent.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const [name, web] of [
      ['r1', digests.web1],
      ['r2', digests.web2],
    ] as const) {
      const r = await call('POST', '/api/v1/releases', {
        name,
        components: [
          { component: 'web', digest: web },
          { component: 'api', digest: digests.api1 },
        ],
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    }
    // r1 runs on c1 before the promotion.
    const first = await call('POST', '/api/v1/deployments', { releaseId: 'r1', environmentId: 'prod' });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect((await waitJob(first.body.id)).status).toBe('succeeded');
  }, T);

  afterAll(async () => {
    if (agent) await stopGantry(agent);
    if (server) await stopGantry(server);
    await killAll();
    await Promise.all([reg?.stop(), dk?.stop()]);
  }, T);

  it(
    'plans only the changed service, voids an approval when a target joins, and executes the re-approved plan exactly',
    async () => {
      // The dry run: on c1 only web changes (1.0 → 2.0); api keeps its container.
      const dry = await gantry('admin', 'promote', 'r2', '--to', 'prod', '--dry-run', '--json');
      expect(dry.code, dry.stderr).toBe(0);
      const c1 = (dry.json().plan.targets as PlannedTarget[]).find((t) => t.name === 'c1')!;
      expect(c1.action).toBe('deploy');
      expect(c1.components.map((c) => [c.name, c.action, c.fromDigest, c.toDigest])).toEqual([
        ['web', 'recreate', digests.web1, digests.web2],
        ['api', 'unchanged', digests.api1, digests.api1],
      ]);
      const text = await gantry('admin', 'promote', 'r2', '--to', 'prod', '--dry-run');
      expect(text.stdout).toMatch(/c1\s.*web\s+recreate/);
      expect(text.stdout).toMatch(/plan sha256:[0-9a-f]{64}/);

      const promoted = await gantry('admin', 'promote', 'r2', '--to', 'prod', '--reason', 'plan e2e', '--json');
      expect(promoted.code, promoted.stderr).toBe(0);
      const id = promoted.json().id as string;
      const firstPlan = (await gantry('bob', 'promotion', 'plan', id, '--json')).json();
      expect(firstPlan.plan.hash).toBe(dry.json().plan.hash);
      const bob = await gantry('bob', 'approve', id, '--plan', firstPlan.planHash, '--json');
      expect(bob.code, bob.stderr).toBe(0);

      // A second target joins before the second approval.
      await addTarget('c2');
      let p: any;
      for (let i = 0; i < 150; i++) {
        p = (await call('GET', `/api/v1/promotions/${id}`)).body;
        if (p.planHash !== firstPlan.planHash) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(p.planHash).not.toBe(firstPlan.planHash);
      expect(p.status).toBe('awaiting_approval');
      expect(p.blockedReason).toMatch(/0 of 2 approvals.*bob approved an earlier plan.*target c2 joined/);
      const stale = await gantry('carol', 'approve', id, '--plan', firstPlan.planHash);
      expect(stale.code).not.toBe(0);
      expect(stale.stderr).toMatch(/plan changed since you looked at it.*target c2 joined/);

      const plan = (await gantry('carol', 'promotion', 'plan', id, '--json')).json().plan;
      const before = await containers();
      for (const who of ['carol', 'bob']) {
        const r = await gantry(who, 'approve', id, '--plan', plan.hash, '--json');
        expect(r.code, r.stderr).toBe(0);
      }
      let jobId: string | undefined;
      for (let i = 0; i < 150 && !jobId; i++) {
        jobId = (await call('GET', `/api/v1/promotions/${id}`)).body.deploymentJobIds[0];
        if (!jobId) await new Promise((r) => setTimeout(r, 200));
      }
      const job = await waitJob(jobId!);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
      expect(job.planHash).toBe(plan.hash);

      // What dockerd shows now, against the plan: every planned action happened, and nothing else.
      const after = await containers();
      const executed: [string, string, string, string][] = [];
      const planned: [string, string, string, string][] = [];
      for (const t of plan.targets as PlannedTarget[]) {
        for (const c of t.components) {
          const name = `gantry-${t.name}-${c.name}`;
          const was = before[name];
          const now = after[name];
          const action = !now ? 'remove' : !was ? 'create' : was.id === now.id ? 'unchanged' : 'recreate';
          executed.push([t.name, c.name, action, now?.digest ?? '']);
          planned.push([t.name, c.name, c.action, c.toDigest ?? '']);
        }
      }
      expect(executed).toEqual(planned);
      expect(planned).toEqual([
        ['c1', 'web', 'recreate', digests.web2],
        ['c1', 'api', 'unchanged', digests.api1],
        ['c2', 'web', 'create', digests.web2],
        ['c2', 'api', 'create', digests.api1],
      ]);
      const done = (await call('GET', `/api/v1/promotions/${id}`)).body;
      expect(done.decisionRecord.plan.hash).toBe(plan.hash);
    },
    T,
  );
});
