// HTTP routes for integrations (registries, secret stores, webhooks).
import { denyingOutbound } from '../http/outbound.js';
import { resourceRoutes } from '../http/resource.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import * as m from './model.js';
import { secretAccessOf } from './secrets.js';
import * as svc from './service.js';

export function integrationRoutes(app: App, { db, secrets, outbound }: Deps): void {
  const access = () => secrets ?? secretAccessOf(db);
  // Every integration type's URL (url, or address for Vault) is fetched by the server: a literal forbidden
  // address is refused on save (422 naming the field); names are checked when connecting.
  const checkUrls = ({ config }: { config?: Record<string, unknown> | undefined }) => {
    for (const key of ['url', 'address']) {
      const v = config?.[key];
      if (typeof v === 'string') (outbound ?? denyingOutbound()).checkUrl(v, `body.config.${key}`);
    }
  };
  resourceRoutes(app, db, {
    path: '/api/v1/integrations',
    tags: ['integrations'],
    access: { read: READ, write: ADMIN },
    item: m.integration,
    ref: m.integrationRef,
    list: { summary: 'List integrations', run: (tx, q) => svc.listIntegrations(tx, q.limit, q.cursor) },
    get: { summary: 'Get an integration by id or name', run: (tx, { ref }) => svc.getIntegration(tx, ref) },
    create: {
      summary: 'Create an integration',
      body: m.integrationCreate,
      before: checkUrls,
      run: (tx, body, a) => svc.createIntegration(tx, a.tenantId, body, access()),
    },
    update: {
      summary: 'Change an integration (its type cannot change)',
      body: m.integrationUpdate,
      before: checkUrls,
      run: (tx, { ref }, body) => svc.updateIntegration(tx, ref, body, access()),
    },
    remove: { summary: 'Delete an integration (refused while components use it)', run: (tx, { ref }) => svc.deleteIntegration(tx, ref) },
  });
}
