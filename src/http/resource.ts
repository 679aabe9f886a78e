// The one shape of the API's user routes: `tenantRoute` declares a route whose handler runs in the caller's
// tenant transaction, `apiRoute` one whose handler opens what it needs itself, and `resourceRoutes` the list,
// get, create, change and delete routes of a resource from one spec. Each route declares its access
// (`config.access`, enforced by the auth hook in tenancy/auth.ts); errors reach the problem+json handler.
//
// A domain's routes.ts keeps only what differs from the shape:
//
//   resourceRoutes(app, db, {
//     path: '/api/v1/components',                  // an item is at /api/v1/components/:ref (the ref schema's key)
//     tags: ['components'],
//     access: { read: READ, write: RELEASE_WRITE }, // list and get read; the others write (an operation may override)
//     item: m.component,                            // what get, create and update answer; list pages of it (or of list.item)
//     ref: m.componentRef,
//     list: { summary: 'List components', run: (tx, q) => svc.listComponents(tx, q.limit, q.cursor) },
//     get: { summary: 'Get a component by id or name', run: (tx, { ref }) => svc.getComponent(tx, ref) },
//     create: { summary: 'Create a component', body: m.componentCreate, run: (tx, body, a) => svc.createComponent(tx, a.tenantId, body) },
//     update: { summary: 'Change a component', body: m.componentUpdate, run: (tx, { ref }, body) => svc.updateComponent(tx, ref, body) },
//     remove: { summary: 'Delete a component', run: (tx, { ref }) => svc.deleteComponent(tx, ref) },
//   });
//
//   tenantRoute(app, db, { method: 'POST', url: '/api/v1/components/:ref/frob', access: RELEASE_WRITE, tags,
//     summary: 'Frob a component', params: m.componentRef, response: { 200: m.component } },
//     (tx, req, a) => svc.frob(tx, req.params.ref, a.userId));
//
// What else a resource may say: `read` (list and get answer a richer item, made from each stored one after the
// transaction), `list.item` and `list.querystring` (a list of summaries, filters), `before` on create and update
// (checks outside the transaction), `access` per operation. Routes are registered in the order they are
// declared, a resource's operations in the order its spec lists them: the OpenAPI document lists paths, and a
// path's methods, in that order.
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { type Db, type Tx, withTenant } from '../store/db.js';
import { caller } from './caller.js';
import { pageOf, pageQuery } from './pagination.js';
import type { Access, App, AuthContext } from './types.js';

type Schema = z.ZodType;
/** Response schemas by status code. */
type Responses = Record<number, Schema>;
/** A validated part of the request: its schema's output, undefined where the route declares none. */
type Input<S> = S extends Schema ? z.output<S> : undefined;
/** What a handler answers: the output of the route's response schemas; anything (not sent) without one. */
export type Output<R> = R extends Responses ? z.output<R[keyof R]> : unknown;

/** The request as a handler sees it: params, query and body typed by the route's schemas. */
export type RouteRequest<P, Q, B> = Omit<FastifyRequest, 'params' | 'query' | 'body'> & {
  params: Input<P>;
  query: Input<Q>;
  body: Input<B>;
};

export interface RouteSpec<P, Q, B, R> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  access: Access;
  tags: readonly string[];
  summary: string;
  description?: string | undefined;
  params?: P;
  querystring?: Q;
  body?: B;
  response?: R;
  /** The status of a success: 200 unless given; 204 sends no body; a function picks it by the answer. */
  status?: number | ((out: Output<R>) => number);
  /** Runs first, outside the handler's transaction: checks that use the database or the network themselves. */
  before?: ((req: RouteRequest<P, Q, B>, caller: AuthContext) => void | Promise<void>) | undefined;
}

type Handler<P, Q, B, R> = (req: RouteRequest<P, Q, B>, caller: AuthContext) => Promise<Output<R>>;

/** A route for an authenticated user whose handler opens its own transactions (or needs none). */
export function apiRoute<
  P extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
  B extends Schema | undefined = undefined,
  R extends Responses | undefined = undefined,
>(app: App, spec: RouteSpec<P, Q, B, R>, handler: Handler<P, Q, B, R>): void {
  const { status = 200, before, ...shape } = spec;
  register(app, shape, async (req, a) => {
    // The route's schemas validated these parts; Fastify cannot resolve its type provider over generic schemas.
    const r = req as unknown as RouteRequest<P, Q, B>;
    await before?.(r, a);
    const out = await handler(r, a);
    return { status: typeof status === 'function' ? status(out) : status, out };
  });
}

type RouteShape = Omit<RouteSpec<Schema | undefined, Schema | undefined, Schema | undefined, Responses | undefined>, 'status' | 'before'>;

function register(
  app: App,
  shape: RouteShape,
  handler: (req: FastifyRequest, caller: AuthContext) => Promise<{ status: number; out?: unknown }>,
): void {
  const { method, url, access, tags, summary, description, params, querystring, body, response } = shape;
  if (access === 'public' || access === 'agent')
    throw new Error(`${method} ${url}: a route with access '${access}' has no user to call it`);
  // Only the parts the route has: the OpenAPI document and validation see exactly what is declared.
  const schema = Object.fromEntries(
    Object.entries({ tags, summary, description, params, querystring, body, response }).filter(([, v]) => v !== undefined),
  );
  app.route({
    method,
    url,
    config: { access },
    schema,
    handler: async (req, reply) => {
      const { status, out } = await handler(req, caller(req));
      return status === 204 ? reply.status(204).send() : reply.status(status).send(out);
    },
  });
}

/** A route for an authenticated user whose handler runs in one transaction of the caller's tenant. */
export function tenantRoute<
  P extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
  B extends Schema | undefined = undefined,
  R extends Responses | undefined = undefined,
>(
  app: App,
  db: Db,
  spec: RouteSpec<P, Q, B, R>,
  handler: (tx: Tx, req: RouteRequest<P, Q, B>, caller: AuthContext) => Promise<Output<R>>,
): void {
  apiRoute(app, spec, (req, a) => withTenant(db, a.tenantId, (tx) => handler(tx, req, a)));
}

interface Operation {
  summary: string;
  description?: string;
  /** Instead of the resource's read or write access. */
  access?: Access;
}

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ResourceSpec<
  I extends Schema,
  Ref extends z.ZodObject,
  RI extends Schema,
  LI extends Schema,
  LQ extends Schema,
  C extends Schema,
  U extends Schema,
> {
  /** The collection, e.g. /api/v1/components; an item's path adds the ref schema's one key (/:ref). */
  path: string;
  tags: readonly string[];
  access: { read: Access; write: Access };
  /** What get, create and update answer, and list pages of unless it has an item of its own. */
  item: I;
  /** Path parameters naming one item. */
  ref: Ref;
  /** When list and get answer more than the item: their schema, and how an item becomes one (after the transaction). */
  read?: { item: RI; present: (item: z.output<I>) => z.output<RI> };
  /** GET path: a page of items, or of the list's own item (a summary); the query is `pageQuery` unless given. */
  list?: Operation & {
    item?: LI;
    querystring?: LQ;
    run: (tx: Tx, query: z.output<LQ>, caller: AuthContext) => Promise<Page<z.output<LI>>>;
  };
  /** GET path/:ref */
  get?: Operation & { run: (tx: Tx, params: z.output<Ref>, caller: AuthContext) => Promise<z.output<I>> };
  /** POST path: 201 with the item; `before` runs outside the transaction. */
  create?: Operation & {
    body: C;
    before?: (body: z.output<C>, caller: AuthContext) => void | Promise<void>;
    run: (tx: Tx, body: z.output<C>, caller: AuthContext) => Promise<z.output<I>>;
  };
  /** PATCH path/:ref; `before` runs outside the transaction. */
  update?: Operation & {
    body: U;
    before?: (body: z.output<U>, caller: AuthContext) => void | Promise<void>;
    run: (tx: Tx, params: z.output<Ref>, body: z.output<U>, caller: AuthContext) => Promise<z.output<I>>;
  };
  /** DELETE path/:ref: 204. */
  remove?: Operation & { run: (tx: Tx, params: z.output<Ref>, caller: AuthContext) => Promise<unknown> };
}

/** The routes of the operations the spec declares, registered in the order the spec lists them. */
export function resourceRoutes<
  I extends Schema,
  Ref extends z.ZodObject,
  RI extends Schema = I,
  LI extends Schema = I,
  LQ extends Schema = typeof pageQuery,
  C extends Schema = Schema,
  U extends Schema = Schema,
>(app: App, db: Db, spec: ResourceSpec<I, Ref, RI, LI, LQ, C, U>): void {
  const { path, tags, access, item, ref, read, list, get, create, update, remove } = spec;
  const keys = Object.keys(ref.shape);
  if (keys.length !== 1) throw new Error(`${path}: the ref schema must name one path parameter, not ${keys.length}`);
  const itemUrl = `${path}/:${keys[0]}`;
  const route = (op: Operation, fallback: Access) => ({
    tags,
    summary: op.summary,
    description: op.description,
    access: op.access ?? fallback,
  });
  const inTenant = <T>(a: AuthContext, fn: (tx: Tx) => Promise<T>) => withTenant(db, a.tenantId, fn);
  const readItem = read?.item ?? item;
  const present = (x: z.output<I>) => (read ? read.present(x) : x);
  // Each route below declares the schema of every part it reads (ref, querystring, body), so Fastify validated
  // them; a list without a querystring or item of its own has the defaults of LQ and LI (pageQuery, I).
  const parts = (req: FastifyRequest) => req as unknown as { params: z.output<Ref>; query: z.output<LQ>; body: unknown };

  const operations = {
    list() {
      if (!list) return;
      const { querystring = pageQuery, item: own } = list;
      const shape = {
        method: 'GET',
        url: path,
        ...route(list, access.read),
        querystring,
        response: { 200: pageOf(own ?? readItem) },
      } as const;
      register(app, shape, async (req, a) => {
        const page = await inTenant(a, (tx) => list.run(tx, parts(req).query, a));
        // A list of its own items (summaries) is not presented as read items.
        return { status: 200, out: read && !own ? { ...page, items: page.items.map((x) => present(x as z.output<I>)) } : page };
      });
    },
    get() {
      if (!get) return;
      const shape = { method: 'GET', url: itemUrl, ...route(get, access.read), params: ref, response: { 200: readItem } } as const;
      register(app, shape, async (req, a) => ({ status: 200, out: present(await inTenant(a, (tx) => get.run(tx, parts(req).params, a))) }));
    },
    create() {
      if (!create) return;
      const shape = { method: 'POST', url: path, ...route(create, access.write), body: create.body, response: { 201: item } } as const;
      register(app, shape, async (req, a) => {
        const body = parts(req).body as z.output<C>;
        await create.before?.(body, a);
        return { status: 201, out: await inTenant(a, (tx) => create.run(tx, body, a)) };
      });
    },
    update() {
      if (!update) return;
      const shape = {
        method: 'PATCH',
        url: itemUrl,
        ...route(update, access.write),
        params: ref,
        body: update.body,
        response: { 200: item },
      } as const;
      register(app, shape, async (req, a) => {
        const { params } = parts(req);
        const body = parts(req).body as z.output<U>;
        await update.before?.(body, a);
        return { status: 200, out: await inTenant(a, (tx) => update.run(tx, params, body, a)) };
      });
    },
    remove() {
      if (!remove) return;
      const shape = { method: 'DELETE', url: itemUrl, ...route(remove, access.write), params: ref } as const;
      register(app, shape, async (req, a) => {
        await inTenant(a, (tx) => remove.run(tx, parts(req).params, a));
        return { status: 204 };
      });
    },
  };
  // The OpenAPI document lists paths, and a path's methods, in the order their routes are registered.
  for (const key of Object.keys(spec)) if (key in operations) operations[key as keyof typeof operations]();
}
