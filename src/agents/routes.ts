// HTTP routes for agents (read-only until agent registration lands).
import { pageOf, pageQuery } from '../http/pagination.js';
import { type App, type Deps, READ } from '../http/types.js';
import { withTenant } from '../store/db.js';
import { caller } from '../tenancy/auth.js';
import * as m from './model.js';
import * as svc from './service.js';

export function agentRoutes(app: App, { db }: Deps): void {
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
}
