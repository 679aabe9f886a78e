// Who is calling an authenticated route: the context the auth hook (tenancy/auth.ts) put on the request.
import type { FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../core/errors.js';
import type { AuthContext } from './types.js';

/** The caller of an authenticated route; routes with access other than 'public' always have one. */
export function caller(req: FastifyRequest): AuthContext {
  if (!req.auth) throw new UnauthorizedError();
  return req.auth;
}
