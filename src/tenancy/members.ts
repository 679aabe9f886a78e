// Members of a tenant: users, their roles there, and which tenant manages each user's identity.
//
// Usernames are global (a token names one person), but every user has a home tenant. A tenant admin
// adds users to its own tenant, changes roles of and removes any member of its tenant, and changes the
// identity of (or mints tokens for) only users whose home is its tenant and who are not platform admins.
// Naming a user of another tenant, or a platform admin, gets 409 `username_taken` and nothing else.
import type { z } from 'zod';
import { ConflictError, ForbiddenError, NotFoundError } from '../core/errors.js';
import type { AuthContext, Role } from '../http/types.js';
import { type Db, type Tx, withSystem } from '../store/db.js';
import type { user, userCreate, userUpdate } from './model.js';

interface UserRow {
  id: string;
  username: string;
  display_name: string;
  email: string | null;
  created_at: Date;
  managed_here: boolean;
  roles: Role[];
}
export const userOut = (r: UserRow): z.infer<typeof user> => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  email: r.email,
  roles: r.roles,
  managedHere: r.managed_here,
  createdAt: r.created_at.toISOString(),
});
const USER_SELECT = `SELECT u.id, u.username, u.display_name, u.email, u.created_at,
  (u.home_tenant_id IS NOT DISTINCT FROM $1::uuid AND NOT u.is_platform_admin) AS managed_here,
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

/** A member of the tenant, or 404: users of other tenants do not exist as far as this tenant can tell. */
export async function getUser(tx: Tx, tenantId: string, id: string) {
  const r = await tx.query<UserRow>(`${USER_SELECT} WHERE u.id = $2 GROUP BY u.id`, [tenantId, id]);
  if (!r.rows[0]) throw new NotFoundError('User', id);
  return userOut(r.rows[0]);
}

/** The caller's tenant manages this member's identity: 403 otherwise (the member is managed elsewhere). */
export async function requireManaged(tx: Tx, tenantId: string, id: string, what: string) {
  const u = await getUser(tx, tenantId, id);
  if (!u.managedHere) {
    throw new ForbiddenError(
      `User "${u.username}" is a member of this tenant but is managed elsewhere, so this tenant's admins cannot ${what}; ` +
        'you may change their roles here or remove them from this tenant.',
      'user_managed_elsewhere',
    );
  }
  return u;
}

function usernameTaken(username: string): ConflictError {
  return new ConflictError(
    `The username "${username}" is taken; choose another one. A username names one person across the whole server.`,
    'username_taken',
    [{ path: 'body.username', message: 'taken' }],
  );
}

/**
 * Creates a user whose home is this tenant, or re-adds one that this tenant removed earlier. Runs as the
 * schema owner because the app role may not create users; every decision below is limited to tenantId.
 */
export async function addUser(db: Db, tenantId: string, input: z.infer<typeof userCreate>) {
  return withSystem(db, async (tx) => {
    const found = await tx.query<{ id: string; home_tenant_id: string | null; is_platform_admin: boolean; member: boolean }>(
      `SELECT u.id, u.home_tenant_id, u.is_platform_admin,
              EXISTS (SELECT 1 FROM role_bindings rb WHERE rb.user_id = u.id AND rb.tenant_id = $2) AS member
         FROM users u WHERE u.username = $1 FOR UPDATE`,
      [input.username, tenantId],
    );
    const existing = found.rows[0];
    let id: string;
    if (!existing) {
      const u = await tx.query<{ id: string }>(
        `INSERT INTO users (username, display_name, email, home_tenant_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO NOTHING RETURNING id`,
        [input.username, input.displayName ?? '', input.email ?? null, tenantId],
      );
      // Lost a race with another tenant creating the same name.
      if (!u.rows[0]) throw usernameTaken(input.username);
      id = u.rows[0].id;
    } else if (existing.member) {
      throw new ConflictError(
        `User "${input.username}" is already a member of this tenant; change their roles with PATCH /users/{id}.`,
        'already_exists',
        [{ path: 'body.username', message: 'already a member' }],
      );
    } else if (existing.home_tenant_id === tenantId && !existing.is_platform_admin) {
      // A user this tenant removed earlier: re-added with the roles (and identity) given now.
      id = existing.id;
      await tx.query('UPDATE users SET display_name = coalesce($2, display_name), email = coalesce($3, email) WHERE id = $1', [
        id,
        input.displayName ?? null,
        input.email ?? null,
      ]);
    } else {
      throw usernameTaken(input.username);
    }
    await setRoles(tx, tenantId, id, input.roles);
    return getUser(tx, tenantId, id);
  });
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
    await requireManaged(tx, auth.tenantId, id, 'change their name or email');
    await tx.query(
      `UPDATE users SET display_name = coalesce($2, display_name), email = CASE WHEN $4 THEN $3 ELSE email END WHERE id = $1`,
      [id, input.displayName ?? null, input.email ?? null, input.email !== undefined],
    );
  }
  if (input.roles) await setRoles(tx, auth.tenantId, id, input.roles);
  return getUser(tx, auth.tenantId, id);
}

/** Ends the membership here and revokes the member's tokens of this tenant; the user's identity stays. */
export async function removeUser(tx: Tx, auth: AuthContext, id: string) {
  await getUser(tx, auth.tenantId, id);
  if (id === auth.userId) throw new ConflictError('You cannot remove yourself from the tenant.', 'self_removal');
  // A platform admin's home membership holds their platform token: removing it would lock them out.
  const home = await tx.query('SELECT 1 FROM users WHERE id = $1 AND is_platform_admin AND home_tenant_id = $2', [id, auth.tenantId]);
  if (home.rowCount) {
    throw new ForbiddenError(
      'This member is managed by the platform and cannot be removed from their home tenant by its admins; you may change their roles here.',
      'user_managed_elsewhere',
    );
  }
  await tx.query('DELETE FROM role_bindings WHERE tenant_id = $1 AND user_id = $2', [auth.tenantId, id]);
  await tx.query('UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL', [
    auth.tenantId,
    id,
  ]);
}
