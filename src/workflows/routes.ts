// HTTP routes for workflow templates, runs, and events to waiting steps.
import { z } from 'zod';
import type { StepRegistry } from '../engine/index.js';
import { denyingOutbound } from '../http/outbound.js';
import { apiRoute, resourceRoutes, tenantRoute } from '../http/resource.js';
import { ADMIN, type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import * as m from './model.js';
import { templateOut } from './rows.js';
import * as svc from './service.js';
import { literalUrls } from './validate.js';

export function workflowRoutes(app: App, { db, outbound }: Deps, registry: StepRegistry): void {
  // A URL the server would fetch for the tenant: literal forbidden addresses are refused on save (422).
  const checkUrls = (body: Pick<m.TemplateBody, 'nodes'>) => {
    for (const u of literalUrls(body)) (outbound ?? denyingOutbound()).checkUrl(u.url, u.path);
  };
  const tags = ['workflows'];
  apiRoute(
    app,
    {
      method: 'GET',
      url: '/api/v1/workflow-step-types',
      access: READ,
      tags,
      summary: 'Step types a template may use',
      response: { 200: z.object({ items: z.array(z.object({ type: z.string(), description: z.string() })) }) },
    },
    async () => ({ items: registry.list() }),
  );

  // Templates have no update or delete (a change is a new version), and get takes ?version=.
  resourceRoutes(app, db, {
    path: '/api/v1/workflow-templates',
    tags,
    access: { read: READ, write: ADMIN },
    item: m.template,
    ref: m.templateRef,
    list: {
      summary: 'List templates (latest version of each, built-ins included)',
      run: (tx, q) => svc.listTemplates(tx, q.limit, q.cursor),
    },
    create: {
      summary: 'Create a template (version 1); validated: acyclic, known step types, references exist',
      body: m.templateCreate,
      before: checkUrls,
      run: (tx, body, a) => svc.createTemplate(tx, a.tenantId, a.userId, body, registry.has),
    },
  });
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/workflow-templates/:ref',
      access: READ,
      tags,
      summary: 'Get a template by id, or by name (latest or ?version=N)',
      params: m.templateRef,
      querystring: m.templateGetQuery,
      response: { 200: m.template },
    },
    async (tx, req) => templateOut(await svc.getTemplate(tx, req.params.ref, req.query.version)),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/workflow-templates/:ref/versions',
      access: ADMIN,
      tags,
      summary: 'Save a new version of a template',
      params: m.templateRef,
      body: m.templateBody,
      response: { 201: m.template },
      status: 201,
      before: (req) => checkUrls(req.body),
    },
    (tx, req, a) => svc.newTemplateVersion(tx, a.tenantId, a.userId, req.params.ref, req.body, registry.has),
  );

  resourceRoutes(app, db, {
    path: '/api/v1/workflow-runs',
    tags,
    access: { read: READ, write: RELEASE_WRITE },
    item: m.runDetail,
    ref: m.runParam,
    create: {
      summary: 'Start a run of a template with inputs',
      body: m.runStart,
      run: async (tx, body, a) => svc.getRun(tx, (await svc.startRun(tx, a.tenantId, a.userId, body)).id),
    },
    list: { summary: 'List runs, newest first', item: m.run, querystring: m.runListQuery, run: (tx, q) => svc.listRuns(tx, q) },
    get: { summary: 'Get a run with its step runs (every attempt, with logs)', run: (tx, { id }) => svc.getRun(tx, id) },
  });
  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/workflow-runs/:id/cancel',
      access: RELEASE_WRITE,
      tags,
      summary: 'Cancel a run; its running steps are stopped',
      params: m.runParam,
      response: { 200: m.runDetail },
    },
    (tx, req) => svc.cancelRun(tx, req.params.id),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/workflow-runs/:id/steps/:nodeId/events',
      access: ['release_manager', 'approver', 'deployer'],
      tags,
      summary: 'Deliver an event (e.g. approved, deployment_finished, a callback) to a waiting step',
      params: m.stepEventParam,
      body: m.stepEvent,
      response: { 200: m.stepRun },
    },
    (tx, { params, body }, a) => svc.deliverEvent(tx, params.id, params.nodeId, { ...body, payload: { ...body.payload, by: a.username } }),
  );
}
