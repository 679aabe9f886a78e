// HTTP routes for environments.

import { formatZoned } from '../core/zoned.js';
import { activeWindows, freezeEnds } from '../gates/freeze.js';
import { caller } from '../http/caller.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import { withTenant } from '../store/db.js';
import type { FreezeWindow } from './freeze.js';
import * as m from './model.js';
import * as svc from './service.js';

export function environmentRoutes(app: App, { db, clock }: Deps): void {
  const tags = ['environments'];
  const withFreeze = (env: m.Environment) => {
    const active = activeWindows(env.freezeWindows as FreezeWindow[], clock.now());
    const ends = active.length ? freezeEnds(env.freezeWindows as FreezeWindow[], clock.now()) : null;
    return {
      ...env,
      freeze: {
        active: active.map((w) => w.name),
        until: ends ? ends.at.toISOString() : null,
        untilLocal: ends ? formatZoned(ends.at, ends.window.timezone) : null,
      },
    };
  };
  app.get(
    '/api/v1/environments',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'List environments in promotion order',
        querystring: pageQuery,
        response: { 200: pageOf(m.environmentRead) },
      },
    },
    async (req) => {
      const page = await withTenant(db, caller(req).tenantId, (tx) => svc.listEnvironments(tx, req.query.limit, req.query.cursor));
      return { ...page, items: page.items.map(withFreeze) };
    },
  );

  app.get(
    '/api/v1/environments/:ref',
    {
      config: { access: READ },
      schema: { tags, summary: 'Get an environment by id or name', params: m.envRef, response: { 200: m.environmentRead } },
    },
    async (req) => withFreeze(await withTenant(db, caller(req).tenantId, (tx) => svc.getEnvironment(tx, req.params.ref))),
  );

  app.post(
    '/api/v1/environments',
    {
      config: { access: ADMIN },
      schema: { tags, summary: 'Create an environment', body: m.environmentCreate, response: { 201: m.environment } },
    },
    async (req, reply) => {
      const a = caller(req);
      const env = await withTenant(db, a.tenantId, (tx) => svc.createEnvironment(tx, a.tenantId, req.body));
      return reply.status(201).send(env);
    },
  );

  app.patch(
    '/api/v1/environments/:ref',
    {
      config: { access: ADMIN },
      schema: { tags, summary: 'Change an environment', params: m.envRef, body: m.environmentUpdate, response: { 200: m.environment } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.updateEnvironment(tx, req.params.ref, req.body)),
  );

  app.delete(
    '/api/v1/environments/:ref',
    {
      config: { access: ADMIN },
      schema: { tags, summary: 'Delete an environment (refused while targets or history refer to it)', params: m.envRef },
    },
    async (req, reply) => {
      await withTenant(db, caller(req).tenantId, (tx) => svc.deleteEnvironment(tx, req.params.ref));
      return reply.status(204).send();
    },
  );
}
