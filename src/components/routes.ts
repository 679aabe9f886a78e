// HTTP routes for components (deployable images).
import { resourceRoutes } from '../http/resource.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import * as m from './model.js';
import * as svc from './service.js';

export function componentRoutes(app: App, { db }: Deps): void {
  resourceRoutes(app, db, {
    path: '/api/v1/components',
    tags: ['components'],
    access: { read: READ, write: RELEASE_WRITE },
    item: m.component,
    ref: m.componentRef,
    list: { summary: 'List components', run: (tx, q) => svc.listComponents(tx, q.limit, q.cursor) },
    get: { summary: 'Get a component by id or name', run: (tx, { ref }) => svc.getComponent(tx, ref) },
    create: { summary: 'Create a component', body: m.componentCreate, run: (tx, body, a) => svc.createComponent(tx, a.tenantId, body) },
    update: { summary: 'Change a component', body: m.componentUpdate, run: (tx, { ref }, body) => svc.updateComponent(tx, ref, body) },
    remove: { summary: 'Delete a component and its version map', run: (tx, { ref }) => svc.deleteComponent(tx, ref) },
  });
}
