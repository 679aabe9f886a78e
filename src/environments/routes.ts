// HTTP routes for environments.

import { formatZoned } from '../core/zoned.js';
import { activeWindows, freezeEnds } from '../gates/freeze.js';
import { resourceRoutes } from '../http/resource.js';
import { ADMIN, type App, type Deps, READ } from '../http/types.js';
import type { FreezeWindow } from './freeze.js';
import * as m from './model.js';
import * as svc from './service.js';

export function environmentRoutes(app: App, { db, clock }: Deps): void {
  const withFreeze = (env: m.Environment) => {
    const active = activeWindows(env.freezeWindows as FreezeWindow[], clock.now());
    const ends = active.length ? freezeEnds(env.freezeWindows as FreezeWindow[], clock.now()) : null;
    return {
      ...env,
      freeze: {
        active: active.map((w) => w.name),
        until: ends ? ends.at.toISOString() : null,
        untilLocal: ends ? formatZoned(ends.at, ends.window.timezone) : null,
      },
    };
  };
  resourceRoutes(app, db, {
    path: '/api/v1/environments',
    tags: ['environments'],
    access: { read: READ, write: ADMIN },
    item: m.environment,
    ref: m.envRef,
    // Reads say which freeze windows are active now and when the freeze ends.
    read: { item: m.environmentRead, present: withFreeze },
    list: { summary: 'List environments in promotion order', run: (tx, q) => svc.listEnvironments(tx, q.limit, q.cursor) },
    get: { summary: 'Get an environment by id or name', run: (tx, { ref }) => svc.getEnvironment(tx, ref) },
    create: {
      summary: 'Create an environment',
      body: m.environmentCreate,
      run: (tx, body, a) => svc.createEnvironment(tx, a.tenantId, body),
    },
    update: {
      summary: 'Change an environment',
      body: m.environmentUpdate,
      run: (tx, { ref }, body) => svc.updateEnvironment(tx, ref, body),
    },
    remove: {
      summary: 'Delete an environment (refused while targets or history refer to it)',
      run: (tx, { ref }) => svc.deleteEnvironment(tx, ref),
    },
  });
}
