// HTTP routes for agents as operators see them: list, get, join tokens, revocation.
import { caller } from '../http/caller.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import { withTenant } from '../store/db.js';
import { createJoinToken } from './credentials.js';
import * as m from './model.js';
import * as svc from './service.js';

export function agentRoutes(app: App, { db, clock }: Deps): void {
  const tags = ['agents'];
  app.get(
    '/api/v1/agents',
    {
      config: { access: READ },
      schema: { tags, summary: 'List agents', querystring: pageQuery, response: { 200: pageOf(m.agent) } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listAgents(tx, req.query.limit, req.query.cursor)),
  );

  app.get(
    '/api/v1/agents/:ref',
    {
      config: { access: READ },
      schema: { tags, summary: 'Get an agent by id or name', params: m.agentRef, response: { 200: m.agent } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getAgent(tx, req.params.ref)),
  );

  app.post(
    '/api/v1/agents/tokens',
    {
      config: { access: ADMIN },
      schema: {
        tags,
        summary: 'Create a one-time join token for a new agent',
        body: m.joinTokenCreate,
        response: { 201: m.joinTokenCreated },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const t = await withTenant(db, a.tenantId, (tx) => createJoinToken(tx, a.tenantId, a.userId, req.body, clock.now()));
      return reply.status(201).send(t);
    },
  );

  app.post(
    '/api/v1/agents/:ref/revoke',
    {
      config: { access: ADMIN },
      schema: {
        tags,
        summary: 'Revoke an agent (its credentials and client certificates stop working, its tasks are re-queued), or one certificate',
        description:
          'Takes effect on the next agent-protocol request, on every replica: requests with a revoked credential get 403 agent_revoked, requests presenting a revoked client certificate 403 agent_certificate_revoked (registration included).',
        params: m.agentRef,
        body: m.revokeBody,
        response: { 200: m.agent },
      },
    },
    async (req) => {
      const tenantId = caller(req).tenantId;
      return withTenant(db, tenantId, (tx) => svc.revokeAgent(tx, tenantId, req.params.ref, clock.now(), req.body?.certificate));
    },
  );
}
