// HTTP routes for configuration applies: `gantry apply` records each apply that changed something.
import { resourceRoutes } from '../http/resource.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import * as m from './model.js';
import * as svc from './service.js';

export function configApplyRoutes(app: App, { db, clock }: Deps): void {
  resourceRoutes(app, db, {
    path: '/api/v1/config-applies',
    tags: ['config'],
    access: { read: READ, write: ADMIN },
    item: m.configApply,
    ref: m.configApplyRef,
    list: { summary: 'List configuration applies, newest first', run: (tx, q) => svc.listApplies(tx, q.limit, q.cursor) },
    get: { summary: 'Get one configuration apply', run: (tx, { id }) => svc.getApply(tx, id) },
    create: {
      summary: 'Record a configuration apply (gantry apply): the files’ sha256 and what changed; announced as config.applied',
      body: m.configApplyCreate,
      run: (tx, body, a) => svc.recordApply(tx, a.tenantId, { id: a.userId, username: a.username }, body, clock.now()),
    },
  });
}
