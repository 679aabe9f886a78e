// Platform admins: who they are, granting and revoking the flag, and the platform token a grant hands out.
// Used by the platform routes (a platform admin acting) and by `gantry admin …` on the server host.
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { nameSchema } from '../core/ids.js';
import { generateToken } from '../core/tokens.js';
import type { Tx } from '../store/db.js';
import { insertToken } from './service.js';

export const platformAdmin = z.object({
  id: z.uuid(),
  username: z.string(),
  displayName: z.string(),
  homeTenant: z.string().nullable().describe('Name of the tenant whose admins manage this user; null when it was deleted.'),
  createdAt: z.string(),
});
export const platformGrant = z.strictObject({
  username: nameSchema,
  tokenName: z.string().min(1).max(100).optional().describe('Name of the platform token minted for the new admin (default "platform").'),
});
export const platformGranted = z.object({
  admin: platformAdmin,
  token: z
    .string()
    .nullable()
    .describe('A platform token for the new admin in their home tenant, shown once; null if they are a member of no tenant.'),
  tenant: z.string().nullable().describe('The tenant the token belongs to.'),
});

interface AdminRow {
  id: string;
  username: string;
  display_name: string;
  home_tenant: string | null;
  created_at: Date;
  is_platform_admin: boolean;
}
const SELECT = `SELECT u.id, u.username, u.display_name, u.created_at, u.is_platform_admin, t.name AS home_tenant
  FROM users u LEFT JOIN tenants t ON t.id = u.home_tenant_id`;
const out = (r: AdminRow): z.infer<typeof platformAdmin> => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  homeTenant: r.home_tenant,
  createdAt: r.created_at.toISOString(),
});

/** Runs as the schema owner (withSystem): platform admins span tenants. */
export async function listPlatformAdmins(tx: Tx) {
  const r = await tx.query<AdminRow>(`${SELECT} WHERE u.is_platform_admin ORDER BY u.username`);
  return r.rows.map(out);
}

async function findUser(tx: Tx, username: string): Promise<AdminRow> {
  const r = await tx.query<AdminRow>(`${SELECT} WHERE u.username = $1 FOR UPDATE OF u`, [username]);
  if (!r.rows[0]) throw new NotFoundError('User', username);
  return r.rows[0];
}

/**
 * Makes a user a platform admin and mints them a platform token (their existing tokens stay tenant-only:
 * someone else may know them). The token belongs to their home tenant, or the first tenant they are a member of.
 * `alreadyOk` (the server-host command) re-mints a token for an existing platform admin; the API refuses.
 */
export async function grantPlatformAdmin(tx: Tx, username: string, opts: { tokenName?: string | undefined; alreadyOk?: boolean } = {}) {
  const u = await findUser(tx, username);
  if (u.is_platform_admin && !opts.alreadyOk) {
    throw new ConflictError(`User "${username}" is already a platform admin.`, 'already_platform_admin');
  }
  await tx.query('UPDATE users SET is_platform_admin = true WHERE id = $1', [u.id]);
  const m = await tx.query<{ tenant_id: string; name: string }>(
    `SELECT rb.tenant_id, t.name FROM role_bindings rb JOIN tenants t ON t.id = rb.tenant_id JOIN users u ON u.id = rb.user_id
      WHERE rb.user_id = $1 ORDER BY (rb.tenant_id = u.home_tenant_id) DESC, rb.created_at LIMIT 1`,
    [u.id],
  );
  const home = m.rows[0];
  let token: string | null = null;
  if (home) {
    token = generateToken();
    const base = opts.tokenName ?? 'platform';
    // Token names are unique per user and tenant; a re-grant gets a fresh suffix.
    const taken = await tx.query<{ name: string }>('SELECT name FROM api_tokens WHERE tenant_id = $1 AND user_id = $2', [
      home.tenant_id,
      u.id,
    ]);
    const names = new Set(taken.rows.map((r) => r.name));
    let name = base;
    for (let i = 2; names.has(name); i++) name = `${base}-${i}`;
    await insertToken(tx, home.tenant_id, u.id, name, token, null, true);
  }
  return { admin: out(u), token, tenant: home?.name ?? null };
}

/** Removes the flag and the platform powers of all the user's tokens; refuses to leave the server without a platform admin. */
export async function revokePlatformAdmin(tx: Tx, username: string) {
  const u = await findUser(tx, username);
  if (!u.is_platform_admin) throw new ConflictError(`User "${username}" is not a platform admin.`, 'not_platform_admin');
  // Serialise concurrent revocations so two admins cannot revoke each other at once and leave none.
  await tx.query('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
  const n = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE is_platform_admin AND disabled_at IS NULL');
  if ((n.rows[0]?.n ?? 0) <= 1) {
    throw new ConflictError(
      `User "${username}" is the last platform admin; grant another one first (gantry admin grant-platform-admin).`,
      'last_platform_admin',
    );
  }
  await tx.query('UPDATE users SET is_platform_admin = false WHERE id = $1', [u.id]);
  await tx.query('UPDATE api_tokens SET platform = false WHERE user_id = $1 AND platform', [u.id]);
  return out(u);
}
