// Shared types for route modules: the Zod-typed Fastify instance and the dependencies every domain gets.
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Clock } from '../core/clock.js';
import type { Signer } from '../evidence/signer.js';
import type { SecretAccess } from '../integrations/secrets.js';
import type { Db } from '../store/db.js';
import type { Outbound } from './outbound.js';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export interface Deps {
  db: Db;
  clock: Clock;
  /** Signs evidence packets; buildApp always sets it (an ephemeral key in tests). */
  signer?: Signer;
  /** What tenants' secret references may reach, and the secret store's key; buildApp always sets it. */
  secrets?: SecretAccess;
  /** The door for requests made on a tenant's behalf (tenant-configured URLs); buildApp always sets it. */
  outbound?: Outbound;
}

export const ROLES = ['admin', 'release_manager', 'approver', 'deployer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface AuthContext {
  tenantId: string;
  tenantName: string;
  userId: string;
  username: string;
  roles: Role[];
  tokenId: string;
  /** The user is a platform admin and this token carries platform powers (minted as a platform token). */
  isPlatformAdmin: boolean;
}

/**
 * Who may call a route: anyone ('public'), an agent with its own credential, checked by the route ('agent'),
 * any authenticated caller of the tenant ('any'), a platform admin using a platform token ('platform'), or
 * one of the listed roles (admin always may).
 */
export type Access = 'public' | 'agent' | 'any' | 'platform' | Role[];

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | undefined;
  }
  interface FastifyContextConfig {
    access?: Access;
    /** The caller proves itself with a one-use event-stream ticket in `?ticket=` instead of the bearer header. */
    streamTicket?: boolean;
  }
}

/** The common read/write access sets, so routes say what they mean. */
export const READ: Access = 'any';
export const ADMIN: Access = ['admin'];
export const RELEASE_WRITE: Access = ['admin', 'release_manager'];
/** Platform administration (tenants, plugins, platform admins): never granted by a tenant role. */
export const PLATFORM: Access = 'platform';
