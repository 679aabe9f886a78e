// HTTP routes for workflow templates, runs, and events to waiting steps.
import { z } from 'zod';
import type { StepRegistry } from '../engine/registry.js';
import { caller } from '../http/caller.js';
import { denyingOutbound } from '../http/outbound.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { ADMIN, type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import { withTenant } from '../store/db.js';
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
  app.get(
    '/api/v1/workflow-step-types',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Step types a template may use',
        response: { 200: z.object({ items: z.array(z.object({ type: z.string(), description: z.string() })) }) },
      },
    },
    async () => ({ items: registry.list() }),
  );

  app.get(
    '/api/v1/workflow-templates',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'List templates (latest version of each, built-ins included)',
        querystring: pageQuery,
        response: { 200: pageOf(m.template) },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listTemplates(tx, req.query.limit, req.query.cursor)),
  );

  app.get(
    '/api/v1/workflow-templates/:ref',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Get a template by id, or by name (latest or ?version=N)',
        params: m.templateRef,
        querystring: m.templateGetQuery,
        response: { 200: m.template },
      },
    },
    async (req) =>
      withTenant(db, caller(req).tenantId, async (tx) => templateOut(await svc.getTemplate(tx, req.params.ref, req.query.version))),
  );

  app.post(
    '/api/v1/workflow-templates',
    {
      config: { access: ADMIN },
      schema: {
        tags,
        summary: 'Create a template (version 1); validated: acyclic, known step types, references exist',
        body: m.templateCreate,
        response: { 201: m.template },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      checkUrls(req.body);
      const t = await withTenant(db, a.tenantId, (tx) => svc.createTemplate(tx, a.tenantId, a.userId, req.body, registry.has));
      return reply.status(201).send(t);
    },
  );

  app.post(
    '/api/v1/workflow-templates/:ref/versions',
    {
      config: { access: ADMIN },
      schema: {
        tags,
        summary: 'Save a new version of a template',
        params: m.templateRef,
        body: m.templateBody,
        response: { 201: m.template },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      checkUrls(req.body);
      const t = await withTenant(db, a.tenantId, (tx) =>
        svc.newTemplateVersion(tx, a.tenantId, a.userId, req.params.ref, req.body, registry.has),
      );
      return reply.status(201).send(t);
    },
  );

  app.post(
    '/api/v1/workflow-runs',
    {
      config: { access: RELEASE_WRITE },
      schema: { tags, summary: 'Start a run of a template with inputs', body: m.runStart, response: { 201: m.runDetail } },
    },
    async (req, reply) => {
      const a = caller(req);
      const run = await withTenant(db, a.tenantId, async (tx) => {
        const r = await svc.startRun(tx, a.tenantId, a.userId, req.body);
        return svc.getRun(tx, r.id);
      });
      return reply.status(201).send(run);
    },
  );

  app.get(
    '/api/v1/workflow-runs',
    {
      config: { access: READ },
      schema: { tags, summary: 'List runs, newest first', querystring: m.runListQuery, response: { 200: pageOf(m.run) } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listRuns(tx, req.query)),
  );

  app.get(
    '/api/v1/workflow-runs/:id',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Get a run with its step runs (every attempt, with logs)',
        params: m.runParam,
        response: { 200: m.runDetail },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getRun(tx, req.params.id)),
  );

  app.post(
    '/api/v1/workflow-runs/:id/cancel',
    {
      config: { access: RELEASE_WRITE },
      schema: { tags, summary: 'Cancel a run; its running steps are stopped', params: m.runParam, response: { 200: m.runDetail } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.cancelRun(tx, req.params.id)),
  );

  app.post(
    '/api/v1/workflow-runs/:id/steps/:nodeId/events',
    {
      config: { access: ['release_manager', 'approver', 'deployer'] },
      schema: {
        tags,
        summary: 'Deliver an event (e.g. approved, deployment_finished, a callback) to a waiting step',
        params: m.stepEventParam,
        body: m.stepEvent,
        response: { 200: m.stepRun },
      },
    },
    async (req) => {
      const a = caller(req);
      const body = { ...req.body, payload: { ...req.body.payload, by: a.username } };
      return withTenant(db, a.tenantId, (tx) => svc.deliverEvent(tx, req.params.id, req.params.nodeId, body));
    },
  );
}
