// HTTP routes for targets (the hosts a release is deployed to).
import { caller } from '../http/caller.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import { withTenant } from '../store/db.js';
import * as m from './model.js';
import * as svc from './service.js';

export function targetRoutes(app: App, { db }: Deps): void {
  const tags = ['targets'];
  app.get(
    '/api/v1/targets',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'List targets, optionally of one environment',
        querystring: m.targetListQuery,
        response: { 200: pageOf(m.target) },
      },
    },
    async (req) =>
      withTenant(db, caller(req).tenantId, (tx) => svc.listTargets(tx, req.query.limit, req.query.cursor, req.query.environment)),
  );

  app.get(
    '/api/v1/targets/:ref',
    {
      config: { access: READ },
      schema: { tags, summary: 'Get a target by id or name', params: m.targetRef, response: { 200: m.target } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getTarget(tx, req.params.ref)),
  );

  app.get(
    '/api/v1/targets/:ref/history',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'What ran on a target over time, newest first: release, digests, job, promotion, when, outcome',
        params: m.targetRef,
        querystring: pageQuery,
        response: { 200: pageOf(m.historyEntry) },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.targetHistory(tx, req.params.ref, req.query.limit, req.query.cursor)),
  );

  app.post(
    '/api/v1/targets',
    {
      config: { access: ADMIN },
      schema: { tags, summary: 'Create a target', body: m.targetCreate, response: { 201: m.target } },
    },
    async (req, reply) => {
      const a = caller(req);
      const created = await withTenant(db, a.tenantId, (tx) => svc.createTarget(tx, a.tenantId, req.body));
      return reply.status(201).send(created);
    },
  );

  app.patch(
    '/api/v1/targets/:ref',
    {
      config: { access: ADMIN },
      schema: {
        tags,
        summary: 'Change a target (its type cannot change)',
        params: m.targetRef,
        body: m.targetUpdate,
        response: { 200: m.target },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.updateTarget(tx, req.params.ref, req.body)),
  );

  app.delete(
    '/api/v1/targets/:ref',
    {
      config: { access: ADMIN },
      schema: { tags, summary: 'Delete a target (refused once it has deployment history)', params: m.targetRef },
    },
    async (req, reply) => {
      await withTenant(db, caller(req).tenantId, (tx) => svc.deleteTarget(tx, req.params.ref));
      return reply.status(204).send();
    },
  );
}
