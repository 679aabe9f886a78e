// Configuration applies: recording one (with a `config.applied` notification in the same transaction) and reading them.
import type { z } from 'zod';
import { NotFoundError } from '../core/errors.js';
import { afterOf, toPage } from '../http/pagination.js';
import { notify } from '../integrations/notify.js';
import type { Tx } from '../store/db.js';
import type { ConfigApplyCreate, configApply } from './model.js';

interface Row {
  id: string;
  sha256: string;
  files: { path: string; sha256: string }[];
  created: number;
  changed: number;
  deleted: number;
  changes: ConfigApplyCreate['changes'];
  applied_by: string | null;
  username: string | null;
  created_at: Date;
}

const out = (r: Row): z.output<typeof configApply> => ({
  id: r.id,
  sha256: r.sha256,
  files: r.files,
  created: r.created,
  changed: r.changed,
  deleted: r.deleted,
  changes: r.changes,
  appliedBy: r.applied_by && r.username ? { id: r.applied_by, username: r.username } : null,
  createdAt: r.created_at.toISOString(),
});

const SELECT = `SELECT a.id, a.sha256, a.files, a.created, a.changed, a.deleted, a.changes, a.applied_by, u.username, a.created_at
  FROM config_applies a LEFT JOIN users u ON u.id = a.applied_by`;

export async function recordApply(tx: Tx, tenantId: string, user: { id: string; username: string }, input: ConfigApplyCreate, at: Date) {
  const r = await tx.query<{ id: string }>(
    `INSERT INTO config_applies (tenant_id, sha256, files, created, changed, deleted, changes, applied_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
    [
      tenantId,
      input.sha256,
      JSON.stringify(input.files),
      input.created,
      input.changed,
      input.deleted,
      JSON.stringify(input.changes),
      user.id,
    ],
  );
  const id = r.rows[0]!.id;
  await notify(
    tx,
    tenantId,
    {
      type: 'config.applied',
      data: {
        applyId: id,
        sha256: input.sha256,
        created: input.created,
        changed: input.changed,
        deleted: input.deleted,
        actor: user.username,
      },
    },
    at,
  );
  return getApply(tx, id);
}

export async function getApply(tx: Tx, id: string) {
  const r = await tx.query<Row>(`${SELECT} WHERE a.id = $1`, [id]);
  if (!r.rows[0]) throw new NotFoundError('Configuration apply', id);
  return out(r.rows[0]);
}

export async function listApplies(tx: Tx, limit: number, cursor: string | undefined) {
  const r = await tx.query<Row>(`${SELECT} WHERE ($1::uuid IS NULL OR a.id < $1::uuid) ORDER BY a.id DESC LIMIT $2`, [
    afterOf(cursor) ?? null,
    limit + 1,
  ]);
  return toPage(r.rows, limit, (x) => [x.id], out);
}
