// HTTP routes for tenants, users, tokens and whoami.
import { caller } from '../http/caller.js';
import { afterOf, pageOf, pageQuery, toPage } from '../http/pagination.js';
import { ADMIN, type App, type Deps, PLATFORM, READ } from '../http/types.js';
import { withSystem, withTenant } from '../store/db.js';
import * as members from './members.js';
import * as m from './model.js';
import * as svc from './service.js';

export function tenancyRoutes(app: App, { db, clock }: Deps): void {
  app.get(
    '/api/v1/whoami',
    {
      config: { access: READ },
      schema: { tags: ['tenancy'], summary: 'Who the token belongs to', response: { 200: m.whoami } },
    },
    async (req) => {
      const a = caller(req);
      return {
        tenant: { id: a.tenantId, name: a.tenantName },
        user: { id: a.userId, username: a.username },
        roles: a.roles,
        isPlatformAdmin: a.isPlatformAdmin,
      };
    },
  );

  // Tenants: platform admins see and create all; others see their own tenant.
  app.get(
    '/api/v1/tenants',
    {
      config: { access: READ },
      schema: { tags: ['tenancy'], summary: 'List tenants', querystring: pageQuery, response: { 200: pageOf(m.tenant) } },
    },
    async (req) => {
      const a = caller(req);
      const after = afterOf(req.query.cursor);
      const rows = a.isPlatformAdmin
        ? await withSystem(db, (tx) =>
            tx.query<svc.TenantRow>('SELECT * FROM tenants WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2', [
              after ?? null,
              req.query.limit + 1,
            ]),
          )
        : await withTenant(db, a.tenantId, (tx) =>
            tx.query<svc.TenantRow>('SELECT * FROM tenants WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2', [
              after ?? null,
              req.query.limit + 1,
            ]),
          );
      return toPage(rows.rows, req.query.limit, (r) => [r.id], svc.tenantOut);
    },
  );

  app.post(
    '/api/v1/tenants',
    {
      config: { access: PLATFORM },
      schema: {
        tags: ['tenancy'],
        summary: 'Create a tenant with its first admin (platform admins only)',
        description:
          'The first admin is always a new user whose home is the new tenant: an existing username answers 409 `username_taken`.',
        body: m.tenantCreate,
        response: { 201: m.tenantCreated },
      },
    },
    async (req, reply) => {
      const created = await svc.createTenant(db, req.body);
      return reply.status(201).send(created);
    },
  );

  // Users
  app.get(
    '/api/v1/users',
    {
      config: { access: READ },
      schema: { tags: ['tenancy'], summary: 'List the users of this tenant', querystring: pageQuery, response: { 200: pageOf(m.user) } },
    },
    async (req) => {
      const a = caller(req);
      const rows = await withTenant(db, a.tenantId, (tx) => members.listUsers(tx, a.tenantId, req.query.limit, afterOf(req.query.cursor)));
      return toPage(rows, req.query.limit, (r) => [r.id], members.userOut);
    },
  );

  app.get(
    '/api/v1/users/:id',
    {
      config: { access: READ },
      schema: { tags: ['tenancy'], summary: 'Get a user', params: m.idParam, response: { 200: m.user } },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => members.getUser(tx, a.tenantId, req.params.id));
    },
  );

  app.post(
    '/api/v1/users',
    {
      config: { access: ADMIN },
      schema: {
        tags: ['tenancy'],
        summary: 'Add a user to this tenant with roles',
        description:
          'Creates a new user whose home is this tenant (or re-adds one this tenant removed). A username that belongs to anyone else answers 409 `username_taken`.',
        body: m.userCreate,
        response: { 201: m.user },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      return reply.status(201).send(await members.addUser(db, a.tenantId, req.body));
    },
  );

  app.patch(
    '/api/v1/users/:id',
    {
      config: { access: ADMIN },
      schema: {
        tags: ['tenancy'],
        summary: 'Change a user’s name, email or roles',
        description:
          'Roles: any member. Name and email: only members this tenant manages (`managedHere`), else 403 `user_managed_elsewhere`.',
        params: m.idParam,
        body: m.userUpdate,
        response: { 200: m.user },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => members.updateUser(tx, a, req.params.id, req.body));
    },
  );

  app.delete(
    '/api/v1/users/:id',
    {
      config: { access: ADMIN },
      schema: { tags: ['tenancy'], summary: 'Remove a user from this tenant (revokes their tokens here)', params: m.idParam },
    },
    async (req, reply) => {
      const a = caller(req);
      await withTenant(db, a.tenantId, (tx) => members.removeUser(tx, a, req.params.id));
      return reply.status(204).send();
    },
  );

  // Tokens
  app.get(
    '/api/v1/tokens',
    {
      config: { access: READ },
      schema: {
        tags: ['tenancy'],
        summary: 'List tokens (admins: all of the tenant; others: their own)',
        querystring: pageQuery,
        response: { 200: pageOf(m.token) },
      },
    },
    async (req) => {
      const a = caller(req);
      const rows = await withTenant(db, a.tenantId, (tx) => svc.listTokens(tx, a, req.query.limit, afterOf(req.query.cursor)));
      return toPage(rows, req.query.limit, (r) => [r.id], svc.tokenOut);
    },
  );

  app.post(
    '/api/v1/tokens',
    {
      config: { access: READ },
      schema: {
        tags: ['tenancy'],
        summary: 'Create an API token; the secret is returned once',
        body: m.tokenCreate,
        response: { 201: m.tokenCreated },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const created = await svc.createToken(db, a, req.body, clock.now());
      return reply.status(201).send(created);
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      config: { access: READ },
      schema: {
        tags: ['tenancy'],
        summary: 'Revoke a token (your own; admins: any of the tenant)',
        params: m.idParam,
        response: { 200: m.token },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => svc.revokeToken(tx, a, req.params.id));
    },
  );
}
