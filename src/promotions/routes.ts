// HTTP routes for promotions: request, preview, read, gates, approve, reject, cancel, override.
import { z } from 'zod';
import type { GateRegistry } from '../gates/registry.js';
import { caller } from '../http/caller.js';
import { pageOf } from '../http/pagination.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import { notify } from '../integrations/notify.js';
import { withTenant } from '../store/db.js';
import type { Signer } from './decision.js';
import * as m from './model.js';
import { nextActions, nextActionsQuery, nextActionsResult } from './next-actions.js';
import * as svc from './service.js';
import { explanation } from './why.js';

export function promotionRoutes(app: App, deps: Deps, gates: GateRegistry): void {
  const { db } = deps;
  const tags = ['promotions'];
  const signer = (): Signer => {
    if (!deps.signer) throw new Error('no evidence signer is configured');
    return deps.signer;
  };
  const gateDeps = { db: deps.db, clock: deps.clock, outbound: deps.outbound };

  app.get(
    '/api/v1/gates',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Gates an environment can apply',
        response: { 200: z.object({ items: z.array(z.object({ id: z.string(), description: z.string() })) }) },
      },
    },
    async () => ({ items: gates.list() }),
  );

  app.post(
    '/api/v1/promotions',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Request a promotion of a release to an environment; it runs as a workflow',
        body: m.promotionCreate,
        response: { 201: m.promotionDetail },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const p = await withTenant(db, a.tenantId, async (tx) => {
        const created = await svc.createPromotion(tx, a, req.body);
        const data = { release: created.releaseName, environment: created.targetEnvironmentName, by: a.username, reason: created.reason };
        await notify(tx, a.tenantId, { type: 'promotion.requested', data: { promotionId: created.id, ...data } }, deps.clock.now());
        return created;
      });
      return reply.status(201).send(p);
    },
  );

  app.post(
    '/api/v1/promotions/preview',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Dry run: evaluate the gates for a would-be promotion, writing nothing',
        body: m.promotionPreview,
        response: { 200: m.previewResult },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => svc.previewPromotion(tx, a, gates, gateDeps, req.body));
    },
  );

  app.get(
    '/api/v1/environments/:ref/next-actions',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'The releases this caller may promote to the environment now, with each one’s gate preview, or why not',
        params: z.strictObject({ ref: z.string().min(1).max(100).describe('Environment id or name') }),
        querystring: nextActionsQuery,
        response: { 200: nextActionsResult },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => nextActions(tx, a, gates, gateDeps, req.params.ref, req.query.limit));
    },
  );

  app.get(
    '/api/v1/promotions',
    {
      config: { access: READ },
      schema: { tags, summary: 'List promotions, newest first', querystring: m.promotionListQuery, response: { 200: pageOf(m.promotion) } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listPromotions(tx, req.query)),
  );

  app.get(
    '/api/v1/promotions/:id',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Get a promotion with its decision record and approvals',
        params: m.promotionParam,
        response: { 200: m.promotionDetail },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getPromotion(tx, req.params.id)),
  );

  app.get(
    '/api/v1/promotions/:id/gates',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Every gate’s latest result and reason; a blocked promotion says when it is evaluated again',
        params: m.promotionParam,
        response: { 200: m.gatesResult },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.promotionGates(tx, req.params.id)),
  );

  app.get(
    '/api/v1/promotions/:id/why',
    {
      config: { access: READ },
      schema: {
        tags,
        summary:
          'Why the promotion waits or was refused and until when: each gate with what would make it pass, when a freeze ends (in its time zone), who may still approve, the earliest time it could proceed',
        params: m.promotionParam,
        response: { 200: explanation },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => svc.promotionWhy(tx, a.tenantId, deps.clock.now(), req.params.id));
    },
  );

  app.get(
    '/api/v1/promotions/:id/plan',
    {
      config: { access: READ },
      schema: {
        tags,
        summary:
          'The deployment plan the promotion’s approvals are for: per target and component what will be created, recreated or removed',
        params: m.promotionParam,
        response: { 200: m.promotionPlanResult },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.promotionPlan(tx, req.params.id)),
  );

  app.post(
    '/api/v1/promotions/:id/approve',
    {
      config: { access: ['approver'] },
      schema: {
        tags,
        summary: 'Approve (one person counts once; under separation of duties not the requester or release creator)',
        params: m.promotionParam,
        body: m.decisionBody,
        response: { 200: m.promotionDetail },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, async (tx) => {
        const { promotion, decided } = await svc.approve(
          tx,
          a,
          signer(),
          gates,
          gateDeps,
          req.params.id,
          req.body.comment,
          req.body.planHash,
        );
        if (decided) await notify(tx, a.tenantId, { type: 'promotion.approved', data: { promotionId: promotion.id } }, deps.clock.now());
        return promotion;
      });
    },
  );

  app.post(
    '/api/v1/promotions/:id/reject',
    {
      config: { access: ['approver'] },
      schema: {
        tags,
        summary: 'Reject with a comment; the promotion ends',
        params: m.promotionParam,
        body: m.rejectBody,
        response: { 200: m.promotionDetail },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, async (tx) => {
        const p = await svc.reject(tx, a, signer(), gates, gateDeps, req.params.id, req.body.comment);
        const data = { release: p.releaseName, environment: p.targetEnvironmentName, by: a.username, reason: req.body.comment };
        await notify(tx, a.tenantId, { type: 'promotion.rejected', data: { promotionId: p.id, ...data } }, deps.clock.now());
        return p;
      });
    },
  );

  app.post(
    '/api/v1/promotions/:id/cancel',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Cancel a promotion that has not started deploying',
        params: m.promotionParam,
        response: { 200: m.promotionDetail },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.cancelPromotion(tx, req.params.id)),
  );

  app.post(
    '/api/v1/promotions/:id/overrides',
    {
      config: { access: 'any' },
      schema: {
        tags,
        summary: 'Emergency override of a gate (e.g. a freeze window) with a reason and an expiry; leaves a gate_override packet',
        params: m.promotionParam,
        body: m.overrideBody,
        response: { 201: m.overrideResult },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const o = await withTenant(db, a.tenantId, (tx) => svc.overrideGate(tx, a, signer(), gates, gateDeps, req.params.id, req.body));
      return reply.status(201).send(o);
    },
  );
}
