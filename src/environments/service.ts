// Environments: create, read, update, delete within a tenant transaction.
import type { z } from 'zod';
import { NotFoundError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import type { Environment, environmentCreate, environmentUpdate } from './model.js';

interface EnvRow {
  id: string;
  name: string;
  display_name: string;
  order_index: number;
  config: Environment['config'];
  freeze_windows: Environment['freezeWindows'];
  required_approvals: number;
  require_sod: boolean;
  created_at: Date;
  updated_at: Date;
}

export const envOut = (r: EnvRow): Environment => ({
  id: r.id,
  name: r.name,
  displayName: r.display_name,
  orderIndex: r.order_index,
  config: r.config,
  freezeWindows: r.freeze_windows,
  requiredApprovals: r.required_approvals,
  requireSod: r.require_sod,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Finds an environment by id or name; 404 when it does not exist in this tenant. */
export async function getEnvironment(tx: Tx, ref: string): Promise<Environment> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<EnvRow>(`SELECT * FROM environments WHERE ${byId ? 'id = $1::uuid' : 'name = $1'}`, [ref]);
  if (!r.rows[0]) throw new NotFoundError('Environment', ref);
  return envOut(r.rows[0]);
}

export async function listEnvironments(tx: Tx, limit: number, cursor: string | undefined) {
  const [order, id] = cursor ? decodeCursor(cursor, 2) : [null, null];
  const r = await tx.query<EnvRow>(
    `SELECT * FROM environments WHERE ($1::int IS NULL OR (order_index, id) > ($1::int, $2::uuid))
      ORDER BY order_index, id LIMIT $3`,
    [order, id, limit + 1],
  );
  return toPage(r.rows, limit, (row) => [row.order_index, row.id], envOut);
}

export async function createEnvironment(tx: Tx, tenantId: string, input: z.infer<typeof environmentCreate>) {
  const r = await tx.query<EnvRow>(
    `INSERT INTO environments (tenant_id, name, display_name, order_index, config, freeze_windows, required_approvals, require_sod)
     VALUES ($1, $2, $3, coalesce($4, (SELECT coalesce(max(order_index) + 1, 0) FROM environments)), $5, $6, $7, $8)
     RETURNING *`,
    [
      tenantId,
      input.name,
      input.displayName ?? '',
      input.orderIndex ?? null,
      JSON.stringify(input.config ?? {}),
      JSON.stringify(input.freezeWindows ?? []),
      input.requiredApprovals ?? 0,
      input.requireSod ?? false,
    ],
  );
  return envOut(r.rows[0]!);
}

export async function updateEnvironment(tx: Tx, ref: string, input: z.infer<typeof environmentUpdate>) {
  const current = await getEnvironment(tx, ref);
  const r = await tx.query<EnvRow>(
    `UPDATE environments SET name = $2, display_name = $3, order_index = $4, config = $5, freeze_windows = $6,
            required_approvals = $7, require_sod = $8 WHERE id = $1 RETURNING *`,
    [
      current.id,
      input.name ?? current.name,
      input.displayName ?? current.displayName,
      input.orderIndex ?? current.orderIndex,
      JSON.stringify(input.config ?? current.config),
      JSON.stringify(input.freezeWindows ?? current.freezeWindows),
      input.requiredApprovals ?? current.requiredApprovals,
      input.requireSod ?? current.requireSod,
    ],
  );
  return envOut(r.rows[0]!);
}

export async function deleteEnvironment(tx: Tx, ref: string) {
  const current = await getEnvironment(tx, ref);
  await tx.query('DELETE FROM environments WHERE id = $1', [current.id]);
}
