// Drift: compares what runs on a target (as observed by its agent, or by the server over SSH) with what
// Gantry recorded (targets.current_components and the latest version sticker), sets drift_detected on
// the target and its sticker, and lists what differs. A target whose runner cannot observe it (a noop
// agent, an unreachable engine) is "unobservable": recorded as such, never counted as drift.

import { getEnvironment } from '../environments/service.js';
import type { Observation, ObservedComponent } from '../protocol/deployment.js';
import type { Tx } from '../store/db.js';

export interface DriftItem {
  component: string | null;
  field: 'container' | 'running' | 'digest' | 'sticker' | 'unobservable';
  expected: string | null;
  actual: string | null;
}

/** What differs between the record and an observation; empty when the target is as recorded. */
export function compare(
  expected: { name: string; digest: string }[],
  stickerHash: string | null,
  obs: { components: ObservedComponent[]; sticker: Observation['sticker']; error?: string | undefined },
): DriftItem[] {
  if (obs.error) return [{ component: null, field: 'unobservable', expected: null, actual: obs.error }];
  const out: DriftItem[] = [];
  for (const e of expected) {
    const o = obs.components.find((c) => c.component === e.name);
    if (!o?.containerId) {
      out.push({ component: e.name, field: 'container', expected: o?.containerName ?? e.name, actual: null });
      continue;
    }
    if (o.digest !== e.digest) out.push({ component: e.name, field: 'digest', expected: e.digest, actual: o.digest ?? o.image });
    if (!o.running) out.push({ component: e.name, field: 'running', expected: 'true', actual: 'false' });
  }
  const actualHash = obs.sticker?.contentHash ?? null;
  if (stickerHash && actualHash !== stickerHash) out.push({ component: null, field: 'sticker', expected: stickerHash, actual: actualHash });
  return out;
}

/** Records an observation of one target and its drift verdict, in the caller's transaction. */
export async function recordObservation(tx: Tx, tenantId: string, obs: Observation, now: Date): Promise<DriftItem[] | null> {
  const t = await tx.query<{ id: string; current_components: { name: string; digest: string }[] }>(
    'SELECT id, current_components FROM targets WHERE id = $1 AND tenant_id = $2 FOR UPDATE',
    [obs.targetId, tenantId],
  );
  const target = t.rows[0];
  if (!target) return null;
  // Targets with a task in flight are changing on purpose: no verdict until it ends.
  const busy = await tx.query(`SELECT 1 FROM deployment_tasks WHERE target_id = $1 AND status IN ('assigned', 'running') LIMIT 1`, [
    target.id,
  ]);
  if (busy.rowCount) return null;
  if (obs.error) {
    // Unobservable is not drift: nothing could be compared, so the verdict and health stay as they were.
    await tx.query(
      `UPDATE targets SET observed = $2, observed_at = $3, drift_checked_at = $3, drift_detected = false, drift = '[]' WHERE id = $1`,
      [target.id, JSON.stringify({ components: [], sticker: null, error: obs.error }), now],
    );
    return [];
  }
  const s = await tx.query<{ id: string; content_hash: string }>(
    'SELECT id, content_hash FROM version_stickers WHERE target_id = $1 ORDER BY written_at DESC, id DESC LIMIT 1',
    [target.id],
  );
  const items = compare(target.current_components, s.rows[0]?.content_hash ?? null, obs);
  const unhealthy = obs.components.some((c) => c.containerId && !c.running) || items.some((i) => i.field === 'container');
  await tx.query(
    `UPDATE targets SET observed = $2, observed_at = $3, drift_checked_at = $3, drift_detected = $4, drift = $5,
            health_status = CASE WHEN $6 THEN 'unhealthy' WHEN $4 THEN 'degraded' ELSE 'healthy' END
      WHERE id = $1`,
    [
      target.id,
      JSON.stringify({ components: obs.components, sticker: obs.sticker, error: obs.error ?? null }),
      now,
      items.length > 0,
      JSON.stringify(items),
      unhealthy,
    ],
  );
  if (s.rows[0]) {
    await tx.query('UPDATE version_stickers SET drift_detected = $2, drift_details = $3 WHERE id = $1', [
      s.rows[0].id,
      items.length > 0,
      JSON.stringify(items),
    ]);
  }
  return items;
}

export interface DriftRow {
  targetId: string;
  /** Why the target cannot be observed (its own state, not drift), or null. */
  unobservable: string | null;
  targetName: string;
  environmentName: string;
  targetType: string;
  driftDetected: boolean;
  drift: DriftItem[];
  checkedAt: string | null;
  currentDigest: string | null;
  stickerHash: string | null;
}

/** The drift verdict of every target (of one environment), as last checked. */
export async function listDrift(tx: Tx, envRef: string | undefined): Promise<DriftRow[]> {
  const envId = envRef ? (await getEnvironment(tx, envRef)).id : null;
  const r = await tx.query(
    `SELECT t.id, t.name, t.target_type, t.drift_detected, t.observed ->> 'error' AS unobservable, t.drift, t.drift_checked_at, t.current_digest, e.name AS env_name,
            (SELECT content_hash FROM version_stickers s WHERE s.target_id = t.id ORDER BY written_at DESC, id DESC LIMIT 1) AS sticker_hash
       FROM targets t JOIN environments e ON e.id = t.environment_id
      WHERE $1::uuid IS NULL OR t.environment_id = $1 ORDER BY e.order_index, t.name`,
    [envId],
  );
  return r.rows.map((x) => ({
    targetId: x.id,
    unobservable: x.unobservable,
    targetName: x.name,
    environmentName: x.env_name,
    targetType: x.target_type,
    driftDetected: x.drift_detected,
    drift: x.drift,
    checkedAt: x.drift_checked_at?.toISOString() ?? null,
    currentDigest: x.current_digest,
    stickerHash: x.sticker_hash,
  }));
}

/** Asks for a check now: agents observe at their next heartbeat, the ssh runner at its next sweep. */
export async function requestCheck(tx: Tx, envRef: string | undefined): Promise<void> {
  const envId = envRef ? (await getEnvironment(tx, envRef)).id : null;
  await tx.query('UPDATE agents SET last_observed_at = NULL WHERE revoked_at IS NULL');
  await tx.query(
    `UPDATE targets SET drift_checked_at = NULL WHERE target_type = 'ssh_host' AND ($1::uuid IS NULL OR environment_id = $1)`,
    [envId],
  );
}
