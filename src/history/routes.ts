// HTTP routes for history: a target's timeline, what ran on it at an instant (with who decided it and
// the verified evidence), and everywhere a digest ran.
import { tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ } from '../http/types.js';
import { targetRef } from '../targets/model.js';
import * as m from './model.js';
import * as svc from './service.js';

export function historyRoutes(app: App, { db }: Deps): void {
  const read = { method: 'GET', access: READ, tags: ['history'] } as const;
  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/targets/:ref/timeline',
      summary: 'What ran on a target from when to when (release, digests, job, promotion), and its drift periods',
      params: targetRef,
      response: { 200: m.timeline },
    },
    (tx, req) => svc.targetTimeline(tx, req.params.ref),
  );

  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/targets/:ref/at',
      summary:
        'What ran on a target at an instant: digests, release, job, promotion, who requested and approved it, the gates, and the evidence packets (verified)',
      params: targetRef,
      querystring: m.atQuery,
      response: { 200: m.atResult },
    },
    (tx, req, a) => svc.targetAt(tx, a.tenantId, req.params.ref, new Date(req.query.time)),
  );

  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/digests/:digest/history',
      summary: 'Everywhere an image digest ran, per target and component, from when to when',
      params: m.digestParam,
      response: { 200: m.digestResult },
    },
    (tx, req) => svc.digestHistory(tx, req.params.digest),
  );
}
