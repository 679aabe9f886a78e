// HTTP routes for agents as operators see them: list, get, join tokens, revocation.
import { resourceRoutes, tenantRoute } from '../http/resource.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import { createJoinToken } from './credentials.js';
import * as m from './model.js';
import * as svc from './service.js';

export function agentRoutes(app: App, { db, clock }: Deps): void {
  const tags = ['agents'];
  // Agents register themselves over the agent protocol; operators list, read and revoke them.
  resourceRoutes(app, db, {
    path: '/api/v1/agents',
    tags,
    access: { read: READ, write: ADMIN },
    item: m.agent,
    ref: m.agentRef,
    list: { summary: 'List agents', run: (tx, q) => svc.listAgents(tx, q.limit, q.cursor) },
    get: { summary: 'Get an agent by id or name', run: (tx, { ref }) => svc.getAgent(tx, ref) },
  });

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/agents/tokens',
      access: ADMIN,
      tags,
      summary: 'Create a one-time join token for a new agent',
      body: m.joinTokenCreate,
      response: { 201: m.joinTokenCreated },
      status: 201,
    },
    (tx, req, a) => createJoinToken(tx, a.tenantId, a.userId, req.body, clock.now()),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/agents/:ref/revoke',
      access: ADMIN,
      tags,
      summary: 'Revoke an agent (its credentials and client certificates stop working, its tasks are re-queued), or one certificate',
      description:
        'Takes effect on the next agent-protocol request, on every replica: requests with a revoked credential get 403 agent_revoked, requests presenting a revoked client certificate 403 agent_certificate_revoked (registration included).',
      params: m.agentRef,
      body: m.revokeBody,
      response: { 200: m.agent },
    },
    (tx, req, a) => svc.revokeAgent(tx, a.tenantId, req.params.ref, clock.now(), req.body?.certificate),
  );
}
