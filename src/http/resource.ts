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
//     item: m.component,                            // the answer of get, create and update; list answers pages of it
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
// Routes are registered in the order they are declared (list, get, create, update, remove for a resource):
// the OpenAPI document lists paths in that order.
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
  LQ extends Schema,
  C extends Schema,
  U extends Schema,
> {
  /** The collection, e.g. /api/v1/components; an item's path adds the ref schema's one key (/:ref). */
  path: string;
  tags: readonly string[];
  access: { read: Access; write: Access };
  /** What get, create and update answer, and list pages of. */
  item: I;
  /** Path parameters naming one item. */
  ref: Ref;
  /** When list and get answer more than the item: their schema, and how an item becomes one (after the transaction). */
  read?: { item: RI; present: (item: z.output<I>) => z.output<RI> };
  /** GET path: a page; the query is `pageQuery` unless given. */
  list?: Operation & { querystring?: LQ; run: (tx: Tx, query: z.output<LQ>, caller: AuthContext) => Promise<Page<z.output<I>>> };
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

/** The routes of a resource the spec declares operations for, in the order list, get, create, update, remove. */
export function resourceRoutes<
  I extends Schema,
  Ref extends z.ZodObject,
  RI extends Schema = I,
  LQ extends Schema = typeof pageQuery,
  C extends Schema = Schema,
  U extends Schema = Schema,
>(app: App, db: Db, spec: ResourceSpec<I, Ref, RI, LQ, C, U>): void {
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
  // them; a list without a querystring of its own has LQ's default, pageQuery's type.
  const parts = (req: FastifyRequest) => req as unknown as { params: z.output<Ref>; query: z.output<LQ>; body: unknown };

  if (list) {
    const querystring = list.querystring ?? pageQuery;
    register(
      app,
      { method: 'GET', url: path, ...route(list, access.read), querystring, response: { 200: pageOf(readItem) } },
      async (req, a) => {
        const page = await inTenant(a, (tx) => list.run(tx, parts(req).query, a));
        return { status: 200, out: read ? { ...page, items: page.items.map(present) } : page };
      },
    );
  }
  if (get) {
    register(
      app,
      { method: 'GET', url: itemUrl, ...route(get, access.read), params: ref, response: { 200: readItem } },
      async (req, a) => ({
        status: 200,
        out: present(await inTenant(a, (tx) => get.run(tx, parts(req).params, a))),
      }),
    );
  }
  if (create) {
    register(
      app,
      { method: 'POST', url: path, ...route(create, access.write), body: create.body, response: { 201: item } },
      async (req, a) => {
        const body = parts(req).body as z.output<C>;
        await create.before?.(body, a);
        return { status: 201, out: await inTenant(a, (tx) => create.run(tx, body, a)) };
      },
    );
  }
  if (update) {
    const shape = {
      method: 'PATCH',
      url: itemUrl,
      ...route(update, access.write),
      params: ref,
      body: update.body,
      response: { 200: item },
    } as const;
    register(app, shape, async (req, a) => {
      const { params, body } = parts(req);
      await update.before?.(body as z.output<U>, a);
      return { status: 200, out: await inTenant(a, (tx) => update.run(tx, params, body as z.output<U>, a)) };
    });
  }
  if (remove) {
    register(app, { method: 'DELETE', url: itemUrl, ...route(remove, access.write), params: ref }, async (req, a) => {
      await inTenant(a, (tx) => remove.run(tx, parts(req).params, a));
      return { status: 204 };
    });
  }
}
