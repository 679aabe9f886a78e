// HTTP routes for tenants, users, tokens and whoami.
import { afterOf, pageOf, pageQuery, toPage } from '../http/pagination.js';
import { apiRoute, resourceRoutes, tenantRoute } from '../http/resource.js';
import { ADMIN, type App, type Deps, PLATFORM, READ } from '../http/types.js';
import { type Tx, withSystem, withTenant } from '../store/db.js';
import * as members from './members.js';
import * as m from './model.js';
import * as svc from './service.js';

export function tenancyRoutes(app: App, { db, clock }: Deps): void {
  const tags = ['tenancy'];
  apiRoute(
    app,
    { method: 'GET', url: '/api/v1/whoami', access: READ, tags, summary: 'Who the token belongs to', response: { 200: m.whoami } },
    async (_req, a) => ({
      tenant: { id: a.tenantId, name: a.tenantName },
      user: { id: a.userId, username: a.username },
      roles: a.roles,
      isPlatformAdmin: a.isPlatformAdmin,
    }),
  );

  // Tenants: platform admins see and create all; others see their own tenant.
  apiRoute(
    app,
    {
      method: 'GET',
      url: '/api/v1/tenants',
      access: READ,
      tags,
      summary: 'List tenants',
      querystring: pageQuery,
      response: { 200: pageOf(m.tenant) },
    },
    async (req, a) => {
      const after = afterOf(req.query.cursor);
      const page = (tx: Tx) =>
        tx.query<svc.TenantRow>('SELECT * FROM tenants WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2', [
          after ?? null,
          req.query.limit + 1,
        ]);
      const rows = a.isPlatformAdmin ? await withSystem(db, page) : await withTenant(db, a.tenantId, page);
      return toPage(rows.rows, req.query.limit, (r) => [r.id], svc.tenantOut);
    },
  );

  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/tenants',
      access: PLATFORM,
      tags,
      summary: 'Create a tenant with its first admin (platform admins only)',
      description: 'The first admin is always a new user whose home is the new tenant: an existing username answers 409 `username_taken`.',
      body: m.tenantCreate,
      response: { 201: m.tenantCreated },
      status: 201,
    },
    (req) => svc.createTenant(db, req.body),
  );

  // Users. Adding one looks the username up across all tenants, so it runs in a system transaction of its own.
  resourceRoutes(app, db, {
    path: '/api/v1/users',
    tags,
    access: { read: READ, write: ADMIN },
    item: m.user,
    ref: m.idParam,
    list: {
      summary: 'List the users of this tenant',
      run: async (tx, q, a) =>
        toPage(await members.listUsers(tx, a.tenantId, q.limit, afterOf(q.cursor)), q.limit, (r) => [r.id], members.userOut),
    },
    get: { summary: 'Get a user', run: (tx, { id }, a) => members.getUser(tx, a.tenantId, id) },
    update: {
      summary: 'Change a user’s name, email or roles',
      description:
        'Roles: any member. Name and email: only members this tenant manages (`managedHere`), else 403 `user_managed_elsewhere`.',
      body: m.userUpdate,
      run: (tx, { id }, body, a) => members.updateUser(tx, a, id, body),
    },
    remove: {
      summary: 'Remove a user from this tenant (revokes their tokens here)',
      run: (tx, { id }, a) => members.removeUser(tx, a, id),
    },
  });
  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/users',
      access: ADMIN,
      tags,
      summary: 'Add a user to this tenant with roles',
      description:
        'Creates a new user whose home is this tenant (or re-adds one this tenant removed). A username that belongs to anyone else answers 409 `username_taken`.',
      body: m.userCreate,
      response: { 201: m.user },
      status: 201,
    },
    (req, a) => members.addUser(db, a.tenantId, req.body),
  );

  // Tokens
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/tokens',
      access: READ,
      tags,
      summary: 'List tokens (admins: all of the tenant; others: their own)',
      querystring: pageQuery,
      response: { 200: pageOf(m.token) },
    },
    async (tx, req, a) =>
      toPage(await svc.listTokens(tx, a, req.query.limit, afterOf(req.query.cursor)), req.query.limit, (r) => [r.id], svc.tokenOut),
  );

  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/tokens',
      access: READ,
      tags,
      summary: 'Create an API token; the secret is returned once',
      body: m.tokenCreate,
      response: { 201: m.tokenCreated },
      status: 201,
    },
    (req, a) => svc.createToken(db, a, req.body, clock.now()),
  );

  tenantRoute(
    app,
    db,
    {
      method: 'DELETE',
      url: '/api/v1/tokens/:id',
      access: READ,
      tags,
      summary: 'Revoke a token (your own; admins: any of the tenant)',
      params: m.idParam,
      response: { 200: m.token },
    },
    (tx, req, a) => svc.revokeToken(tx, a, req.params.id),
  );
}
