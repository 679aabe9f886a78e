// HTTP routes for deployment jobs: create (without a promotion), list, get with tasks, logs, artifacts,
// cancel, resume, roll back.
import { ConfigError } from '../core/errors.js';
import type { Signer } from '../evidence/service.js';
import { resourceRoutes, tenantRoute } from '../http/resource.js';
import { type Access, type App, type Deps, READ } from '../http/types.js';
import { taskAttemptRoutes } from './attempts.js';
import { createJob } from './create.js';
import * as m from './model.js';
import { computePlan } from './plan.js';
import { deploymentPlan, planRequest } from './plan-model.js';
import * as svc from './service.js';

export const DEPLOY: Access = ['admin', 'release_manager', 'deployer'];

export function signerOf(deps: Deps): Signer {
  if (!deps.signer) throw new ConfigError('No evidence signer is configured; deployments cannot record evidence.');
  return deps.signer;
}

export function deploymentRoutes(app: App, deps: Deps): void {
  const { db } = deps;
  const tags = ['deployments'];
  const progress = () => ({ signer: signerOf(deps), db: deps.db });
  const job = { tags, params: m.jobRef };
  const plan = { access: READ, tags, response: { 200: deploymentPlan } };
  taskAttemptRoutes(app, deps);

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/deployments',
      access: DEPLOY,
      tags,
      summary: 'Deploy a ready release to an environment (no promotion)',
      body: m.deploymentCreate,
      response: { 201: m.jobDetail },
      status: 201,
    },
    async (tx, { body }, a) => {
      const id = await createJob(tx, {
        tenantId: a.tenantId,
        releaseRef: body.releaseId,
        environmentRef: body.environmentId,
        promotionId: null,
        strategy: body.strategy,
        strategyConfig: body.strategyConfig,
        createdBy: a.userId,
      });
      return svc.getJob(tx, id);
    },
  );

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/deployments/plan',
      ...plan,
      summary: 'Dry run: what deploying a release to an environment would do now, per target and component; writes nothing',
      body: planRequest,
    },
    (tx, { body }, a) =>
      computePlan(tx, {
        tenantId: a.tenantId,
        releaseRef: body.release,
        environmentRef: body.environment,
        strategy: body.strategy,
        strategyConfig: body.strategyConfig,
      }),
  );

  resourceRoutes(app, db, {
    path: '/api/v1/deployments',
    tags,
    access: { read: READ, write: DEPLOY },
    item: m.jobDetail,
    ref: m.jobRef,
    list: { summary: 'List deployment jobs, newest first', item: m.job, querystring: m.jobListQuery, run: (tx, q) => svc.listJobs(tx, q) },
    get: { summary: 'Get a deployment job with its tasks', run: (tx, { id }) => svc.getJob(tx, id) },
  });

  const get = { method: 'GET', access: READ, tags } as const;
  tenantRoute(
    app,
    db,
    {
      ...get,
      url: '/api/v1/deployments/:id/logs',
      summary: 'Log lines of a job in order, after a cursor',
      params: m.jobRef,
      querystring: m.logsQuery,
      response: { 200: m.logsPage },
    },
    (tx, { params, query }) => svc.jobLogs(tx, params.id, query.after, query.limit),
  );
  tenantRoute(
    app,
    db,
    {
      ...get,
      url: '/api/v1/deployments/:id/tasks',
      summary: 'The job without its tasks, and a page of its tasks (by batch, then target name); optionally only those changed since',
      description:
        'For a view of a large job: the first rows without waiting for every task, then only what changed. ' +
        'The first page of a sweep answers `changes`; a later sweep with `changedSince` set to it lists only the tasks written since.',
      params: m.jobRef,
      querystring: m.jobTasksQuery,
      response: { 200: m.jobTasksPage },
    },
    (tx, { params, query }) => svc.jobTasks(tx, params.id, query),
  );
  tenantRoute(
    app,
    db,
    {
      ...get,
      url: '/api/v1/deployments/:id/artifacts/:name',
      summary: 'A generated artifact with its SHA-256',
      params: m.artifactParams,
      response: { 200: m.artifactOut },
    },
    (tx, { params }) => svc.getArtifact(tx, params.id, params.name),
  );

  // Operator actions on one job: each answers the job as it is afterwards.
  const act = { method: 'POST', access: DEPLOY, ...job, response: { 200: m.jobDetail } } as const;
  tenantRoute(app, db, { ...act, url: '/api/v1/deployments/:id/cancel', summary: 'Cancel a job' }, (tx, req) =>
    svc.cancelJob(tx, req.params.id, progress()),
  );
  tenantRoute(
    app,
    db,
    { ...act, url: '/api/v1/deployments/:id/resume', summary: 'Resume a job paused after a failure or between canary waves' },
    (tx, req) => svc.resumeJob(tx, req.params.id, progress()),
  );

  tenantRoute(
    app,
    db,
    {
      ...act,
      url: '/api/v1/deployments/:id/rollback',
      summary: 'Roll a finished job back to each target’s previous digests',
      response: { 201: m.jobDetail },
      status: 201,
    },
    (tx, req, a) => svc.rollbackJob(tx, a.tenantId, req.params.id, a.userId),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/deployments/:id/rollback/plan',
      ...plan,
      summary: 'Dry run: the plan rolling this job back would execute (per target and component); nothing is started',
      params: m.jobRef,
    },
    (tx, req, a) => svc.rollbackPlan(tx, () => svc.rollbackJob(tx, a.tenantId, req.params.id, a.userId)),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/deployments/rollback/plan',
      ...plan,
      summary: 'Dry run: the plan rolling an environment back would execute; nothing is started',
      body: m.rollbackBody,
    },
    (tx, { body }, a) => svc.rollbackPlan(tx, () => svc.rollbackEnvironment(tx, a.tenantId, body.environment, body.to, a.userId)),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/deployments/rollback',
      access: DEPLOY,
      tags,
      summary: 'Roll an environment back: to a release, or undo its latest deployment',
      body: m.rollbackBody,
      response: { 201: m.jobDetail },
      status: 201,
    },
    (tx, { body }, a) => svc.rollbackEnvironment(tx, a.tenantId, body.environment, body.to, a.userId),
  );
}
