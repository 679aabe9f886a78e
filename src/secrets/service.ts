// Tenant secrets: write (sealed under the master key), list (metadata only), delete, open for use, and
// re-wrap every data key under a new master key. Works inside the caller's transaction.
import { GantryError, NotFoundError } from '../core/errors.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import { type MasterKey, open, rewrap, type Sealed, seal } from './envelope.js';
import type { SecretMeta } from './model.js';

interface MetaRow {
  name: string;
  version: number;
  created_at: Date;
  updated_at: Date;
  updated_by: string | null;
}

const metaOut = (r: MetaRow): SecretMeta => ({
  name: r.name,
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  updatedBy: r.updated_by,
});

const META_SQL = `SELECT s.name, s.version, s.created_at, s.updated_at, u.username AS updated_by
  FROM tenant_secrets s LEFT JOIN users u ON u.id = s.updated_by`;

/** Creates the secret or replaces its value (version + 1); the value is sealed before it reaches SQL. */
export async function putSecret(
  tx: Tx,
  master: MasterKey,
  input: { tenantId: string; name: string; value: string; userId: string | null },
): Promise<SecretMeta> {
  const cur = await tx.query<{ version: number }>('SELECT version FROM tenant_secrets WHERE name = $1 FOR UPDATE', [input.name]);
  const version = (cur.rows[0]?.version ?? 0) + 1;
  const sealed = seal(master, { tenantId: input.tenantId, name: input.name, version }, input.value);
  await tx.query(
    `INSERT INTO tenant_secrets (tenant_id, name, version, key_id, wrapped_key, ciphertext, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (tenant_id, name) DO UPDATE SET version = EXCLUDED.version, key_id = EXCLUDED.key_id,
       wrapped_key = EXCLUDED.wrapped_key, ciphertext = EXCLUDED.ciphertext, updated_by = EXCLUDED.updated_by, updated_at = now()`,
    [input.tenantId, input.name, version, sealed.keyId, sealed.wrappedKey, sealed.ciphertext, input.userId],
  );
  return getSecretMeta(tx, input.name);
}

export async function getSecretMeta(tx: Tx, name: string): Promise<SecretMeta> {
  const r = await tx.query<MetaRow>(`${META_SQL} WHERE s.name = $1`, [name]);
  if (!r.rows[0]) throw new NotFoundError('Secret', name);
  return metaOut(r.rows[0]);
}

export async function listSecrets(tx: Tx, limit: number, cursor: string | undefined) {
  const after = cursor === undefined ? null : String(decodeCursor(cursor, 1)[0]);
  const r = await tx.query<MetaRow>(`${META_SQL} WHERE ($1::text IS NULL OR s.name > $1) ORDER BY s.name LIMIT $2`, [after, limit + 1]);
  return toPage(r.rows, limit, (row) => [row.name], metaOut);
}

export async function deleteSecret(tx: Tx, name: string): Promise<void> {
  const r = await tx.query('DELETE FROM tenant_secrets WHERE name = $1', [name]);
  if (r.rowCount === 0) throw new NotFoundError('Secret', name);
}

/** The value of the tenant's secret `name` (RLS and the tenant in the AAD keep it to this tenant). */
export async function openSecret(tx: Tx, master: MasterKey, tenantId: string, name: string): Promise<string | undefined> {
  const r = await tx.query<{ version: number; key_id: string; wrapped_key: Buffer; ciphertext: Buffer }>(
    'SELECT version, key_id, wrapped_key, ciphertext FROM tenant_secrets WHERE tenant_id = $1 AND name = $2',
    [tenantId, name],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const sealed: Sealed = { keyId: row.key_id, wrappedKey: row.wrapped_key, ciphertext: row.ciphertext };
  return open(master, { tenantId, name, version: row.version }, sealed);
}

export interface RotationResult {
  rewrapped: number;
  alreadyNew: number;
}

/**
 * Re-wraps every tenant's data keys from `from` to `to` in the caller's (system) transaction: all rows
 * or none. A row wrapped by a third key stops the rotation, naming it.
 */
export async function rotateMasterKey(tx: Tx, from: MasterKey, to: MasterKey): Promise<RotationResult> {
  const rows = await tx.query<{ id: string; tenant_id: string; name: string; version: number; key_id: string; wrapped_key: Buffer }>(
    'SELECT id, tenant_id, name, version, key_id, wrapped_key FROM tenant_secrets ORDER BY id FOR UPDATE',
  );
  let rewrapped = 0;
  let alreadyNew = 0;
  for (const row of rows.rows) {
    if (row.key_id === to.id) {
      alreadyNew++;
      continue;
    }
    if (row.key_id !== from.id) {
      throw new GantryError(
        'secret_key_mismatch',
        422,
        `Secret "${row.name}" of tenant ${row.tenant_id} is wrapped with key ${row.key_id}, which is neither the current key ${from.id} nor the new key ${to.id}; nothing was changed.`,
      );
    }
    const wrapped = rewrap(from, to, { tenantId: row.tenant_id, name: row.name, version: row.version }, row.wrapped_key);
    await tx.query('UPDATE tenant_secrets SET wrapped_key = $2, key_id = $3 WHERE id = $1', [row.id, wrapped, to.id]);
    rewrapped++;
  }
  return { rewrapped, alreadyNew };
}

/** How many rows are wrapped by a key other than `current` (logged at start so a half-done rotation is visible). */
export async function countForeignKeyRows(tx: Tx, current: MasterKey): Promise<number> {
  const r = await tx.query<{ n: string }>('SELECT count(*) AS n FROM tenant_secrets WHERE key_id <> $1', [current.id]);
  return Number(r.rows[0]?.n ?? 0);
}
