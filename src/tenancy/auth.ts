// Authentication and role checks for every /api/v1 route; a route without a declared access level fails at start-up.
import { ForbiddenError, UnauthorizedError } from '../core/errors.js';
import { redeemTicket, ticketKey } from '../events/service.js';
import type { Access, App, AuthContext, Deps } from '../http/types.js';
import { authenticate } from './service.js';

export function registerAuth(app: App, deps: Deps): void {
  app.decorateRequest('auth', undefined);

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v1/') || route.url === '/api/v1/openapi.json') return;
    const access = route.config?.access;
    if (!access) throw new Error(`route ${route.method} ${route.url} declares no access level`);
    // Published in the OpenAPI document, so clients and the route-matrix test know who may call what.
    if (route.schema) route.schema = { ...route.schema, 'x-gantry-access': access } as typeof route.schema;
  });

  // onRequest: refuse before the body is parsed or validated, so strangers learn nothing from 400s.
  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config?.access;
    // Agent routes authenticate the agent credential themselves (onRequest of the route).
    if (!access || access === 'public' || access === 'agent') return;
    if (req.routeOptions.config?.streamTicket) {
      const auth = await redeemTicket(
        deps.db,
        ticketKeyOf(deps),
        (req.query as { ticket?: unknown } | undefined)?.ticket,
        deps.clock.now(),
      );
      req.auth = auth;
      req.log = req.log.child({ tenant: auth.tenantName, user: auth.username });
      checkAccess(auth, access);
      return;
    }
    const header = req.headers.authorization;
    const m = header?.match(/^Bearer\s+(\S+)$/i);
    if (!m?.[1]) throw new UnauthorizedError();
    const auth = await authenticate(deps.db, m[1], deps.clock.now());
    req.auth = auth;
    req.log = req.log.child({ tenant: auth.tenantName, user: auth.username });
    checkAccess(auth, access);
  });
}

const ticketKeys = new WeakMap<Deps, Buffer>();

/** The event-stream ticket key of this app (derived once from its secret-store key). */
export function ticketKeyOf(deps: Deps): Buffer {
  let key = ticketKeys.get(deps);
  if (!key) {
    key = ticketKey(deps.secrets?.masterKey?.key);
    ticketKeys.set(deps, key);
  }
  return key;
}

/** "admin, release_manager": admin first (it always may), each role once. */
export function rolesText(roles: readonly string[]): string {
  return [...new Set(['admin', ...roles])].join(', ');
}

export function checkAccess(auth: AuthContext, access: Access): void {
  if (access === 'public' || access === 'any') return;
  if (access === 'agent') throw new UnauthorizedError('This route is for agents: send the agent credential, not a user token.');
  if (access === 'platform') {
    if (auth.isPlatformAdmin) return;
    throw new ForbiddenError(
      'This is a platform route: it needs a platform admin using a platform token. Tenant roles never grant it; ' +
        'a platform admin grants it (POST /api/v1/platform/admins) or the operator does on the server host (`gantry admin grant-platform-admin`).',
    );
  }
  if (auth.roles.includes('admin')) return;
  if (!access.some((r) => auth.roles.includes(r))) {
    throw new ForbiddenError(
      `This needs one of the roles ${rolesText(access)}; you have ${auth.roles.join(', ') || 'none'} in tenant "${auth.tenantName}".`,
    );
  }
}
