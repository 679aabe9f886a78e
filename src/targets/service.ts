// Targets: create, read, update, delete within a tenant transaction; connections are checked against the target type.
import { ConflictError, GantryError, NotFoundError, ValidationError } from '../core/errors.js';
import { getEnvironment, UUID_RE } from '../environments/service.js';
import { afterOf, toPage } from '../http/pagination.js';
import { parseAt } from '../integrations/model.js';
import type { Tx } from '../store/db.js';
import { CONNECTIONS } from './connection.js';
import type { Target, TargetCreate, TargetUpdate } from './model.js';

interface TargetRow {
  id: string;
  name: string;
  environment_id: string;
  environment_name: string;
  target_type: Target['targetType'];
  connection: Record<string, unknown>;
  labels: Record<string, string>;
  health_status: Target['healthStatus'];
  current_digest: string | null;
  created_at: Date;
  updated_at: Date;
}

const targetOut = (r: TargetRow): Target => ({
  id: r.id,
  name: r.name,
  environmentId: r.environment_id,
  environmentName: r.environment_name,
  targetType: r.target_type,
  connection: r.connection,
  labels: r.labels,
  healthStatus: r.health_status,
  currentDigest: r.current_digest,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

// Every read and write returns the row joined with its environment's name.
const WITH_ENV = 'SELECT t.*, e.name AS environment_name FROM t JOIN environments e ON e.id = t.environment_id';

/** 422 unless the environment is visible to this tenant (row-level security hides other tenants' rows). */
async function checkEnvironment(tx: Tx, id: string): Promise<void> {
  const r = await tx.query('SELECT 1 FROM environments WHERE id = $1', [id]);
  if (r.rowCount === 0) {
    throw new GantryError('reference_invalid', 422, `No environment with id ${id} exists in this tenant; see GET /api/v1/environments.`, [
      { path: 'body.environmentId', message: 'no such environment' },
    ]);
  }
}

/** Finds a target by id or name; 404 when it does not exist in this tenant. */
export async function getTarget(tx: Tx, ref: string): Promise<Target> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<TargetRow>(`WITH t AS (SELECT * FROM targets WHERE ${byId ? 'id = $1::uuid' : 'name = $1'}) ${WITH_ENV}`, [ref]);
  if (!r.rows[0]) throw new NotFoundError('Target', ref);
  return targetOut(r.rows[0]);
}

export async function listTargets(tx: Tx, limit: number, cursor: string | undefined, environment: string | undefined) {
  const envId = environment === undefined ? null : (await getEnvironment(tx, environment)).id;
  const r = await tx.query<TargetRow>(
    `WITH t AS (SELECT * FROM targets WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($2::uuid IS NULL OR environment_id = $2::uuid)
                ORDER BY id LIMIT $3)
     ${WITH_ENV} ORDER BY t.id`,
    [afterOf(cursor) ?? null, envId, limit + 1],
  );
  return toPage(r.rows, limit, (row) => [row.id], targetOut);
}

export async function createTarget(tx: Tx, tenantId: string, input: TargetCreate): Promise<Target> {
  await checkEnvironment(tx, input.environmentId);
  const r = await tx.query<TargetRow>(
    `WITH t AS (INSERT INTO targets (tenant_id, environment_id, name, target_type, connection, labels)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
     ${WITH_ENV}`,
    [tenantId, input.environmentId, input.name, input.targetType, JSON.stringify(input.connection), JSON.stringify(input.labels ?? {})],
  );
  return targetOut(r.rows[0]!);
}

export async function updateTarget(tx: Tx, ref: string, input: TargetUpdate): Promise<Target> {
  const current = await getTarget(tx, ref);
  if (input.targetType !== undefined && input.targetType !== current.targetType) {
    throw new ValidationError(
      `A target's type cannot change (it is ${current.targetType}); create a new target of type ${input.targetType} and delete this one.`,
      [{ path: 'body.targetType', message: 'cannot change' }],
    );
  }
  const connection =
    input.connection === undefined ? current.connection : parseAt(CONNECTIONS[current.targetType], input.connection, 'body.connection');
  if (input.environmentId !== undefined) await checkEnvironment(tx, input.environmentId);
  const r = await tx.query<TargetRow>(
    `WITH t AS (UPDATE targets SET name = $2, environment_id = $3, connection = $4, labels = $5 WHERE id = $1 RETURNING *)
     ${WITH_ENV}`,
    [
      current.id,
      input.name ?? current.name,
      input.environmentId ?? current.environmentId,
      JSON.stringify(connection),
      JSON.stringify(input.labels ?? current.labels),
    ],
  );
  return targetOut(r.rows[0]!);
}

export async function deleteTarget(tx: Tx, ref: string): Promise<void> {
  const current = await getTarget(tx, ref);
  const used = await tx.query('SELECT 1 FROM deployment_tasks WHERE target_id = $1 LIMIT 1', [current.id]);
  if (used.rowCount) {
    throw new ConflictError(
      `Target "${current.name}" has deployment history, which must stay auditable; remove its labels or move it to another environment instead.`,
      'in_use',
    );
  }
  await tx.query('DELETE FROM targets WHERE id = $1', [current.id]);
}
