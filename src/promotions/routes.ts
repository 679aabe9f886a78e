// HTTP routes for promotions: request, preview, read, gates, approve, reject, cancel, override.
import { z } from 'zod';
import type { GateRegistry } from '../gates/registry.js';
import { apiRoute, resourceRoutes, tenantRoute } from '../http/resource.js';
import { type App, type AuthContext, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import { type NotificationEventType, notify } from '../integrations/notify.js';
import type { Tx } from '../store/db.js';
import type { Signer } from './decision.js';
import * as m from './model.js';
import { allNextActions, allNextActionsResult, nextActions, nextActionsQuery, nextActionsResult } from './next-actions.js';
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

  const now = () => deps.clock.now();
  // A request and a rejection are announced with the release, the environment, who and why.
  type Announced = { id: string; releaseName: string; targetEnvironmentName: string };
  const announce = (tx: Tx, a: AuthContext, type: NotificationEventType, p: Announced, reason: string) => {
    const data = { promotionId: p.id, release: p.releaseName, environment: p.targetEnvironmentName, by: a.username, reason };
    return notify(tx, a.tenantId, { type, data }, now());
  };
  apiRoute(
    app,
    {
      method: 'GET',
      url: '/api/v1/gates',
      access: READ,
      tags,
      summary: 'Gates an environment can apply',
      response: { 200: z.object({ items: z.array(z.object({ id: z.string(), description: z.string() })) }) },
    },
    async () => ({ items: gates.list() }),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/promotions',
      access: RELEASE_WRITE,
      tags,
      summary: 'Request a promotion of a release to an environment; it runs as a workflow',
      body: m.promotionCreate,
      response: { 201: m.promotionDetail },
      status: 201,
    },
    async (tx, req, a) => {
      // Announced before it is decided, so promotion.requested goes out before promotion.approved/rejected.
      return svc.createPromotion(tx, a, req.body, {
        announce: (p) => announce(tx, a, 'promotion.requested', p, p.reason),
        decide: { signer: signer(), gates, gateDeps },
      });
    },
  );

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/promotions/preview',
      access: READ,
      tags,
      summary: 'Dry run: evaluate the gates for a would-be promotion, writing nothing',
      body: m.promotionPreview,
      response: { 200: m.previewResult },
    },
    (tx, req, a) => svc.previewPromotion(tx, a, gates, gateDeps, req.body),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/environments/:ref/next-actions',
      access: READ,
      tags,
      summary: 'The releases this caller may promote to the environment now, with each one’s gate preview, or why not',
      params: z.strictObject({ ref: z.string().min(1).max(100).describe('Environment id or name') }),
      querystring: nextActionsQuery,
      response: { 200: nextActionsResult },
    },
    (tx, req, a) => nextActions(tx, a, gates, gateDeps, req.params.ref, req.query.limit),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/next-actions',
      access: READ,
      tags,
      summary: 'The next actions of every environment, in promotion order: what this caller may promote where now, or why not',
      description:
        'The answer of GET /api/v1/environments/{ref}/next-actions for each environment, in one request (the pipeline page loads it).',
      querystring: nextActionsQuery,
      response: { 200: allNextActionsResult },
    },
    (tx, req, a) => allNextActions(tx, a, gates, gateDeps, req.query.limit),
  );

  resourceRoutes(app, db, {
    path: '/api/v1/promotions',
    tags,
    access: { read: READ, write: RELEASE_WRITE },
    item: m.promotionDetail,
    ref: m.promotionParam,
    list: {
      summary: 'List promotions, newest first',
      item: m.promotion,
      querystring: m.promotionListQuery,
      run: (tx, q) => svc.listPromotions(tx, q),
    },
    get: { summary: 'Get a promotion with its decision record and approvals', run: (tx, { id }) => svc.getPromotion(tx, id) },
  });

  // Reads of one promotion.
  const read = { method: 'GET', access: READ, tags, params: m.promotionParam } as const;
  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/promotions/:id/gates',
      summary: 'Every gate’s latest result and reason; a blocked promotion says when it is evaluated again',
      response: { 200: m.gatesResult },
    },
    (tx, req) => svc.promotionGates(tx, req.params.id),
  );
  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/promotions/:id/why',
      summary:
        'Why the promotion waits or was refused and until when: each gate with what would make it pass, when a freeze ends (in its time zone), who may still approve, the earliest time it could proceed',
      response: { 200: explanation },
    },
    (tx, req, a) => svc.promotionWhy(tx, a.tenantId, now(), req.params.id),
  );
  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/promotions/:id/plan',
      summary: 'The deployment plan the promotion’s approvals are for: per target and component what will be created, recreated or removed',
      response: { 200: m.promotionPlanResult },
    },
    (tx, req) => svc.promotionPlan(tx, req.params.id),
  );

  // Decisions on one promotion: each answers the promotion as it is afterwards.
  const decide = { method: 'POST', tags, params: m.promotionParam, response: { 200: m.promotionDetail } } as const;
  tenantRoute(
    app,
    db,
    {
      ...decide,
      url: '/api/v1/promotions/:id/approve',
      access: ['approver'],
      summary: 'Approve (one person counts once; under separation of duties not the requester or release creator)',
      body: m.decisionBody,
    },
    async (tx, { params, body }, a) => {
      const approved = () => notify(tx, a.tenantId, { type: 'promotion.approved', data: { promotionId: params.id } }, now());
      return (await svc.approve(tx, a, signer(), gates, gateDeps, params.id, body.comment, body.planHash, approved)).promotion;
    },
  );
  tenantRoute(
    app,
    db,
    {
      ...decide,
      url: '/api/v1/promotions/:id/reject',
      access: ['approver'],
      summary: 'Reject with a comment; the promotion ends',
      body: m.rejectBody,
    },
    async (tx, { params, body }, a) => {
      const p = await svc.reject(tx, a, signer(), gates, gateDeps, params.id, body.comment);
      await announce(tx, a, 'promotion.rejected', p, body.comment);
      return p;
    },
  );
  tenantRoute(
    app,
    db,
    {
      ...decide,
      url: '/api/v1/promotions/:id/cancel',
      access: RELEASE_WRITE,
      summary: 'Cancel a promotion that has not started deploying',
    },
    (tx, req) => svc.cancelPromotion(tx, req.params.id),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/promotions/:id/overrides',
      access: 'any',
      tags,
      summary: 'Emergency override of a gate (e.g. a freeze window) with a reason and an expiry; leaves a gate_override packet',
      params: m.promotionParam,
      body: m.overrideBody,
      response: { 201: m.overrideResult },
      status: 201,
    },
    (tx, req, a) => svc.overrideGate(tx, a, signer(), gates, gateDeps, req.params.id, req.body),
  );
}
