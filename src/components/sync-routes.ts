// HTTP routes for a component's versions: POST /components/{id}/sync-versions and GET /components/{id}/versions.

import { z } from 'zod';
import { syncIntervalSeconds } from '../core/config.js';
import { apiRoute, tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import * as m from './model.js';
import { getComponent } from './service.js';
import { syncComponent, syncResult } from './sync.js';
import { listVersions, versionMap, versionsQuery } from './versions.js';

export function componentVersionRoutes(app: App, { db, clock, outbound }: Deps): void {
  const tags = ['components'];
  // Read per request so an operator's setting applies to API-triggered syncs as well as scheduled ones.
  const intervalSeconds = () => syncIntervalSeconds() || 300;

  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/components/:ref/sync-versions',
      access: RELEASE_WRITE,
      tags,
      summary: "Sync the component's version map from its registry now",
      description:
        "Lists the repository's tags, resolves each version tag to its digest and records changes in one transaction. " +
        'A tag that moved to another digest keeps its old mapping as history. Registry failures: 422 registry_auth_failed / registry_not_found, 502 registry_unreachable, 504 registry_timeout.',
      params: m.componentRef,
      response: { 200: syncResult },
    },
    (req, a) => syncComponent(db, a.tenantId, req.params.ref, { clock, intervalSeconds: intervalSeconds(), outbound }),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/components/:ref/versions',
      access: READ,
      tags,
      summary: "List the component's versions (tag → digest), newest first",
      params: m.componentRef,
      querystring: versionsQuery,
      response: { 200: z.object({ items: z.array(versionMap), nextCursor: z.string().nullable() }) },
    },
    async (tx, req) => listVersions(tx, await getComponent(tx, req.params.ref), req.query),
  );
}
