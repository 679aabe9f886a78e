// HTTP routes for history: a target's timeline, what ran on it at an instant (with who decided it and
// the verified evidence), and everywhere a digest ran.

import { caller } from '../http/caller.js';
import { type App, type Deps, READ } from '../http/types.js';
import { withTenant } from '../store/db.js';
import { targetRef } from '../targets/model.js';
import * as m from './model.js';
import * as svc from './service.js';

export function historyRoutes(app: App, { db }: Deps): void {
  const tags = ['history'];
  app.get(
    '/api/v1/targets/:ref/timeline',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'What ran on a target from when to when (release, digests, job, promotion), and its drift periods',
        params: targetRef,
        response: { 200: m.timeline },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.targetTimeline(tx, req.params.ref)),
  );

  app.get(
    '/api/v1/targets/:ref/at',
    {
      config: { access: READ },
      schema: {
        tags,
        summary:
          'What ran on a target at an instant: digests, release, job, promotion, who requested and approved it, the gates, and the evidence packets (verified)',
        params: targetRef,
        querystring: m.atQuery,
        response: { 200: m.atResult },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => svc.targetAt(tx, a.tenantId, req.params.ref, new Date(req.query.time)));
    },
  );

  app.get(
    '/api/v1/digests/:digest/history',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Everywhere an image digest ran, per target and component, from when to when',
        params: m.digestParam,
        response: { 200: m.digestResult },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.digestHistory(tx, req.params.digest)),
  );
}
