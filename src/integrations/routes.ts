// HTTP routes for integrations (registries, secret stores, webhooks).
import { caller } from '../http/caller.js';
import { denyingOutbound } from '../http/outbound.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import { withTenant } from '../store/db.js';
import * as m from './model.js';
import { secretAccessOf } from './secrets.js';
import * as svc from './service.js';

export function integrationRoutes(app: App, { db, secrets, outbound }: Deps): void {
  const access = () => secrets ?? secretAccessOf(db);
  const tags = ['integrations'];
  // Every integration type's URL (url, or address for Vault) is fetched by the server: a literal forbidden
  // address is refused on save (422 naming the field); names are checked when connecting.
  const checkUrls = (config: Record<string, unknown> | undefined) => {
    for (const key of ['url', 'address']) {
      const v = config?.[key];
      if (typeof v === 'string') (outbound ?? denyingOutbound()).checkUrl(v, `body.config.${key}`);
    }
  };
  app.get(
    '/api/v1/integrations',
    {
      config: { access: READ },
      schema: { tags, summary: 'List integrations', querystring: pageQuery, response: { 200: pageOf(m.integration) } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listIntegrations(tx, req.query.limit, req.query.cursor)),
  );

  app.get(
    '/api/v1/integrations/:ref',
    {
      config: { access: READ },
      schema: { tags, summary: 'Get an integration by id or name', params: m.integrationRef, response: { 200: m.integration } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getIntegration(tx, req.params.ref)),
  );

  app.post(
    '/api/v1/integrations',
    {
      config: { access: ADMIN },
      schema: { tags, summary: 'Create an integration', body: m.integrationCreate, response: { 201: m.integration } },
    },
    async (req, reply) => {
      const a = caller(req);
      checkUrls(req.body.config);
      const created = await withTenant(db, a.tenantId, (tx) => svc.createIntegration(tx, a.tenantId, req.body, access()));
      return reply.status(201).send(created);
    },
  );

  app.patch(
    '/api/v1/integrations/:ref',
    {
      config: { access: ADMIN },
      schema: {
        tags,
        summary: 'Change an integration (its type cannot change)',
        params: m.integrationRef,
        body: m.integrationUpdate,
        response: { 200: m.integration },
      },
    },
    async (req) => {
      checkUrls(req.body.config);
      return withTenant(db, caller(req).tenantId, (tx) => svc.updateIntegration(tx, req.params.ref, req.body, access()));
    },
  );

  app.delete(
    '/api/v1/integrations/:ref',
    {
      config: { access: ADMIN },
      schema: { tags, summary: 'Delete an integration (refused while components use it)', params: m.integrationRef },
    },
    async (req, reply) => {
      await withTenant(db, caller(req).tenantId, (tx) => svc.deleteIntegration(tx, req.params.ref));
      return reply.status(204).send();
    },
  );
}
