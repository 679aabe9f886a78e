// The batched task requests of the agent protocol (…/tasks/start, …/tasks/report): each item is checked
// like its single-task request and answered on its own, so one refused item leaves the others' work standing,
// and an agent can never start or report a task leased to another agent.
import { beforeAll, describe, expect, it } from 'vitest';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { stickerFor } from '../protocol/deployment.js';

let f: PromotionFixture;
type Agent = { id: string; credential: string };

async function register(name: string): Promise<Agent> {
  const tok = (await f.call('admin', 'POST', '/api/v1/agents/tokens', {})).body.token;
  const reg = await f.app.inject({
    method: 'POST',
    url: '/api/v1/agents/register',
    headers: { 'x-agent-token': tok, 'content-type': 'application/json' },
    payload: JSON.stringify({ name, capabilities: { executors: ['docker_host'] } }),
  });
  const r = reg.json() as { agentId: string; credential: string };
  const agent = { id: r.agentId, credential: r.credential };
  expect((await post(agent, 'heartbeat', { sessionId: `${name}-session` })).statusCode).toBe(200);
  return agent;
}

function post(agent: Agent, path: string, body: unknown) {
  return f.app.inject({
    method: 'POST',
    url: `/api/v1/agents/${agent.id}/${path}`,
    headers: { authorization: `Bearer ${agent.credential}`, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
}

describe('batched task starts and reports', () => {
  let a: Agent;
  let b: Agent;
  // any: lease answers are read as plain JSON
  let tasks: any[];

  beforeAll(async () => {
    f = await promotionFixture({});
    const env = await f.call('admin', 'POST', '/api/v1/environments', { name: 'batch' });
    expect(env.status).toBe(201);
    for (const name of ['batch-1', 'batch-2', 'batch-3']) {
      const t = await f.call('admin', 'POST', '/api/v1/targets', {
        name,
        environmentId: env.body.id,
        targetType: 'docker_host',
        connection: { dockerHost: 'unix:///var/run/docker.sock' },
      });
      expect(t.status).toBe(201);
    }
    const release = await f.readyRelease('batch-v1', 'admin');
    const dep = await f.call('admin', 'POST', '/api/v1/deployments', {
      releaseId: release,
      environmentId: env.body.id,
      strategy: 'all_at_once',
    });
    expect(dep.status).toBe(201);
    a = await register('batch-a');
    b = await register('batch-b');
    const deadline = Date.now() + 20_000;
    tasks = [];
    while (tasks.length < 3 && Date.now() < deadline) {
      tasks.push(...(await post(a, 'tasks/lease', { max: 3 - tasks.length })).json().tasks);
      if (tasks.length < 3) await new Promise((r) => setTimeout(r, 100));
    }
    expect(tasks).toHaveLength(3);
  });

  it('starts each task on its own: a stale fencing token or another agent refuses only that item', async () => {
    const [t1, t2, t3] = tasks;
    const refusedToOther = await post(b, 'tasks/start', {
      tasks: [{ taskId: t1.taskId, attempt: t1.attempt, fencingToken: t1.fencingToken }],
    });
    expect(refusedToOther.statusCode).toBe(200);
    expect(refusedToOther.json().results).toEqual([expect.objectContaining({ taskId: t1.taskId, ok: false, status: 409 })]);

    // t3's lease ran out and it went back to the queue, leased by nobody since: its token still holds, and starting it takes it back.
    await f.db.query(
      `UPDATE deployment_tasks SET status = 'pending', agent_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
              error = 'lease expired; re-queued' WHERE id = $1`,
      [t3.taskId],
    );
    const started = await post(a, 'tasks/start', {
      tasks: [
        { taskId: t1.taskId, attempt: t1.attempt, fencingToken: t1.fencingToken },
        { taskId: t2.taskId, attempt: t2.attempt, fencingToken: t2.fencingToken + 1 },
        { taskId: t3.taskId, attempt: t3.attempt, fencingToken: t3.fencingToken },
      ],
    });
    expect(started.statusCode).toBe(200);
    const results = started.json().results;
    expect(results.map((r: { taskId: string }) => r.taskId)).toEqual([t1.taskId, t2.taskId, t3.taskId]);
    expect(results[0]).toEqual({ taskId: t1.taskId, ok: true });
    expect(results[1]).toMatchObject({ taskId: t2.taskId, ok: false, status: 409 });
    expect(results[1].detail).toBeTruthy();
    expect(results[2]).toEqual({ taskId: t3.taskId, ok: true });
    const rows = await f.db.query(
      'SELECT id, status, agent_id, lease_owner, error, lease_expires_at FROM deployment_tasks WHERE id = ANY($1)',
      [tasks.map((t) => t.taskId)],
    );
    const byId = new Map(rows.rows.map((r) => [r.id, r]));
    expect(byId.get(t1.taskId).status).toBe('running');
    expect(byId.get(t2.taskId).status).toBe('assigned');
    expect(byId.get(t3.taskId)).toMatchObject({ status: 'running', agent_id: a.id, lease_owner: `agent:${a.id}`, error: null });
    expect(byId.get(t3.taskId).lease_expires_at).not.toBeNull();
  });

  it('records each report with its log lines, refuses another agent’s, takes a re-sent report again and refuses a changed one', async () => {
    const [t1, , t3] = tasks;
    const report = (t: { taskId: string; attempt: number; fencingToken: string }, line: string) => ({
      taskId: t.taskId,
      lines: [{ seq: 0, at: new Date().toISOString(), line }],
      report: { attempt: t.attempt, fencingToken: t.fencingToken, status: 'succeeded', sticker: stickerFor(t as never, new Date()) },
    });
    const byOther = await post(b, 'tasks/report', { reports: [report(t1, 'from b')] });
    expect(byOther.json().results).toEqual([expect.objectContaining({ taskId: t1.taskId, ok: false, status: 409 })]);

    const one = report(t1, 'one done');
    const sent = await post(a, 'tasks/report', { reports: [one, report(t3, 'three done')] });
    expect(sent.statusCode).toBe(200);
    expect(sent.json().results).toEqual([
      { taskId: t1.taskId, ok: true },
      { taskId: t3.taskId, ok: true },
    ]);
    const again = await post(a, 'tasks/report', { reports: [one] });
    expect(again.json().results).toEqual([{ taskId: t1.taskId, ok: true }]);
    const changed = await post(a, 'tasks/report', { reports: [{ ...one, report: { ...one.report, status: 'failed', error: 'no' } }] });
    expect(changed.json().results).toEqual([
      expect.objectContaining({ taskId: t1.taskId, ok: false, status: 409, code: 'report_conflict' }),
    ]);

    const rows = await f.db.query('SELECT id, status FROM deployment_tasks WHERE id = ANY($1)', [[t1.taskId, t3.taskId]]);
    expect(rows.rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    const logs = await f.db.query('SELECT task_id, line FROM job_logs WHERE task_id = ANY($1) ORDER BY line', [[t1.taskId, t3.taskId]]);
    expect(logs.rows.map((r) => r.line)).toEqual(['one done', 'three done']);
  });

  it('checks every report of a batch on its own: a bad sticker hash is refused, the same report twice is recorded once, and each target gets its outcome', async () => {
    const [t1, t2, t3] = tasks;
    const badSticker = await post(a, 'tasks/report', {
      reports: [
        {
          taskId: t2.taskId,
          lines: [{ seq: 0, at: new Date().toISOString(), line: 'not stored' }],
          report: {
            attempt: t2.attempt,
            fencingToken: t2.fencingToken,
            status: 'succeeded',
            sticker: { content: { digest: 'x' }, contentHash: `sha256:${'0'.repeat(64)}` },
          },
        },
      ],
    });
    expect(badSticker.json().results).toEqual([expect.objectContaining({ taskId: t2.taskId, ok: false, status: 400 })]);
    const before = await f.db.query('SELECT status FROM deployment_tasks WHERE id = $1', [t2.taskId]);
    expect(before.rows[0].status).toBe('assigned');

    const failure = {
      taskId: t2.taskId,
      lines: [{ seq: 0, at: new Date().toISOString(), line: 'two failed' }],
      report: { attempt: t2.attempt, fencingToken: t2.fencingToken, status: 'failed', error: 'boom', health: { probe: 'down' } },
    };
    const twice = await post(a, 'tasks/report', { reports: [failure, failure] });
    expect(twice.json().results).toEqual([
      { taskId: t2.taskId, ok: true },
      { taskId: t2.taskId, ok: true },
    ]);
    const task = await f.db.query('SELECT status, error, health, logs FROM deployment_tasks WHERE id = $1', [t2.taskId]);
    expect(task.rows[0]).toMatchObject({ status: 'failed', error: 'boom', health: { probe: 'down' } });
    expect(task.rows[0].logs).toMatch(/two failed$/);
    const lines = await f.db.query('SELECT line FROM job_logs WHERE task_id = $1', [t2.taskId]);
    expect(lines.rows.map((r) => r.line)).toEqual(['two failed']);

    const targets = await f.db.query(
      `SELECT t.id AS task_id, g.health_status, g.current_release_id, g.current_digest,
              (SELECT count(*)::int FROM version_stickers s WHERE s.task_id = t.id) AS stickers
         FROM deployment_tasks t JOIN targets g ON g.id = t.target_id WHERE t.id = ANY($1)`,
      [[t1.taskId, t2.taskId, t3.taskId]],
    );
    const byTask = new Map(targets.rows.map((r) => [r.task_id, r]));
    for (const t of [t1, t3]) {
      expect(byTask.get(t.taskId)).toMatchObject({ health_status: 'healthy', stickers: 1 });
      expect(byTask.get(t.taskId).current_release_id).toBe(t.release.id);
      expect(byTask.get(t.taskId).current_digest).toMatch(/^sha256:/);
    }
    expect(byTask.get(t2.taskId)).toMatchObject({ health_status: 'unhealthy', current_release_id: null, stickers: 0 });
  });
});
