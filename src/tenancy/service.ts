// Tenancy and access: first-start bootstrap, token authentication, tenants, users, role bindings, tokens.
import type { z } from 'zod';
import { ConflictError, ForbiddenError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import { generateToken, hashToken, tokenDisplayPrefix } from '../core/tokens.js';
import type { AuthContext, Role } from '../http/types.js';
import { type Db, type Tx, withSystem, withTenant } from '../store/db.js';
import { requireManaged } from './members.js';
import type { token, tokenCreate } from './model.js';

const BOOTSTRAP_LOCK = 0x67616e75;
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export interface BootstrapResult {
  created: boolean;
  token?: string;
}

/**
 * On an empty database: tenant "default", user "admin" (platform admin) with the admin role and one
 * token. Runs under an advisory lock so replicas starting together bootstrap once.
 */
export async function bootstrap(db: Db, presetToken?: string): Promise<BootstrapResult> {
  return withSystem(db, async (tx) => {
    // Key as a parameter: hex integer literals in SQL need PostgreSQL 16, and we support 14+.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
    const existing = await tx.query('SELECT 1 FROM tenants LIMIT 1');
    if (existing.rowCount) return { created: false };
    const t = await tx.query<{ id: string }>(`INSERT INTO tenants (name, display_name) VALUES ('default', 'Default') RETURNING id`);
    const tenantId = t.rows[0]!.id;
    const u = await tx.query<{ id: string }>(
      `INSERT INTO users (username, display_name, is_platform_admin, home_tenant_id) VALUES ('admin', 'Administrator', true, $1) RETURNING id`,
      [tenantId],
    );
    const userId = u.rows[0]!.id;
    await tx.query(`INSERT INTO role_bindings (tenant_id, user_id, role) VALUES ($1, $2, 'admin')`, [tenantId, userId]);
    const secret = presetToken ?? generateToken();
    await insertToken(tx, tenantId, userId, 'bootstrap', secret, null, true);
    return { created: true, token: secret };
  });
}

/**
 * Stores a token's hash. A platform token (platform = true) can be inserted only as the schema owner: the
 * app role has no privilege on that column, so no tenant-scoped code path can mint one.
 */
export async function insertToken(
  tx: Tx,
  tenantId: string,
  userId: string,
  name: string,
  secret: string,
  expiresAt: Date | null,
  platform = false,
) {
  const r = await tx.query<TokenRow>(
    `WITH t AS (
       INSERT INTO api_tokens (tenant_id, user_id, name, token_hash, token_prefix, expires_at${platform ? ', platform' : ''})
       VALUES ($1, $2, $3, $4, $5, $6${platform ? ', true' : ''}) RETURNING *)
     SELECT t.*, u.username FROM t JOIN users u ON u.id = t.user_id`,
    [tenantId, userId, name, hashToken(secret), tokenDisplayPrefix(secret), expiresAt],
  );
  return r.rows[0]!;
}

/** Resolves a bearer token to who is calling and in which tenant; 401 for anything not valid now. */
export async function authenticate(db: Db, secret: string, now: Date): Promise<AuthContext> {
  return authenticateBy(db, 'k.token_hash = $1', hashToken(secret), now);
}

/** The same checks for a token known by its id (an event-stream ticket names the token it was issued to). */
export async function authenticateTokenId(db: Db, tokenId: string, now: Date): Promise<AuthContext> {
  return authenticateBy(db, 'k.id = $1', tokenId, now);
}

async function authenticateBy(db: Db, where: 'k.token_hash = $1' | 'k.id = $1', value: string, now: Date): Promise<AuthContext> {
  const r = await db.query<{
    id: string;
    tenant_id: string;
    tenant_name: string;
    user_id: string;
    username: string;
    is_platform_admin: boolean;
    platform: boolean;
    roles: Role[] | null;
    expires_at: Date | null;
    revoked_at: Date | null;
    disabled_at: Date | null;
    last_used_at: Date | null;
  }>(
    `SELECT k.id, k.tenant_id, t.name AS tenant_name, k.user_id, u.username, u.is_platform_admin, k.platform,
            k.expires_at, k.revoked_at, u.disabled_at, k.last_used_at,
            (SELECT array_agg(rb.role ORDER BY rb.role) FROM role_bindings rb
              WHERE rb.tenant_id = k.tenant_id AND rb.user_id = k.user_id) AS roles
       FROM api_tokens k JOIN users u ON u.id = k.user_id JOIN tenants t ON t.id = k.tenant_id
      WHERE ${where}`,
    [value],
  );
  const row = r.rows[0];
  if (!row) throw new UnauthorizedError('The API token is not known. Create one with `gantry token create` or log in again.');
  if (row.revoked_at) throw new UnauthorizedError('The API token was revoked. Create a new one with `gantry token create`.');
  if (row.expires_at && row.expires_at <= now)
    throw new UnauthorizedError('The API token has expired. Create a new one with `gantry token create`.');
  if (row.disabled_at) throw new UnauthorizedError('The user of this token is disabled.');
  // A token works only while its user is a member of its tenant (removal revokes, this also covers old rows).
  if (!row.roles?.length) throw new UnauthorizedError(`The user of this token is no longer a member of tenant "${row.tenant_name}".`);
  // last_used_at is advisory: updated at most once a minute to keep reads cheap (the statement is sent
  // only when the row read says it is due; its own condition keeps concurrent requests from repeating it).
  if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() >= 60_000)
    void db
      .query(
        `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')`,
        [row.id, now],
      )
      .catch(() => {});
  return {
    tenantId: row.tenant_id,
    tenantName: row.tenant_name,
    userId: row.user_id,
    username: row.username,
    roles: row.roles,
    tokenId: row.id,
    isPlatformAdmin: row.is_platform_admin && row.platform,
  };
}

// Tenants -------------------------------------------------------------------------------

export interface TenantRow {
  id: string;
  name: string;
  display_name: string;
  created_at: Date;
}
export const tenantOut = (r: TenantRow) => ({ id: r.id, name: r.name, displayName: r.display_name, createdAt: r.created_at.toISOString() });

export async function createTenant(
  db: Db,
  input: { name: string; displayName?: string | undefined; admin: { username: string; displayName?: string | undefined } },
) {
  return withSystem(db, async (tx) => {
    const t = await tx.query<TenantRow>('INSERT INTO tenants (name, display_name) VALUES ($1, $2) RETURNING *', [
      input.name,
      input.displayName ?? '',
    ]);
    const tenantRow = t.rows[0]!;
    // A new tenant gets a new user: attaching an existing one would hand its identity (and, for a platform
    // admin, its powers) to whoever holds the new tenant's admin token.
    const u = await tx.query<{ id: string }>(
      `INSERT INTO users (username, display_name, home_tenant_id) VALUES ($1, $2, $3)
       ON CONFLICT (username) DO NOTHING RETURNING id`,
      [input.admin.username, input.admin.displayName ?? '', tenantRow.id],
    );
    if (!u.rows[0]) {
      throw new ConflictError(
        `The username "${input.admin.username}" is taken; a new tenant's first admin is a new user, so choose another username.`,
        'username_taken',
        [{ path: 'body.admin.username', message: 'taken' }],
      );
    }
    const userId = u.rows[0].id;
    await tx.query(`INSERT INTO role_bindings (tenant_id, user_id, role) VALUES ($1, $2, 'admin')`, [tenantRow.id, userId]);
    const secret = generateToken();
    await insertToken(tx, tenantRow.id, userId, `bootstrap-${input.name}`, secret, null);
    return { tenant: tenantOut(tenantRow), adminToken: secret };
  });
}

// Tokens --------------------------------------------------------------------------------

interface TokenRow {
  id: string;
  name: string;
  user_id: string;
  username: string;
  token_prefix: string;
  platform: boolean;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}
export const tokenOut = (r: TokenRow): z.infer<typeof token> => ({
  id: r.id,
  name: r.name,
  userId: r.user_id,
  username: r.username,
  prefix: r.token_prefix,
  platform: r.platform,
  createdAt: r.created_at.toISOString(),
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
  lastUsedAt: iso(r.last_used_at),
});

const isAdmin = (auth: AuthContext) => auth.roles.includes('admin');

/**
 * Mints a token in the caller's tenant: for the caller, or (admins) for a member whose identity this tenant
 * manages. A platform token only for oneself, and only with a platform token.
 */
export async function createToken(db: Db, auth: AuthContext, input: z.infer<typeof tokenCreate>, now: Date) {
  const userId = input.userId ?? auth.userId;
  if (input.platform && (userId !== auth.userId || !auth.isPlatformAdmin)) {
    throw new ForbiddenError(
      'A platform token can be created only by a platform admin, for themselves, with a platform token of their own.',
    );
  }
  const secret = generateToken();
  const expires = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000) : null;
  const insert = (tx: Tx) => insertToken(tx, auth.tenantId, userId, input.name, secret, expires, input.platform === true);
  // The app role may not mint platform tokens; this one is the caller's own, checked above.
  if (input.platform) return { token: tokenOut(await withSystem(db, insert)), secret };
  const row = await withTenant(db, auth.tenantId, async (tx) => {
    if (userId !== auth.userId) {
      if (!isAdmin(auth)) throw new ForbiddenError('Only an admin may create tokens for another user.');
      await requireManaged(tx, auth.tenantId, userId, 'get tokens from them (they create their own)');
    }
    return insert(tx);
  });
  return { token: tokenOut(row), secret };
}

export async function listTokens(tx: Tx, auth: AuthContext, limit: number, after: string | undefined) {
  const r = await tx.query<TokenRow>(
    `SELECT k.*, u.username FROM api_tokens k JOIN users u ON u.id = k.user_id
      WHERE ($1::boolean OR k.user_id = $2) AND ($3::uuid IS NULL OR k.id > $3::uuid)
      ORDER BY k.id LIMIT $4`,
    [isAdmin(auth), auth.userId, after ?? null, limit + 1],
  );
  return r.rows;
}

export async function revokeToken(tx: Tx, auth: AuthContext, id: string) {
  const r = await tx.query<TokenRow>(
    `UPDATE api_tokens k SET revoked_at = coalesce(k.revoked_at, now()) FROM users u
      WHERE k.id = $1 AND u.id = k.user_id AND ($2::boolean OR k.user_id = $3) RETURNING k.*, u.username`,
    [id, isAdmin(auth), auth.userId],
  );
  if (!r.rows[0]) throw new NotFoundError('Token', id);
  return tokenOut(r.rows[0]);
}
