// HTTP routes for targets (the hosts a release is deployed to), and their summary per environment.
import { z } from 'zod';
import { pageOf, pageQuery } from '../http/pagination.js';
import { resourceRoutes, tenantRoute } from '../http/resource.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import * as m from './model.js';
import * as svc from './service.js';

export function targetRoutes(app: App, { db }: Deps): void {
  const tags = ['targets'];
  resourceRoutes(app, db, {
    path: '/api/v1/targets',
    tags,
    access: { read: READ, write: ADMIN },
    item: m.target,
    ref: m.targetRef,
    list: {
      summary: 'List targets, optionally of one environment',
      querystring: m.targetListQuery,
      run: (tx, q) => svc.listTargets(tx, q.limit, q.cursor, q.environment),
    },
    get: { summary: 'Get a target by id or name', run: (tx, { ref }) => svc.getTarget(tx, ref) },
    create: { summary: 'Create a target', body: m.targetCreate, run: (tx, body, a) => svc.createTarget(tx, a.tenantId, body) },
    update: {
      summary: 'Change a target (its type cannot change)',
      body: m.targetUpdate,
      run: (tx, { ref }, body) => svc.updateTarget(tx, ref, body),
    },
    remove: { summary: 'Delete a target (refused once it has deployment history)', run: (tx, { ref }) => svc.deleteTarget(tx, ref) },
  });

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/targets/:ref/history',
      access: READ,
      tags,
      summary: 'What ran on a target over time, newest first: release, digests, job, promotion, when, outcome',
      params: m.targetRef,
      querystring: pageQuery,
      response: { 200: pageOf(m.historyEntry) },
    },
    (tx, req) => svc.targetHistory(tx, req.params.ref, req.query.limit, req.query.cursor),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/target-summary',
      access: READ,
      tags,
      summary: 'Targets per environment: counts by health, drift, observation and waiting state, releases run, the first few targets',
      description:
        'One entry per environment, in promotion order: what a pipeline view needs without listing every target. ' +
        'The counts equal what the target list (GET /api/v1/targets) and the drift verdicts (GET /api/v1/drift) give.',
      querystring: m.targetSummaryQuery,
      response: { 200: z.object({ items: z.array(m.environmentTargetSummary) }) },
    },
    async (tx, req) => ({ items: await svc.targetSummary(tx, req.query.environment, req.query.sample) }),
  );
}
