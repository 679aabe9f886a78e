// HTTP routes for a component's versions: POST /components/{id}/sync-versions and GET /components/{id}/versions.

import { z } from 'zod';
import { syncIntervalSeconds } from '../core/config.js';
import { caller } from '../http/caller.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import { withTenant } from '../store/db.js';
import * as m from './model.js';
import { getComponent } from './service.js';
import { syncComponent, syncResult } from './sync.js';
import { listVersions, versionMap, versionsQuery } from './versions.js';

export function componentVersionRoutes(app: App, { db, clock, outbound }: Deps): void {
  const tags = ['components'];
  // Read per request so an operator's setting applies to API-triggered syncs as well as scheduled ones.
  const intervalSeconds = () => syncIntervalSeconds() || 300;

  app.post(
    '/api/v1/components/:ref/sync-versions',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: "Sync the component's version map from its registry now",
        description:
          "Lists the repository's tags, resolves each version tag to its digest and records changes in one transaction. " +
          'A tag that moved to another digest keeps its old mapping as history. Registry failures: 422 registry_auth_failed / registry_not_found, 502 registry_unreachable, 504 registry_timeout.',
        params: m.componentRef,
        response: { 200: syncResult },
      },
    },
    async (req) => syncComponent(db, caller(req).tenantId, req.params.ref, { clock, intervalSeconds: intervalSeconds(), outbound }),
  );

  app.get(
    '/api/v1/components/:ref/versions',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: "List the component's versions (tag → digest), newest first",
        params: m.componentRef,
        querystring: versionsQuery,
        response: { 200: z.object({ items: z.array(versionMap), nextCursor: z.string().nullable() }) },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, async (tx) => listVersions(tx, await getComponent(tx, req.params.ref), req.query)),
  );
}
