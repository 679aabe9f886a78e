// HTTP routes for progressive rollouts: start an A/B release or a canary, list and watch them (split,
// stages, each analysis, the router's report), and the operator's decisions: advance, promote, roll back,
// abort.
import { ConfigError } from '../core/errors.js';
import { DEPLOY } from '../deployments/routes.js';
import { tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ } from '../http/types.js';
import * as m from './model.js';
import * as svc from './service.js';
import * as view from './view.js';

export function progressiveDeps(deps: Deps): svc.ProgressiveDeps {
  if (!deps.signer || !deps.outbound) throw new ConfigError('Progressive rollouts need the evidence signer and the outbound door.');
  return { signer: deps.signer, outbound: deps.outbound, clock: deps.clock };
}

export function progressiveRoutes(app: App, deps: Deps): void {
  const { db } = deps;
  const tags = ['progressive delivery'];

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/rollouts',
      access: DEPLOY,
      tags,
      summary: 'Start an A/B release or a metric-driven canary: the router target gets the first stage',
      body: m.rolloutCreate,
      response: { 201: m.rollout },
      status: 201,
    },
    async (tx, req, a) => view.getRollout(tx, await svc.createRollout(tx, a, req.body, progressiveDeps(deps))),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/rollouts',
      access: READ,
      tags,
      summary: 'List rollouts, newest first',
      querystring: m.rolloutListQuery,
      response: { 200: m.rolloutSummary.array() },
    },
    (tx, req) => view.listRollouts(tx, req.query),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/rollouts/:id',
      access: READ,
      tags,
      summary: "A rollout: its split now, stages, every step with its analysis, and the router's last report",
      params: m.rolloutRef,
      response: { 200: m.rollout },
    },
    (tx, req) => view.getRollout(tx, req.params.id),
  );

  const decisions = [
    ['advance', 'Move to the next stage now (after the last one: promote the candidate)'],
    ['promote', 'Promote the candidate: it gets all the traffic and the stable variation is retired from the route'],
    ['rollback', 'Roll back: the stable variation gets all the traffic and the candidate is retired from the route'],
    ['abort', 'Abort: like a rollback, recorded as an abort'],
  ] as const;
  for (const [action, summary] of decisions) {
    tenantRoute(
      app,
      db,
      {
        method: 'POST',
        url: `/api/v1/rollouts/:id/${action}`,
        access: DEPLOY,
        tags,
        summary,
        params: m.rolloutRef,
        body: m.actionBody,
        response: { 200: m.rollout },
      },
      async (tx, req, a) => {
        await svc.decide(tx, a, req.params.id, action, req.body.reason, progressiveDeps(deps));
        return view.getRollout(tx, req.params.id);
      },
    );
  }
}
