// A scripted agent for server-side tests: it joins with a join token and speaks the real agent protocol
// over HTTP (lease, start, logs, report), but instead of touching Docker it reports what the test says.
import { type AgentTask, stickerFor } from '../src/protocol/deployment.js';
import type { TrafficChange, TrafficReport } from '../src/protocol/traffic.js';

export interface ScriptedAgent {
  id: string;
  /** The agent's credential (for protocol calls the script does itself, e.g. observations). */
  credential: string;
  /** Leases what is pending for it now. */
  lease(max?: number): Promise<AgentTask[]>;
  start(task: AgentTask): Promise<number>;
  log(task: AgentTask, lines: string[]): Promise<number>;
  report(task: AgentTask, status: 'succeeded' | 'failed', error?: string): Promise<number>;
  /** Leases the traffic changes pending for it (agents registered with the action "route"). */
  leaseTraffic(): Promise<TrafficChange[]>;
  reportTraffic(change: TrafficChange, report: Omit<TrafficReport, 'attempt' | 'log'>): Promise<number>;
  /** Leases, starts and reports success for every task it gets until stop() (for end-to-end flows). */
  run(pollMs?: number): { stop(): Promise<void> };
}

// any: JSON answers of the protocol
async function call(base: string, method: string, path: string, credential: string | undefined, body: unknown, headers = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(credential ? { authorization: `Bearer ${credential}` } : {}), ...headers },
    body: JSON.stringify(body ?? {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
}

/** Registers an agent named `name` serving docker_host targets through the server at `base` (admin token for the join token). */
export async function scriptedAgent(base: string, adminToken: string, name: string, actions?: string[]): Promise<ScriptedAgent> {
  const tok = await call(base, 'POST', '/api/v1/agents/tokens', adminToken, { expiresInSeconds: 600 });
  if (tok.status !== 201) throw new Error(`join token: ${JSON.stringify(tok.body)}`);
  const reg = await call(
    base,
    'POST',
    '/api/v1/agents/register',
    undefined,
    { name, capabilities: { executors: ['docker_host'], ...(actions ? { actions } : {}) } },
    { 'x-agent-token': tok.body.token },
  );
  if (reg.status !== 201) throw new Error(`register: ${JSON.stringify(reg.body)}`);
  const id: string = reg.body.agentId;
  const cred: string = reg.body.credential;
  await call(base, 'POST', `/api/v1/agents/${id}/heartbeat`, cred, { sessionId: `session-${name}-1` });
  const tasks = `/api/v1/agents/${id}/tasks`;
  const agent: ScriptedAgent = {
    id,
    credential: cred,
    async lease(max = 10) {
      const r = await call(base, 'POST', `${tasks}/lease`, cred, { max });
      return (r.body?.tasks ?? []) as AgentTask[];
    },
    async leaseTraffic() {
      const r = await call(base, 'POST', `${tasks}/lease`, cred, { max: 1 });
      return (r.body?.traffic ?? []) as TrafficChange[];
    },
    async reportTraffic(change, report) {
      return (await call(base, 'POST', `/api/v1/agents/${id}/traffic/${change.id}/report`, cred, { attempt: change.attempt, ...report }))
        .status;
    },
    async start(task) {
      return (await call(base, 'POST', `${tasks}/${task.taskId}/start`, cred, { attempt: task.attempt, fencingToken: task.fencingToken }))
        .status;
    },
    async log(task, lines) {
      const at = new Date().toISOString();
      const body = { attempt: task.attempt, fencingToken: task.fencingToken, lines: lines.map((line, seq) => ({ seq, at, line })) };
      return (await call(base, 'POST', `${tasks}/${task.taskId}/logs`, cred, body)).status;
    },
    async report(task, status, error) {
      const body =
        status === 'succeeded'
          ? { attempt: task.attempt, fencingToken: task.fencingToken, status, sticker: stickerFor(task, new Date()) }
          : { attempt: task.attempt, fencingToken: task.fencingToken, status, error: error ?? 'failed' };
      return (await call(base, 'POST', `${tasks}/${task.taskId}/report`, cred, body)).status;
    },
    run(pollMs = 50) {
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          for (const t of await agent.lease().catch(() => [])) {
            await agent.start(t);
            await agent.report(t, 'succeeded');
          }
          await new Promise((r) => setTimeout(r, pollMs));
        }
      })();
      return {
        async stop() {
          stopped = true;
          await loop;
        },
      };
    },
  };
  return agent;
}
