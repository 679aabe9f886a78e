// HTTP routes for components (deployable images).
import { caller } from '../http/caller.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import { withTenant } from '../store/db.js';
import * as m from './model.js';
import * as svc from './service.js';

export function componentRoutes(app: App, { db }: Deps): void {
  const tags = ['components'];
  app.get(
    '/api/v1/components',
    {
      config: { access: READ },
      schema: { tags, summary: 'List components', querystring: pageQuery, response: { 200: pageOf(m.component) } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listComponents(tx, req.query.limit, req.query.cursor)),
  );

  app.get(
    '/api/v1/components/:ref',
    {
      config: { access: READ },
      schema: { tags, summary: 'Get a component by id or name', params: m.componentRef, response: { 200: m.component } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getComponent(tx, req.params.ref)),
  );

  app.post(
    '/api/v1/components',
    {
      config: { access: RELEASE_WRITE },
      schema: { tags, summary: 'Create a component', body: m.componentCreate, response: { 201: m.component } },
    },
    async (req, reply) => {
      const a = caller(req);
      const created = await withTenant(db, a.tenantId, (tx) => svc.createComponent(tx, a.tenantId, req.body));
      return reply.status(201).send(created);
    },
  );

  app.patch(
    '/api/v1/components/:ref',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Change a component',
        params: m.componentRef,
        body: m.componentUpdate,
        response: { 200: m.component },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.updateComponent(tx, req.params.ref, req.body)),
  );

  app.delete(
    '/api/v1/components/:ref',
    {
      config: { access: RELEASE_WRITE },
      schema: { tags, summary: 'Delete a component and its version map', params: m.componentRef },
    },
    async (req, reply) => {
      await withTenant(db, caller(req).tenantId, (tx) => svc.deleteComponent(tx, req.params.ref));
      return reply.status(204).send();
    },
  );
}
