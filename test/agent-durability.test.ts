// The agent's reports over HTTP against real replicas (two apps on one PostgreSQL): a report cut off by a
// dying replica lands once through the other; a report saved while no replica answers survives an agent
// restart and is sent first; a re-leased task whose target already has the release only reports; a report
// under a lease that was taken over is refused and dropped; re-sent reports get the same answer.
// The agents run the noop executor, whose record of what each target "runs" is the target side here.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { ManualClock } from '../src/core/clock.js';
import { expireLeases } from '../src/deployments/lease.js';
import { DEFAULT_SETTINGS, type DeploymentSettings } from '../src/deployments/settings.js';
import { ephemeralSigner } from '../src/evidence/signer.js';
import type { App } from '../src/http/types.js';
import { stickerFor } from '../src/protocol/deployment.js';
import { buildApp } from '../src/server.js';
import { bootstrap } from '../src/tenancy/service.js';
import { createTestDb, type TestDb } from './helpers.js';

const SETTINGS: DeploymentSettings = { ...DEFAULT_SETTINGS, heartbeatSeconds: 1, pollSeconds: 0.2, leaseSeconds: 60 };

interface Replica {
  app: App;
  url: string;
  /** While true, a POST …/report has its connection destroyed before an answer (a replica dying mid-request). */
  cutReports: boolean;
  reportsAnswered: number;
}

describe('durable agent reports and fencing tokens, over HTTP on two replicas', () => {
  let tdb: TestDb;
  let token: string;
  let a: Replica;
  let b: Replica;
  const clock = new ManualClock(new Date());
  const signer = ephemeralSigner();
  const agents: Agent[] = [];
  const lines: string[] = [];

  const replica = async (): Promise<Replica> => {
    const r = { cutReports: false, reportsAnswered: 0 } as Replica;
    const app = await buildApp({ db: tdb.db, clock, signer, logger: false, deploymentSettings: SETTINGS });
    app.addHook('onRequest', async (req, reply) => {
      if (req.method !== 'POST' || !req.url.endsWith('/report')) return;
      if (r.cutReports) {
        reply.hijack();
        req.raw.socket.destroy();
        return reply;
      }
      r.reportsAnswered++;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    r.app = app;
    r.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    return r;
  };
  // any: JSON answers of the API
  const call = async (
    method: string,
    url: string,
    body?: unknown,
    bearer = token,
  ): Promise<{ status: number; type: string; body: any }> => {
    const res = await fetch(`${a.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined };
  };
  const until = async <T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const startAgent = async (name: string, stateDir: string, server: string, joinToken?: string) => {
    const agent = new Agent({
      server,
      joinToken,
      name,
      stateDir,
      executors: ['docker_host'],
      noop: true,
      concurrency: 2,
      log: (m) => lines.push(`${name}: ${m}`),
    });
    await agent.start();
    agents.push(agent);
    return agent;
  };
  const joinToken = async () => (await call('POST', '/api/v1/agents/tokens', { expiresInSeconds: 600 })).body.token as string;
  const deploy = async (release: string, env: string) => {
    const r = await call('POST', '/api/v1/deployments', { releaseId: release, environmentId: env });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  };
  const job = async (id: string) => (await call('GET', `/api/v1/deployments/${id}`)).body;
  const finished = (id: string) =>
    until(`job ${id} to finish`, async () => ['succeeded', 'failed'].includes((await job(id)).status) && job(id));
  const noopRecord = async (dir: string, target: string) =>
    JSON.parse(await readFile(path.join(dir, 'noop-targets', `${target}.json`), 'utf8')) as {
      content: { writtenAt: string };
      contentHash: string;
    };
  const savedReports = async (dir: string) => (await readdir(path.join(dir, 'reports')).catch(() => [])).filter((f) => f.endsWith('.json'));
  const stickersOf = async (taskId: string) =>
    (await tdb.db.query('SELECT content_hash FROM version_stickers WHERE task_id = $1', [taskId])).rows.map((r) => r.content_hash);

  beforeAll(async () => {
    tdb = await createTestDb();
    token = (await bootstrap(tdb.db)).token!;
    [a, b] = [await replica(), await replica()];
    await call('POST', '/api/v1/components', { name: 'app', imageRepository: 'r.example.com/app' });
    for (const [name, d] of [
      ['v1', 'a'],
      ['v2', 'b'],
      ['v3', 'c'],
      ['v4', 'd'],
    ] as const) {
      const r = await call('POST', '/api/v1/releases', { name, components: [{ component: 'app', digest: `sha256:${d.repeat(64)}` }] });
      expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    }
    for (const env of ['one', 'two', 'three', 'four']) {
      const e = await call('POST', '/api/v1/environments', { name: env });
      const t = await call('POST', '/api/v1/targets', {
        name: `web-${env}`,
        environmentId: e.body.id,
        targetType: 'docker_host',
        connection: { dockerHost: 'unix:///nowhere.sock' },
        // web-four is not pinned: another agent takes it over there
        labels: env === 'four' ? {} : { agent: `edge-${env}` },
      });
      expect(t.status, JSON.stringify(t.body)).toBe(201);
    }
  });

  afterAll(async () => {
    for (const ag of agents) await ag.stop(1000);
    await Promise.all([a?.app.close(), b?.app.close()]);
  });

  it('a report cut off by a dying replica is retried to the other replica and lands once', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-one-'));
    a.cutReports = true;
    const agent = await startAgent('edge-one', dir, `${a.url},${b.url}`, await joinToken());
    const id = await deploy('v1', 'one');
    const done = await finished(id);
    a.cutReports = false;
    expect(done.status, JSON.stringify(done.tasks)).toBe('succeeded');
    const [task] = done.tasks;
    expect(task).toMatchObject({ attempt: 1, fencingToken: 1, status: 'succeeded' });
    expect(b.reportsAnswered).toBe(1); // the other replica took it, once
    expect(lines.some((l) => l.startsWith('edge-one:') && /report not delivered yet \(cannot reach/.test(l))).toBe(true);
    // target side: the one execution's record is the sticker the server holds
    const record = await noopRecord(dir, 'web-one');
    expect(await stickersOf(task.id)).toEqual([record.contentHash]);
    expect(await savedReports(dir)).toEqual([]);
    expect(agent.pendingReports).toBe(0);
    await agent.stop(1000);
  });

  it('a report saved while no replica answers survives an agent restart and is sent before anything is leased', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-two-'));
    a.cutReports = true;
    const first = await startAgent('edge-two', dir, a.url, await joinToken());
    const id = await deploy('v2', 'two');
    await until('the report saved on disk', async () => (await savedReports(dir)).length === 1);
    const record = await noopRecord(dir, 'web-two');
    await first.stop(300); // SIGTERM-like: the report stays on disk
    expect(await savedReports(dir)).toHaveLength(1);
    expect((await job(id)).tasks[0].status).toBe('running');
    a.cutReports = false;
    const before = a.reportsAnswered;
    const second = await startAgent('edge-two', dir, a.url); // same state dir: stored credential, new session
    const done = await finished(id);
    expect(done.status, JSON.stringify(done.tasks)).toBe('succeeded');
    expect(done.tasks[0]).toMatchObject({ attempt: 1, fencingToken: 1 }); // never leased again
    expect(a.reportsAnswered - before).toBe(1);
    expect(await noopRecord(dir, 'web-two')).toEqual(record); // ran once
    expect(await stickersOf(done.tasks[0].id)).toEqual([record.contentHash]);
    expect(await savedReports(dir)).toEqual([]);
    await second.stop(1000);
  });

  it('a re-leased task whose target already has the release reports success without acting', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-three-'));
    a.cutReports = true;
    const first = await startAgent('edge-three', dir, a.url, await joinToken());
    const id = await deploy('v3', 'three');
    await until('the report saved on disk', async () => (await savedReports(dir)).length === 1);
    const record = await noopRecord(dir, 'web-three');
    await first.stop(300);
    // The saved report is lost (a crash before it reached the disk would look the same).
    for (const f of await savedReports(dir)) await rm(path.join(dir, 'reports', f));
    a.cutReports = false;
    const second = await startAgent('edge-three', dir, a.url);
    const done = await finished(id);
    expect(done.status, JSON.stringify(done.tasks)).toBe('succeeded');
    expect(done.tasks[0]).toMatchObject({ attempt: 2, fencingToken: 2 });
    expect(await noopRecord(dir, 'web-three')).toEqual(record); // not written again: the effect ran once
    expect(await stickersOf(done.tasks[0].id)).toEqual([record.contentHash]);
    const all = (await call('GET', `/api/v1/deployments/${id}/logs`)).body.lines as { attempt: number; line: string }[];
    const logs = all.map((l) => l.line);
    expect(logs.some((l: string) => /observing web-three before acting/.test(l))).toBe(true);
    expect(logs.some((l: string) => /already runs app@sha256:c+, healthy: nothing to do/.test(l))).toBe(true);
    // Attempt 2 did not deploy. (Attempt 1's last lines travelled with its lost report: batched reports carry them.)
    expect(all.filter((l) => l.attempt === 2 && l.line.startsWith('noop: would deploy'))).toHaveLength(0);
    await second.stop(1000);
  });

  it('refuses a report under a lease that was taken over, and the agent drops it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-four-'));
    a.cutReports = true;
    const first = await startAgent('edge-four', dir, a.url, await joinToken());
    const id = await deploy('v4', 'four');
    await until('the report saved on disk', async () => (await savedReports(dir)).length === 1);
    const creds = JSON.parse(await readFile(path.join(dir, 'agent.json'), 'utf8')) as { agentId: string; credential: string };
    const [saved] = await savedReports(dir);
    const pending = JSON.parse(await readFile(path.join(dir, 'reports', saved!), 'utf8'));
    await first.stop(300);
    // The lease runs out and another agent leases the task.
    const held = (await job(id)).tasks[0];
    clock.advance((SETTINGS.leaseSeconds + 1) * 1000);
    expect(await expireLeases(tdb.db, clock.now(), { signer })).toBe(1);
    const reg = await fetch(`${a.url}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-token': await joinToken() },
      body: JSON.stringify({ name: 'edge-four-b', capabilities: { executors: ['docker_host'] } }),
    });
    const other = (await reg.json()) as { agentId: string; credential: string };
    await call('POST', `/api/v1/agents/${other.agentId}/heartbeat`, { sessionId: 'edge-four-b-1' }, other.credential);
    const lease = await call('POST', `/api/v1/agents/${other.agentId}/tasks/lease`, { max: 1 }, other.credential);
    expect(lease.body.tasks[0]).toMatchObject({ taskId: held.id, attempt: 2, fencingToken: 2 });
    const base = `/api/v1/agents/${creds.agentId}/tasks`;
    a.cutReports = false;
    // The stale report: a 409 problem that says what happened and what to do.
    const stale = await call('POST', `${base}/${held.id}/report`, pending.report, creds.credential);
    expect(stale.status).toBe(409);
    expect(stale.type).toContain('application/problem+json');
    expect(stale.body).toMatchObject({ code: 'lease_superseded' });
    expect(stale.body.detail).toMatch(/leased again \(fencing token 2 is current; this request carries 1\).*Stop acting on it/);
    // The agent's own retry of it, after a restart, is refused the same way and dropped.
    const second = await startAgent('edge-four', dir, a.url);
    await until('the saved report dropped', async () => (await savedReports(dir)).length === 0);
    expect(lines.some((l) => l.startsWith('edge-four:') && /report refused \(Task .* was leased again/.test(l))).toBe(true);
    await second.stop(1000);
    // The current holder reports; the same report again gets the same answer; a different one is refused.
    const current = lease.body.tasks[0];
    const otherBase = `/api/v1/agents/${other.agentId}/tasks/${held.id}`;
    const good = { attempt: 2, fencingToken: 2, status: 'succeeded', sticker: stickerFor(current, clock.now()) };
    expect((await call('POST', `${otherBase}/report`, good, other.credential)).status).toBe(200);
    expect((await call('POST', `${otherBase}/report`, good, other.credential)).status).toBe(200);
    const changed = await call('POST', `${otherBase}/report`, { ...good, status: 'failed', error: 'x' }, other.credential);
    expect(changed).toMatchObject({ status: 409, body: { code: 'report_conflict' } });
    const done = await finished(id);
    expect(done.status).toBe('succeeded');
    expect(await stickersOf(held.id)).toEqual([good.sticker.contentHash]);
  });
});
