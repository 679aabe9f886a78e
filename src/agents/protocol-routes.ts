// The agent protocol over HTTP: registration with a one-time join token (X-Agent-Token), and the routes an
// agent calls with its own credential: heartbeat, credential rotation, task lease/start/logs/report, and
// drift observations. Users' tokens do not work here and agent credentials work nowhere else.
// A lease request may wait for work (a long poll woken by the tenant's gantry_work notifications, holding
// no database connection while it waits); starts and reports also come in batches (lease-batch.ts).
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, GantryError } from '../core/errors.js';
import { appendLogs, leaseTasks, type Runner, reportTask, startTask } from '../deployments/lease.js';
import { reportTasks, startTasks } from '../deployments/lease-batch.js';
import { signerOf } from '../deployments/routes.js';
import type { DeploymentSettings } from '../deployments/settings.js';
import { recordObservation } from '../drift/service.js';
import type { App, Deps } from '../http/types.js';
import { leaseTrafficChanges, reportTrafficChange } from '../progressive/traffic-queue.js';
import { agentTask, observationIn, taskReport } from '../protocol/deployment.js';
import { trafficChange, trafficReport } from '../protocol/traffic.js';
import { withSystem } from '../store/db.js';
import { type ClientCertificate, certificateOf, refuseRevoked, rememberCertificate } from './certificates.js';
import { type AgentAuth, type AgentCapabilities, AgentTokenError, authenticateAgent, register, rotateCredential } from './credentials.js';
import { heartbeat } from './liveness.js';
import * as m from './model.js';

const agentParam = z.strictObject({ ref: z.uuid() });
const taskParam = z.strictObject({ ref: z.uuid(), taskId: z.uuid() });
const fencingToken = z.number().int().min(1).describe('The fencing token of the lease (from the lease answer).');
const attemptBody = z.strictObject({ attempt: z.number().int().min(1), fencingToken });
const logsBody = z.strictObject({
  attempt: z.number().int().min(1),
  fencingToken,
  lines: z.array(z.object({ seq: z.number().int().min(0), at: z.string(), line: z.string().max(10_000) })).max(1000),
});
const ok = z.object({ ok: z.boolean() });
const itemResults = z.object({
  results: z.array(
    z.object({
      taskId: z.uuid(),
      ok: z.boolean(),
      status: z.number().int().optional().describe('When refused: the HTTP status the single-task request would have answered.'),
      code: z.string().optional(),
      detail: z.string().optional(),
    }),
  ),
});
/** The longest a lease request waits for work: under the agent's 30 s request timeout and common proxies' idle timeouts. */
const MAX_WAIT_SECONDS = 25;
/** What the server tells agents in the heartbeat answer that it supports beyond the first protocol. */
const FEATURES = ['lease_wait', 'task_batches'];

declare module 'fastify' {
  interface FastifyRequest {
    agent: AgentAuth | undefined;
    /** The verified client certificate of an agent-protocol request under mutual TLS. */
    clientCertificate: ClientCertificate | undefined;
  }
}

/** Mutual TLS on the agent protocol: a request without a client certificate verified against the client CA gets 401. */
export class ClientCertificateError extends GantryError {
  constructor(message: string) {
    super('client_certificate_required', 401, message);
  }
}

/** Tells a waiting lease request that its tenant may have work (the change hub's gantry_work feed). */
export interface WorkSignal {
  subscribeWork(tenantId: string, fn: () => void): Promise<() => void>;
}

export interface AgentProtocolOptions {
  /** The server asks for client certificates (GANTRY_TLS_CLIENT_CA_FILE): agent routes require a verified one. */
  requireClientCert?: boolean;
  /** Wakes waiting lease requests; without it a waiting request looks for work every poll interval. */
  work?: WorkSignal;
}

export function agentProtocolRoutes(app: App, deps: Deps, settings: DeploymentSettings, opts: AgentProtocolOptions = {}): void {
  const { db, clock } = deps;
  const tags = ['agent protocol'];
  app.decorateRequest('agent', undefined);
  app.decorateRequest('clientCertificate', undefined);
  /** Agent/certificate pairs this process has recorded (rememberCertificate). */
  const seenCertificates = new Set<string>();

  /**
   * onRequest: checked before anything else, so a join token is never spent over a connection without a
   * client certificate, or with a revoked one (read from the database on every request: no stale cache).
   */
  const clientCert = async (req: FastifyRequest) => {
    if (!opts.requireClientCert) return;
    const socket = req.raw.socket as Partial<TLSSocket>;
    // Both: Node reports a resumed TLS 1.3 session that never had a client certificate as authorized.
    const cert = socket.authorized === true ? certificateOf(socket) : undefined;
    if (cert) {
      await refuseRevoked(db, cert);
      req.clientCertificate = cert;
      return;
    }
    const why = socket.authorizationError ? ` (${String(socket.authorizationError)})` : '';
    throw new ClientCertificateError(
      `This server requires agents to present a client certificate signed by its client CA${why}: start the agent with --cert and --key (env GANTRY_AGENT_CERT_FILE, GANTRY_AGENT_KEY_FILE).`,
    );
  };

  /** Authenticates the agent credential (onRequest: before the body is read, so strangers get 401, never 400) and checks the path names the same agent. */
  const asAgent = async (req: FastifyRequest) => {
    const auth = await authenticateAgent(db, req.headers.authorization);
    const { ref } = req.params as { ref?: string };
    if (ref !== auth.agentId) throw new ForbiddenError('An agent may only act as itself.');
    req.agent = auth;
    if (req.clientCertificate) await rememberCertificate(db, auth, req.clientCertificate, seenCertificates);
  };
  const agentOf = (req: FastifyRequest): AgentAuth => req.agent!;
  const runnerOf = async (a: AgentAuth): Promise<Runner> => {
    // Read with the credential (authenticateAgent): no statement of its own per request.
    const capabilities =
      a.capabilities ??
      (await db.query<{ capabilities: AgentCapabilities }>('SELECT capabilities FROM agents WHERE id = $1', [a.agentId])).rows[0]
        ?.capabilities;
    const actions = capabilities?.actions;
    return {
      agentId: a.agentId,
      agentName: a.name,
      tenantId: a.tenantId,
      owner: `agent:${a.agentId}`,
      targetTypes: capabilities?.executors ?? [],
      // Agents that predate removal tasks would deploy them instead: only those that declare it get them.
      removes: Array.isArray(actions) && actions.includes('remove'),
      routes: Array.isArray(actions) && actions.includes('route'),
    };
  };
  const agentConfig = { access: 'agent' as const };
  /** Waiting lease requests, woken when the server closes so that closing does not wait out their waits. */
  const waiting = new Set<() => void>();
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    for (const wake of [...waiting]) wake();
  });

  app.post(
    '/api/v1/agents/register',
    {
      config: agentConfig,
      onRequest: [
        clientCert,
        async (req) => {
          if (typeof req.headers['x-agent-token'] !== 'string' || !req.headers['x-agent-token']) {
            throw new AgentTokenError('Send the join token in the X-Agent-Token header (gantry agent token create).');
          }
        },
      ],
      schema: {
        tags,
        summary: 'Register an agent with a one-time join token (header X-Agent-Token)',
        headers: z.looseObject({ 'x-agent-token': z.string().min(1).max(200).optional() }),
        body: m.registerBody,
        response: { 201: m.registered },
      },
    },
    async (req, reply) => {
      const token = req.headers['x-agent-token'];
      if (typeof token !== 'string' || !token) throw new AgentTokenError('Send the join token in the X-Agent-Token header.');
      const r = await register(db, token, req.body, clock.now());
      if (req.clientCertificate) {
        await rememberCertificate(db, { ...r, sessionId: null }, req.clientCertificate, seenCertificates);
      }
      return reply.status(201).send({ ...r, heartbeatInterval: settings.heartbeatSeconds, taskPollInterval: settings.pollSeconds });
    },
  );

  app.post(
    '/api/v1/agents/:ref/heartbeat',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: { tags, summary: 'Agent heartbeat', params: agentParam, body: m.heartbeatBody, response: { 200: m.heartbeatReply } },
    },
    async (req) => ({ ...(await heartbeat(db, agentOf(req), req.body, clock.now(), settings)), features: FEATURES }),
  );

  app.post(
    '/api/v1/agents/:ref/rotate',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: {
        tags,
        summary: 'Rotate the agent credential (the old one stops working)',
        params: agentParam,
        response: { 200: m.rotated },
      },
    },
    async (req) => ({ credential: await rotateCredential(db, agentOf(req), clock.now()) }),
  );

  app.post(
    '/api/v1/agents/:ref/tasks/lease',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: {
        tags,
        summary: 'Lease pending tasks this agent can run, and traffic changes for the routers of its targets',
        description:
          'Agents that declare the action "route" also get the traffic changes of progressive rollouts on the targets they serve (applied with their router, reported to …/traffic/{changeId}/report).',
        params: agentParam,
        body: z.strictObject({
          max: z.number().int().min(1).max(100).default(1),
          wait: z
            .number()
            .min(0)
            .max(60)
            .optional()
            .describe(
              `Seconds to wait for work when there is none now (long poll; at most ${MAX_WAIT_SECONDS} are used). The answer comes as soon as work is leased, or empty when the wait ends. Default 0: answer at once.`,
            ),
        }),
        response: { 200: z.object({ tasks: z.array(agentTask), leaseSeconds: z.number(), traffic: z.array(trafficChange).default([]) }) },
      },
    },
    async (req, reply) => {
      const auth = agentOf(req);
      const runner = await runnerOf(auth);
      const leaseNow = async () => {
        const tasks = await leaseTasks(db, runner, req.body.max, clock.now(), settings.leaseSeconds);
        const traffic = runner.routes ? await leaseTrafficChanges(db, runner, clock.now()) : [];
        return { tasks, leaseSeconds: settings.leaseSeconds, traffic };
      };
      const waitMs = Math.min(req.body.wait ?? 0, MAX_WAIT_SECONDS) * 1000;
      if (waitMs <= 0 || closing) return leaseNow();
      // Subscribed before looking, so work announced between the look and the wait is not missed.
      let woken = false;
      let wake = () => {};
      const onWork = () => {
        woken = true;
        wake();
      };
      const unsubscribe = await opts.work?.subscribeWork(auth.tenantId, onWork).catch((err: unknown) => {
        req.log.warn({ err }, 'work notifications unavailable; a waiting lease request looks every poll interval');
        return undefined;
      });
      let gone = false;
      const onClose = () => {
        gone = !reply.raw.writableEnded;
        onWork();
      };
      reply.raw.once('close', onClose);
      const deadline = Date.now() + waitMs;
      try {
        for (;;) {
          woken = false;
          const got = await leaseNow();
          if (got.tasks.length || got.traffic.length || closing || gone || Date.now() >= deadline) return got;
          // No database connection is held while waiting: each look is its own short query.
          await new Promise<void>((resolve) => {
            if (woken) return resolve();
            const ms = Math.min(deadline - Date.now(), unsubscribe ? Number.POSITIVE_INFINITY : settings.pollSeconds * 1000);
            const timer = setTimeout(done, ms);
            function done() {
              clearTimeout(timer);
              waiting.delete(done);
              wake = () => {};
              resolve();
            }
            wake = done;
            waiting.add(done);
          });
          // The agent hung up: leasing now would hand tasks to nobody.
          if (gone) return { tasks: [], leaseSeconds: settings.leaseSeconds, traffic: [] };
        }
      } finally {
        unsubscribe?.();
        reply.raw.off('close', onClose);
      }
    },
  );

  app.post(
    '/api/v1/agents/:ref/tasks/start',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: {
        tags,
        summary: 'Mark several leased tasks running (one answer per task)',
        description:
          'The batch form of …/tasks/{taskId}/start: one transaction; each task is checked like a single start and answered ok or with the problem a single start would have got (e.g. 409 lease_superseded), which leaves the others started.',
        params: agentParam,
        body: z.strictObject({
          tasks: z
            .array(z.strictObject({ taskId: z.uuid(), attempt: z.number().int().min(1), fencingToken }))
            .min(1)
            .max(100),
        }),
        response: { 200: itemResults },
      },
    },
    async (req) => ({
      results: await startTasks(db, await runnerOf(agentOf(req)), req.body.tasks, clock.now(), settings.leaseSeconds),
    }),
  );

  app.post(
    '/api/v1/agents/:ref/tasks/report',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: {
        tags,
        summary: 'Report the outcomes of several tasks, each with its last log lines (one answer per task)',
        description:
          'The batch form of …/tasks/{taskId}/logs followed by …/tasks/{taskId}/report: one transaction; each report is checked and recorded like a single one (idempotent when re-sent) and answered ok or with the problem a single report would have got (409 lease_superseded, 409 lease_lost…), which leaves the others recorded.',
        params: agentParam,
        body: z.strictObject({
          reports: z
            .array(z.strictObject({ taskId: z.uuid(), lines: logsBody.shape.lines.default([]), report: taskReport }))
            .min(1)
            .max(100),
        }),
        response: { 200: itemResults },
      },
    },
    async (req) => ({
      results: await reportTasks(db, await runnerOf(agentOf(req)), req.body.reports, { signer: signerOf(deps), db }),
    }),
  );

  app.post(
    '/api/v1/agents/:ref/traffic/:changeId/report',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: {
        tags,
        summary:
          'Report a traffic change: applied (with the distribution the router serves) or failed (the router kept its previous split)',
        params: z.strictObject({ ref: z.uuid(), changeId: z.uuid() }),
        body: trafficReport,
        response: { 200: ok },
      },
    },
    async (req) => {
      await reportTrafficChange(db, await runnerOf(agentOf(req)), req.params.changeId, req.body, clock.now());
      return { ok: true };
    },
  );

  app.post(
    '/api/v1/agents/:ref/tasks/:taskId/start',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: { tags, summary: 'Mark a leased task running', params: taskParam, body: attemptBody, response: { 200: ok } },
    },
    async (req) => {
      await startTask(db, await runnerOf(agentOf(req)), req.params.taskId, req.body, clock.now(), settings.leaseSeconds);
      return { ok: true };
    },
  );

  app.post(
    '/api/v1/agents/:ref/tasks/:taskId/logs',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: { tags, summary: 'Append log lines (renews the lease)', params: taskParam, body: logsBody, response: { 200: ok } },
    },
    async (req) => {
      await appendLogs(
        db,
        await runnerOf(agentOf(req)),
        req.params.taskId,
        { attempt: req.body.attempt, fencingToken: req.body.fencingToken },
        req.body.lines,
        clock.now(),
        settings.leaseSeconds,
      );
      return { ok: true };
    },
  );

  app.post(
    '/api/v1/agents/:ref/tasks/:taskId/report',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: {
        tags,
        summary: 'Report the outcome of a task (idempotent: a re-sent report gets the same answer)',
        description:
          "Refused with 409 lease_superseded when the fencing token is not the task's current one (it was leased again), and 409 lease_lost when the task ended without this report (cancelled, failed after its attempts).",
        params: taskParam,
        body: taskReport,
        response: { 200: ok },
      },
    },
    async (req) => {
      await reportTask(db, await runnerOf(agentOf(req)), req.params.taskId, req.body, { signer: signerOf(deps), db });
      return { ok: true };
    },
  );

  app.post(
    '/api/v1/agents/:ref/observations',
    {
      config: agentConfig,
      onRequest: [clientCert, asAgent],
      schema: {
        tags,
        summary: 'Report what runs on targets (drift checks)',
        params: agentParam,
        body: z.strictObject({ observations: z.array(observationIn).max(1000) }),
        response: { 200: z.object({ drifted: z.number() }) },
      },
    },
    async (req) => {
      const a = agentOf(req);
      let drifted = 0;
      for (const o of req.body.observations) {
        const items = await withSystem(db, (tx) => recordObservation(tx, a.tenantId, o, clock.now()));
        if (items?.length) drifted++;
      }
      return { drifted };
    },
  );
}
