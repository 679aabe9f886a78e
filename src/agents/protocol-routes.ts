// The agent protocol over HTTP: registration with a one-time join token (X-Agent-Token), and the routes an
// agent calls with its own credential: heartbeat, credential rotation, task lease/start/logs/report, and
// drift observations. Users' tokens do not work here and agent credentials work nowhere else.
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, GantryError } from '../core/errors.js';
import { appendLogs, leaseTasks, type Runner, reportTask, startTask } from '../deployments/lease.js';
import { signerOf } from '../deployments/routes.js';
import type { DeploymentSettings } from '../deployments/settings.js';
import { recordObservation } from '../drift/service.js';
import type { App, Deps } from '../http/types.js';
import { leaseTrafficChanges, reportTrafficChange } from '../progressive/traffic-queue.js';
import { agentTask, observationIn, taskReport } from '../protocol/deployment.js';
import { trafficChange, trafficReport } from '../protocol/traffic.js';
import { withSystem } from '../store/db.js';
import { type ClientCertificate, certificateOf, refuseRevoked, rememberCertificate } from './certificates.js';
import { type AgentAuth, AgentTokenError, authenticateAgent, register, rotateCredential } from './credentials.js';
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

export interface AgentProtocolOptions {
  /** The server asks for client certificates (GANTRY_TLS_CLIENT_CA_FILE): agent routes require a verified one. */
  requireClientCert?: boolean;
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
    const r = await db.query<{ capabilities: { executors?: string[]; actions?: unknown } }>(
      'SELECT capabilities FROM agents WHERE id = $1',
      [a.agentId],
    );
    const actions = r.rows[0]?.capabilities.actions;
    return {
      agentId: a.agentId,
      agentName: a.name,
      tenantId: a.tenantId,
      owner: `agent:${a.agentId}`,
      targetTypes: r.rows[0]?.capabilities.executors ?? [],
      // Agents that predate removal tasks would deploy them instead: only those that declare it get them.
      removes: Array.isArray(actions) && actions.includes('remove'),
      routes: Array.isArray(actions) && actions.includes('route'),
    };
  };
  const agentConfig = { access: 'agent' as const };

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
    async (req) => heartbeat(db, agentOf(req), req.body, clock.now(), settings),
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
        body: z.strictObject({ max: z.number().int().min(1).max(100).default(1) }),
        response: { 200: z.object({ tasks: z.array(agentTask), leaseSeconds: z.number(), traffic: z.array(trafficChange).default([]) }) },
      },
    },
    async (req) => {
      const runner = await runnerOf(agentOf(req));
      const tasks = await leaseTasks(db, runner, req.body.max, clock.now(), settings.leaseSeconds);
      const traffic = runner.routes ? await leaseTrafficChanges(db, runner, clock.now()) : [];
      return { tasks, leaseSeconds: settings.leaseSeconds, traffic };
    },
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
