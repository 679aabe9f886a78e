// HTTP routes for releases: list, get, create, edit drafts, ready (pin digests), deprecate, diff.
import { z } from 'zod';
import { apiRoute, resourceRoutes, tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import type { Tx } from '../store/db.js';
import { diffReleases } from './diff.js';
import * as m from './model.js';
import { makeReady } from './ready.js';
import * as svc from './service.js';
import { checkTags } from './tags.js';

export function releaseRoutes(app: App, { db, outbound }: Deps): void {
  const tags = ['releases'];
  const releases = { path: '/api/v1/releases', tags, access: { read: READ, write: RELEASE_WRITE }, item: m.release, ref: m.releaseRef };
  // Tags are checked against the version map or the registry before the transaction (it may call the registry).
  const tagsExist = (body: { components?: m.ReleaseCreate['components'] | undefined }, a: { tenantId: string }) =>
    checkTags(db, a.tenantId, body.components, 'body.components', outbound);

  resourceRoutes(app, db, {
    ...releases,
    list: { summary: 'List releases, newest first', querystring: m.releaseListQuery, run: (tx, q) => svc.listReleases(tx, q) },
  });

  // The diff routes are declared between list and get: the OpenAPI document lists paths in declaration order.
  const diff = async (tx: Tx, a: string, b: string) => diffReleases(await svc.getRelease(tx, a), await svc.getRelease(tx, b));
  const comparison = { access: READ, tags, response: { 200: m.releaseDiff } };
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/releases/diff',
      ...comparison,
      summary: 'Compare two releases (query form)',
      querystring: z.strictObject({ from: m.releaseRef.shape.ref, to: m.releaseRef.shape.ref }),
    },
    (tx, req) => diff(tx, req.query.from, req.query.to),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/releases/:ref/diff/:other',
      ...comparison,
      summary: 'Compare two releases: what changed per component (tag, semver, digest)',
      params: z.strictObject({ ref: m.releaseRef.shape.ref, other: m.releaseRef.shape.ref }),
    },
    (tx, req) => diff(tx, req.params.ref, req.params.other),
  );

  resourceRoutes(app, db, {
    ...releases,
    get: { summary: 'Get a release by id or name', run: (tx, { ref }) => svc.getRelease(tx, ref) },
    create: {
      summary: 'Create a draft release',
      description: 'A tag must be a synced version of its component or exist in its registry (422 tag_not_found otherwise).',
      body: m.releaseCreate,
      before: tagsExist,
      run: (tx, body, a) => svc.createRelease(tx, a.tenantId, a.userId, body),
    },
    update: {
      summary: 'Edit a draft release (409 release_immutable once ready)',
      description: 'Tags are checked as on create (422 tag_not_found).',
      body: m.releaseUpdate,
      before: tagsExist,
      run: (tx, { ref }, body) => svc.updateRelease(tx, ref, body),
    },
    remove: {
      summary: 'Delete a draft release (409 release_immutable once ready; 409 release_in_use when a promotion names it)',
      run: (tx, { ref }) => svc.deleteDraft(tx, ref),
    },
  });

  const change = { access: RELEASE_WRITE, tags, params: m.releaseRef, response: { 200: m.release } };
  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/releases/:ref/ready',
      ...change,
      summary: 'Resolve and pin every component digest; the release becomes ready and immutable',
      description:
        'All or nothing: 422 release_unresolvable names every component whose tag, channel or digest cannot be resolved; ' +
        '422 registry_auth_failed, 502 registry_unreachable and 504 registry_timeout name the component whose registry failed.',
    },
    (req, a) => makeReady(db, a.tenantId, req.params.ref, outbound),
  );
  tenantRoute(
    app,
    db,
    { method: 'POST', url: '/api/v1/releases/:ref/deprecate', ...change, summary: 'Deprecate a ready or deployed release' },
    (tx, req) => svc.deprecateRelease(tx, req.params.ref),
  );
}
