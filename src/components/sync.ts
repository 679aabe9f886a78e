// Syncs a component's version map from its registry: lists tags, keeps those its strategy reads as
// versions, resolves each to a digest, then writes every change in one transaction. A tag that moved
// to another digest supersedes its old mapping (kept as history); nothing is overwritten in place.
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { GantryError } from '../core/errors.js';
import { repositoryName } from '../registry/client.js';
import { type RegistryIntegration, recordHealth, registryClientFor } from '../registry/connect.js';
import { type Db, type Tx, withTenant } from '../store/db.js';
import type { Component } from './model.js';
import { getComponent } from './service.js';
import { readTag } from './versioning.js';

export const syncResult = z.object({
  componentId: z.uuid(),
  component: z.string(),
  repository: z.string().describe('Repository path inside the registry.'),
  registry: z.string(),
  tags: z.number().int().describe('Tags the registry listed.'),
  added: z.number().int(),
  moved: z.number().int().describe('Tags now pointing at another digest; the old mapping is kept as history.'),
  removed: z.number().int().describe('Tags no longer in the registry; their mapping is kept as history.'),
  unchanged: z.number().int(),
  skipped: z.array(z.object({ tag: z.string(), reason: z.string() })).describe('Tags the versioning strategy does not read as versions.'),
  syncedAt: z.string(),
});
export type SyncResult = z.infer<typeof syncResult>;

const RESOLVE_CONCURRENCY = 8;

/** The component and its registry integration, or 422 when it has none to sync from. */
export async function componentWithRegistry(tx: Tx, ref: string): Promise<{ component: Component; integration: RegistryIntegration }> {
  const component = await getComponent(tx, ref);
  if (!component.registryIntegrationId) {
    throw new GantryError(
      'no_registry',
      422,
      `Component "${component.name}" has no registry integration to read versions from; set one with PATCH registryIntegrationId (gantry component update ${component.name} --registry NAME).`,
    );
  }
  const r = await tx.query<{ id: string; name: string; type_id: string; config: Record<string, unknown>; credential_ref: string | null }>(
    'SELECT id, name, type_id, config, credential_ref FROM integrations WHERE id = $1',
    [component.registryIntegrationId],
  );
  const row = r.rows[0]!; // the foreign key guarantees it exists
  return {
    component,
    integration: { id: row.id, name: row.name, typeId: row.type_id, config: row.config, credentialRef: row.credential_ref },
  };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface SyncOptions {
  clock: Clock;
  /** Seconds until the scheduler syncs this component again. */
  intervalSeconds: number;
}

/** Syncs one component of a tenant. Registry failures are recorded on the component and rethrown; nothing else is written. */
export async function syncComponent(db: Db, tenantId: string, ref: string, opts: SyncOptions): Promise<SyncResult> {
  const { component, integration } = await withTenant(db, tenantId, (tx) => componentWithRegistry(tx, ref));
  const name = repositoryName(component.imageRepository, String(integration.config.url));
  const nextAt = () => new Date(opts.clock.now().getTime() + opts.intervalSeconds * 1000);
  let found: { tag: string; digest: string; semver: string | null; channel: string }[];
  let skipped: { tag: string; reason: string }[];
  let listed: number;
  try {
    // All registry traffic happens before the write transaction, so a failure leaves the map untouched.
    const client = await registryClientFor(integration, { db, tenantId });
    const tags = await client.listTags(name);
    listed = tags.length;
    const readings = tags.map((t) => readTag(component.versioningStrategy, component.defaultChannel, t));
    skipped = readings.flatMap((r) => (r.ok ? [] : [{ tag: r.tag, reason: r.reason }]));
    const versions = readings.flatMap((r) => (r.ok ? [r] : []));
    found = await mapLimit(versions, RESOLVE_CONCURRENCY, async (v) => ({
      tag: v.tag,
      digest: (await client.resolve(name, v.tag)).digest,
      semver: v.semver,
      channel: v.channel,
    }));
  } catch (err) {
    const message = err instanceof GantryError ? err.message : 'unexpected error; see the server log';
    await withTenant(db, tenantId, async (tx) => {
      await tx.query('UPDATE components SET sync_error = $2, next_sync_at = $3 WHERE id = $1', [component.id, message, nextAt()]);
      await recordHealth(tx, integration.id, err, opts.clock.now());
    });
    throw err;
  }

  return withTenant(db, tenantId, async (tx) => {
    // Serialises concurrent syncs of one component (API and scheduler); the second re-reads what the first wrote.
    const locked = await tx.query('SELECT 1 FROM components WHERE id = $1 FOR UPDATE', [component.id]);
    if (locked.rowCount === 0) throw new GantryError('not_found', 404, `Component "${component.name}" was deleted during the sync.`);
    const now = opts.clock.now();
    const cur = await tx.query<{ id: string; tag: string; digest: string; semver: string | null; channel: string | null }>(
      'SELECT id, tag, digest, semver, channel FROM version_maps WHERE component_id = $1 AND superseded_at IS NULL',
      [component.id],
    );
    const current = new Map(cur.rows.map((r) => [r.tag, r]));
    const seen = new Set(found.map((f) => f.tag));
    const counts = { added: 0, moved: 0, removed: 0, unchanged: 0 };
    for (const f of found) {
      const old = current.get(f.tag);
      if (old && old.digest === f.digest) {
        counts.unchanged++;
        // The strategy may have changed how this tag reads; that is not a digest move, so update in place.
        if (old.semver !== f.semver || old.channel !== f.channel) {
          await tx.query('UPDATE version_maps SET semver = $2, channel = $3 WHERE id = $1', [old.id, f.semver, f.channel]);
        }
        continue;
      }
      if (old) {
        await tx.query('UPDATE version_maps SET superseded_at = $2 WHERE id = $1', [old.id, now]);
        counts.moved++;
      } else counts.added++;
      await tx.query(
        `INSERT INTO version_maps (tenant_id, component_id, tag, digest, semver, channel, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [tenantId, component.id, f.tag, f.digest, f.semver, f.channel, now],
      );
    }
    for (const old of cur.rows) {
      if (seen.has(old.tag)) continue;
      await tx.query('UPDATE version_maps SET superseded_at = $2 WHERE id = $1', [old.id, now]);
      counts.removed++;
    }
    await tx.query('UPDATE components SET last_synced_at = $2, sync_error = NULL, next_sync_at = $3 WHERE id = $1', [
      component.id,
      now,
      nextAt(),
    ]);
    await recordHealth(tx, integration.id, undefined, now);
    return {
      componentId: component.id,
      component: component.name,
      repository: name,
      registry: integration.name,
      tags: listed,
      ...counts,
      skipped,
      syncedAt: now.toISOString(),
    };
  });
}
