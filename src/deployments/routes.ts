// HTTP routes for deployment jobs: create (without a promotion), list, get with tasks, logs, artifacts,
// cancel, resume, roll back.
import { ConfigError } from '../core/errors.js';
import type { Signer } from '../evidence/service.js';
import { caller } from '../http/caller.js';
import { pageOf } from '../http/pagination.js';
import { type Access, type App, type Deps, READ } from '../http/types.js';
import { withTenant } from '../store/db.js';
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
  taskAttemptRoutes(app, deps);

  app.post(
    '/api/v1/deployments',
    {
      config: { access: DEPLOY },
      schema: {
        tags,
        summary: 'Deploy a ready release to an environment (no promotion)',
        body: m.deploymentCreate,
        response: { 201: m.jobDetail },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const job = await withTenant(db, a.tenantId, async (tx) => {
        const id = await createJob(tx, {
          tenantId: a.tenantId,
          releaseRef: req.body.releaseId,
          environmentRef: req.body.environmentId,
          promotionId: null,
          strategy: req.body.strategy,
          strategyConfig: req.body.strategyConfig,
          createdBy: a.userId,
        });
        return svc.getJob(tx, id);
      });
      return reply.status(201).send(job);
    },
  );

  app.post(
    '/api/v1/deployments/plan',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Dry run: what deploying a release to an environment would do now, per target and component; writes nothing',
        body: planRequest,
        response: { 200: deploymentPlan },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) =>
        computePlan(tx, {
          tenantId: a.tenantId,
          releaseRef: req.body.release,
          environmentRef: req.body.environment,
          strategy: req.body.strategy,
          strategyConfig: req.body.strategyConfig,
        }),
      );
    },
  );

  app.get(
    '/api/v1/deployments',
    {
      config: { access: READ },
      schema: { tags, summary: 'List deployment jobs, newest first', querystring: m.jobListQuery, response: { 200: pageOf(m.job) } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listJobs(tx, req.query)),
  );

  app.get(
    '/api/v1/deployments/:id',
    {
      config: { access: READ },
      schema: { tags, summary: 'Get a deployment job with its tasks', params: m.jobRef, response: { 200: m.jobDetail } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getJob(tx, req.params.id)),
  );

  app.get(
    '/api/v1/deployments/:id/logs',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Log lines of a job in order, after a cursor',
        params: m.jobRef,
        querystring: m.logsQuery,
        response: { 200: m.logsPage },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.jobLogs(tx, req.params.id, req.query.after, req.query.limit)),
  );

  app.get(
    '/api/v1/deployments/:id/artifacts/:name',
    {
      config: { access: READ },
      schema: { tags, summary: 'A generated artifact with its SHA-256', params: m.artifactParams, response: { 200: m.artifactOut } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getArtifact(tx, req.params.id, req.params.name)),
  );

  app.post(
    '/api/v1/deployments/:id/cancel',
    { config: { access: DEPLOY }, schema: { tags, summary: 'Cancel a job', params: m.jobRef, response: { 200: m.jobDetail } } },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.cancelJob(tx, req.params.id, progress())),
  );

  app.post(
    '/api/v1/deployments/:id/resume',
    {
      config: { access: DEPLOY },
      schema: {
        tags,
        summary: 'Resume a job paused after a failure or between canary waves',
        params: m.jobRef,
        response: { 200: m.jobDetail },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.resumeJob(tx, req.params.id, progress())),
  );

  app.post(
    '/api/v1/deployments/:id/rollback',
    {
      config: { access: DEPLOY },
      schema: {
        tags,
        summary: 'Roll a finished job back to each target’s previous digests',
        params: m.jobRef,
        response: { 201: m.jobDetail },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      return reply.status(201).send(await withTenant(db, a.tenantId, (tx) => svc.rollbackJob(tx, a.tenantId, req.params.id, a.userId)));
    },
  );

  app.post(
    '/api/v1/deployments/:id/rollback/plan',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Dry run: the plan rolling this job back would execute (per target and component); nothing is started',
        params: m.jobRef,
        response: { 200: deploymentPlan },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => svc.rollbackPlan(tx, () => svc.rollbackJob(tx, a.tenantId, req.params.id, a.userId)));
    },
  );

  app.post(
    '/api/v1/deployments/rollback/plan',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Dry run: the plan rolling an environment back would execute; nothing is started',
        body: m.rollbackBody,
        response: { 200: deploymentPlan },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) =>
        svc.rollbackPlan(tx, () => svc.rollbackEnvironment(tx, a.tenantId, req.body.environment, req.body.to, a.userId)),
      );
    },
  );

  app.post(
    '/api/v1/deployments/rollback',
    {
      config: { access: DEPLOY },
      schema: {
        tags,
        summary: 'Roll an environment back: to a release, or undo its latest deployment',
        body: m.rollbackBody,
        response: { 201: m.jobDetail },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const job = await withTenant(db, a.tenantId, (tx) =>
        svc.rollbackEnvironment(tx, a.tenantId, req.body.environment, req.body.to, a.userId),
      );
      return reply.status(201).send(job);
    },
  );
}
