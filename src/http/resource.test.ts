// The route helpers: what they register (order, access, schemas) and how a request runs through them
// (caller, checks before the transaction, statuses). The database is a stand-in that records statements.
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Db } from '../store/db.js';
import { errorHandler } from './problem.js';
import { apiRoute, resourceRoutes, tenantRoute } from './resource.js';
import { ADMIN, type App, type AuthContext, READ } from './types.js';

const caller: AuthContext = {
  tenantId: '00000000-0000-7000-8000-000000000001',
  tenantName: 'acme',
  userId: '00000000-0000-7000-8000-000000000002',
  username: 'ada',
  roles: ['admin'],
  tokenId: '00000000-0000-7000-8000-000000000003',
  isPlatformAdmin: false,
};

function setup() {
  const log: string[] = [];
  const client = {
    query: async (sql: string) => {
      // A tenant transaction opens with several statements in one text (BEGIN; SET LOCAL ROLE …; SELECT …).
      for (const statement of sql.split(/;\s*/).filter(Boolean)) log.push(statement.split(' ')[0] ?? statement);
      return { rows: [], rowCount: 0 };
    },
    release: () => {},
  };
  const db = { connect: async () => client } as unknown as Db;
  const app: App = Fastify().withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.decorateRequest('auth', undefined);
  app.addHook('onRequest', async (req) => {
    req.auth = caller;
  });
  const routes: string[] = [];
  app.addHook('onRoute', (r) => {
    if (r.method !== 'HEAD') routes.push(`${r.method} ${r.url} ${JSON.stringify(r.config?.access)}`);
  });
  return { app, db, log, routes };
}

const thing = z.object({ id: z.string(), name: z.string() });
const ref = z.strictObject({ ref: z.string() });

describe('resourceRoutes', () => {
  it('registers the operations the spec lists, in its order, with read and write access', async () => {
    const { app, db, routes } = setup();
    resourceRoutes(app, db, {
      path: '/api/v1/things',
      tags: ['things'],
      access: { read: READ, write: ADMIN },
      item: thing,
      ref,
      create: { summary: 'Create', body: z.object({ name: z.string() }), run: async (_tx, body) => ({ id: '1', ...body }) },
      list: { summary: 'List', run: async () => ({ items: [], nextCursor: null }) },
      remove: { summary: 'Delete', access: ['release_manager'], run: async () => {} },
    });
    await app.ready();
    expect(routes).toEqual(['POST /api/v1/things ["admin"]', 'GET /api/v1/things "any"', 'DELETE /api/v1/things/:ref ["release_manager"]']);
  });

  it('answers 201 with the created item, 204 without a body on delete, and pages read items through present', async () => {
    const { app, db, log } = setup();
    resourceRoutes(app, db, {
      path: '/api/v1/things',
      tags: ['things'],
      access: { read: READ, write: ADMIN },
      item: thing,
      ref,
      read: { item: thing.extend({ shown: z.boolean() }), present: (t) => ({ ...t, shown: true }) },
      list: { summary: 'List', run: async (_tx, q) => ({ items: [{ id: String(q.limit), name: 'a' }], nextCursor: null }) },
      create: {
        summary: 'Create',
        body: z.object({ name: z.string() }),
        before: (body) => {
          log.push(`before ${body.name}`);
        },
        run: async (_tx, body, a) => ({ id: a.username, ...body }),
      },
      remove: { summary: 'Delete', run: async () => {} },
    });
    const created = await app.inject({ method: 'POST', url: '/api/v1/things', payload: { name: 'x' } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({ id: 'ada', name: 'x' });
    // The check ran before the transaction began.
    expect(log.slice(0, 2)).toEqual(['before x', 'BEGIN']);

    const list = await app.inject({ method: 'GET', url: '/api/v1/things?limit=7' });
    expect(list.json()).toEqual({ items: [{ id: '7', name: 'a', shown: true }], nextCursor: null });

    const removed = await app.inject({ method: 'DELETE', url: '/api/v1/things/x' });
    expect(removed.statusCode).toBe(204);
    expect(removed.body).toBe('');
  });

  it('refuses a ref schema that does not name exactly one path parameter', () => {
    const { app, db } = setup();
    expect(() =>
      resourceRoutes(app, db, {
        path: '/api/v1/things',
        tags: [],
        access: { read: READ, write: ADMIN },
        item: thing,
        ref: z.strictObject({}),
      }),
    ).toThrow(/one path parameter/);
  });
});

describe('tenantRoute and apiRoute', () => {
  it('validates the parts the spec declares, answers the status it picks, and runs in a tenant transaction', async () => {
    const { app, db, log } = setup();
    tenantRoute(
      app,
      db,
      {
        method: 'PUT',
        url: '/api/v1/things/:ref',
        access: ADMIN,
        tags: ['things'],
        summary: 'Put',
        params: ref,
        body: z.strictObject({ name: z.string() }),
        response: { 200: thing, 201: thing },
        status: (t) => (t.name === 'new' ? 201 : 200),
      },
      async (_tx, req) => ({ id: req.params.ref, name: req.body.name }),
    );
    const created = await app.inject({ method: 'PUT', url: '/api/v1/things/a', payload: { name: 'new' } });
    expect([created.statusCode, created.json()]).toEqual([201, { id: 'a', name: 'new' }]);
    expect(log).toContain('SET');
    const replaced = await app.inject({ method: 'PUT', url: '/api/v1/things/a', payload: { name: 'old' } });
    expect(replaced.statusCode).toBe(200);
    const invalid = await app.inject({ method: 'PUT', url: '/api/v1/things/a', payload: { name: 1 } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.headers['content-type']).toMatch(/problem\+json/);
  });

  it('has no route for access a user cannot hold (public, agent)', () => {
    const { app } = setup();
    expect(() =>
      apiRoute(app, { method: 'GET', url: '/api/v1/open', access: 'public', tags: [], summary: 'Open' }, async () => undefined),
    ).toThrow(/no user/);
  });
});
