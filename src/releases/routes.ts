// HTTP routes for releases: list, get, create, edit drafts, ready (pin digests), deprecate, diff.
import { z } from 'zod';
import { caller } from '../http/caller.js';
import { pageOf } from '../http/pagination.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import { withTenant } from '../store/db.js';
import { diffReleases } from './diff.js';
import * as m from './model.js';
import { makeReady } from './ready.js';
import * as svc from './service.js';
import { checkTags } from './tags.js';

export function releaseRoutes(app: App, { db, outbound }: Deps): void {
  const tags = ['releases'];

  app.get(
    '/api/v1/releases',
    {
      config: { access: READ },
      schema: { tags, summary: 'List releases, newest first', querystring: m.releaseListQuery, response: { 200: pageOf(m.release) } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listReleases(tx, req.query)),
  );

  const diff = async (tenantId: string, a: string, b: string) =>
    withTenant(db, tenantId, async (tx) => diffReleases(await svc.getRelease(tx, a), await svc.getRelease(tx, b)));

  app.get(
    '/api/v1/releases/diff',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Compare two releases (query form)',
        querystring: z.strictObject({ from: m.releaseRef.shape.ref, to: m.releaseRef.shape.ref }),
        response: { 200: m.releaseDiff },
      },
    },
    async (req) => diff(caller(req).tenantId, req.query.from, req.query.to),
  );

  app.get(
    '/api/v1/releases/:ref/diff/:other',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Compare two releases: what changed per component (tag, semver, digest)',
        params: z.strictObject({ ref: m.releaseRef.shape.ref, other: m.releaseRef.shape.ref }),
        response: { 200: m.releaseDiff },
      },
    },
    async (req) => diff(caller(req).tenantId, req.params.ref, req.params.other),
  );

  app.get(
    '/api/v1/releases/:ref',
    {
      config: { access: READ },
      schema: { tags, summary: 'Get a release by id or name', params: m.releaseRef, response: { 200: m.release } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getRelease(tx, req.params.ref)),
  );

  app.post(
    '/api/v1/releases',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Create a draft release',
        description: 'A tag must be a synced version of its component or exist in its registry (422 tag_not_found otherwise).',
        body: m.releaseCreate,
        response: { 201: m.release },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      await checkTags(db, a.tenantId, req.body.components, 'body.components', outbound);
      const created = await withTenant(db, a.tenantId, (tx) => svc.createRelease(tx, a.tenantId, a.userId, req.body));
      return reply.status(201).send(created);
    },
  );

  app.patch(
    '/api/v1/releases/:ref',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Edit a draft release (409 release_immutable once ready)',
        description: 'Tags are checked as on create (422 tag_not_found).',
        params: m.releaseRef,
        body: m.releaseUpdate,
        response: { 200: m.release },
      },
    },
    async (req) => {
      const a = caller(req);
      await checkTags(db, a.tenantId, req.body.components, 'body.components', outbound);
      return withTenant(db, a.tenantId, (tx) => svc.updateRelease(tx, req.params.ref, req.body));
    },
  );

  app.delete(
    '/api/v1/releases/:ref',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Delete a draft release (409 release_immutable once ready; 409 release_in_use when a promotion names it)',
        params: m.releaseRef,
      },
    },
    async (req, reply) => {
      await withTenant(db, caller(req).tenantId, (tx) => svc.deleteDraft(tx, req.params.ref));
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/releases/:ref/ready',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Resolve and pin every component digest; the release becomes ready and immutable',
        description:
          'All or nothing: 422 release_unresolvable names every component whose tag, channel or digest cannot be resolved; ' +
          '422 registry_auth_failed, 502 registry_unreachable and 504 registry_timeout name the component whose registry failed.',
        params: m.releaseRef,
        response: { 200: m.release },
      },
    },
    async (req) => makeReady(db, caller(req).tenantId, req.params.ref, outbound),
  );

  app.post(
    '/api/v1/releases/:ref/deprecate',
    {
      config: { access: RELEASE_WRITE },
      schema: { tags, summary: 'Deprecate a ready or deployed release', params: m.releaseRef, response: { 200: m.release } },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.deprecateRelease(tx, req.params.ref)),
  );
}
