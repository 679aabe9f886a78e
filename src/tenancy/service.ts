// Tenancy and access: first-start bootstrap, token authentication, tenants, users, role bindings, tokens.
import type { z } from 'zod';
import { ConflictError, ForbiddenError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import { generateToken, hashToken, tokenDisplayPrefix } from '../core/tokens.js';
import type { AuthContext, Role } from '../http/types.js';
import { type Db, type Tx, withSystem } from '../store/db.js';
import type { token, tokenCreate, user, userCreate, userUpdate } from './model.js';

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
    const u = await tx.query<{ id: string }>(
      `INSERT INTO users (username, display_name, is_platform_admin) VALUES ('admin', 'Administrator', true) RETURNING id`,
    );
    const tenantId = t.rows[0]!.id;
    const userId = u.rows[0]!.id;
    await tx.query(`INSERT INTO role_bindings (tenant_id, user_id, role) VALUES ($1, $2, 'admin')`, [tenantId, userId]);
    const secret = presetToken ?? generateToken();
    await insertToken(tx, tenantId, userId, 'bootstrap', secret, null);
    return { created: true, token: secret };
  });
}

async function insertToken(tx: Tx, tenantId: string, userId: string, name: string, secret: string, expiresAt: Date | null) {
  const r = await tx.query<TokenRow>(
    `WITH t AS (
       INSERT INTO api_tokens (tenant_id, user_id, name, token_hash, token_prefix, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
     SELECT t.*, u.username FROM t JOIN users u ON u.id = t.user_id`,
    [tenantId, userId, name, hashToken(secret), tokenDisplayPrefix(secret), expiresAt],
  );
  return r.rows[0]!;
}

/** Resolves a bearer token to who is calling and in which tenant; 401 for anything not valid now. */
export async function authenticate(db: Db, secret: string, now: Date): Promise<AuthContext> {
  const r = await db.query<{
    id: string;
    tenant_id: string;
    tenant_name: string;
    user_id: string;
    username: string;
    is_platform_admin: boolean;
    roles: Role[] | null;
    expires_at: Date | null;
    revoked_at: Date | null;
    disabled_at: Date | null;
  }>(
    `SELECT k.id, k.tenant_id, t.name AS tenant_name, k.user_id, u.username, u.is_platform_admin,
            k.expires_at, k.revoked_at, u.disabled_at,
            (SELECT array_agg(rb.role ORDER BY rb.role) FROM role_bindings rb
              WHERE rb.tenant_id = k.tenant_id AND rb.user_id = k.user_id) AS roles
       FROM api_tokens k JOIN users u ON u.id = k.user_id JOIN tenants t ON t.id = k.tenant_id
      WHERE k.token_hash = $1`,
    [hashToken(secret)],
  );
  const row = r.rows[0];
  if (!row) throw new UnauthorizedError('The API token is not known. Create one with `gantry token create` or log in again.');
  if (row.revoked_at) throw new UnauthorizedError('The API token was revoked. Create a new one with `gantry token create`.');
  if (row.expires_at && row.expires_at <= now)
    throw new UnauthorizedError('The API token has expired. Create a new one with `gantry token create`.');
  if (row.disabled_at) throw new UnauthorizedError('The user of this token is disabled.');
  // last_used_at is advisory: updated at most once a minute to keep reads cheap.
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
    roles: row.roles ?? [],
    tokenId: row.id,
    isPlatformAdmin: row.is_platform_admin,
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
    const u = await tx.query<{ id: string }>(
      `INSERT INTO users (username, display_name) VALUES ($1, $2)
       ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING id`,
      [input.admin.username, input.admin.displayName ?? ''],
    );
    const userId = u.rows[0]!.id;
    await tx.query(`INSERT INTO role_bindings (tenant_id, user_id, role) VALUES ($1, $2, 'admin')`, [tenantRow.id, userId]);
    const secret = generateToken();
    await insertToken(tx, tenantRow.id, userId, `bootstrap-${input.name}`, secret, null);
    return { tenant: tenantOut(tenantRow), adminToken: secret };
  });
}

// Users ---------------------------------------------------------------------------------

interface UserRow {
  id: string;
  username: string;
  display_name: string;
  email: string | null;
  created_at: Date;
  roles: Role[];
}
const userOut = (r: UserRow): z.infer<typeof user> => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  email: r.email,
  roles: r.roles,
  createdAt: r.created_at.toISOString(),
});
const USER_SELECT = `SELECT u.id, u.username, u.display_name, u.email, u.created_at,
  array_agg(rb.role ORDER BY rb.role) AS roles
  FROM users u JOIN role_bindings rb ON rb.user_id = u.id AND rb.tenant_id = $1`;

export async function listUsers(tx: Tx, tenantId: string, limit: number, after: string | undefined) {
  const r = await tx.query<UserRow>(`${USER_SELECT} WHERE ($2::uuid IS NULL OR u.id > $2::uuid) GROUP BY u.id ORDER BY u.id LIMIT $3`, [
    tenantId,
    after ?? null,
    limit + 1,
  ]);
  return r.rows;
}
export { userOut };

export async function getUser(tx: Tx, tenantId: string, id: string) {
  const r = await tx.query<UserRow>(`${USER_SELECT} WHERE u.id = $2 GROUP BY u.id`, [tenantId, id]);
  if (!r.rows[0]) throw new NotFoundError('User', id);
  return userOut(r.rows[0]);
}

/** Users are global; adding one to a tenant binds roles. Runs as system because the row is not yet visible to the tenant. */
export async function addUser(db: Db, tenantId: string, input: z.infer<typeof userCreate>) {
  const userId = await withSystem(db, async (tx) => {
    const u = await tx.query<{ id: string }>(
      `INSERT INTO users (username, display_name, email) VALUES ($1, $2, $3)
       ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING id`,
      [input.username, input.displayName ?? '', input.email ?? null],
    );
    const id = u.rows[0]!.id;
    const bound = await tx.query('SELECT 1 FROM role_bindings WHERE tenant_id = $1 AND user_id = $2', [tenantId, id]);
    if (bound.rowCount)
      throw new ConflictError(
        `User "${input.username}" is already a member of this tenant; change their roles with PATCH /users/{id}.`,
        'already_exists',
        [{ path: 'body.username', message: 'already a member' }],
      );
    await setRoles(tx, tenantId, id, input.roles);
    return id;
  });
  return withSystem(db, (tx) => getUser(tx, tenantId, userId));
}

async function setRoles(tx: Tx, tenantId: string, userId: string, roles: Role[]) {
  await tx.query('DELETE FROM role_bindings WHERE tenant_id = $1 AND user_id = $2 AND NOT (role = ANY($3))', [tenantId, userId, roles]);
  await tx.query(`INSERT INTO role_bindings (tenant_id, user_id, role) SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`, [
    tenantId,
    userId,
    roles,
  ]);
}

export async function updateUser(tx: Tx, auth: AuthContext, id: string, input: z.infer<typeof userUpdate>) {
  await getUser(tx, auth.tenantId, id);
  if (input.roles && id === auth.userId && !input.roles.includes('admin')) {
    throw new ConflictError('You cannot remove your own admin role; ask another admin.', 'last_admin');
  }
  if (input.displayName !== undefined || input.email !== undefined) {
    await tx.query(
      `UPDATE users SET display_name = coalesce($2, display_name), email = CASE WHEN $4 THEN $3 ELSE email END WHERE id = $1`,
      [id, input.displayName ?? null, input.email ?? null, input.email !== undefined],
    );
  }
  if (input.roles) await setRoles(tx, auth.tenantId, id, input.roles);
  return getUser(tx, auth.tenantId, id);
}

export async function removeUser(tx: Tx, auth: AuthContext, id: string) {
  await getUser(tx, auth.tenantId, id);
  if (id === auth.userId) throw new ConflictError('You cannot remove yourself from the tenant.', 'self_removal');
  await tx.query('DELETE FROM role_bindings WHERE tenant_id = $1 AND user_id = $2', [auth.tenantId, id]);
  await tx.query('UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL', [
    auth.tenantId,
    id,
  ]);
}

// Tokens --------------------------------------------------------------------------------

interface TokenRow {
  id: string;
  name: string;
  user_id: string;
  username: string;
  token_prefix: string;
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
  createdAt: r.created_at.toISOString(),
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
  lastUsedAt: iso(r.last_used_at),
});

const isAdmin = (auth: AuthContext) => auth.roles.includes('admin');

export async function createToken(tx: Tx, auth: AuthContext, input: z.infer<typeof tokenCreate>, now: Date) {
  const userId = input.userId ?? auth.userId;
  if (userId !== auth.userId && !isAdmin(auth)) throw new ForbiddenError('Only an admin may create tokens for another user.');
  if (userId !== auth.userId) await getUser(tx, auth.tenantId, userId);
  const secret = generateToken();
  const expires = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000) : null;
  const row = await insertToken(tx, auth.tenantId, userId, input.name, secret, expires);
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
