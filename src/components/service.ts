// Components: create, read, update, delete within a tenant transaction; the registry must be this tenant's OCI registry.
import { GantryError, NotFoundError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { afterOf, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import type { Component, ComponentCreate, ComponentUpdate } from './model.js';

export interface ComponentRow {
  id: string;
  name: string;
  display_name: string;
  image_repository: string;
  registry_integration_id: string | null;
  versioning_strategy: Component['versioningStrategy'];
  default_channel: string;
  last_synced_at: Date | null;
  sync_error: string | null;
  next_sync_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const componentOut = (r: ComponentRow): Component => ({
  id: r.id,
  name: r.name,
  displayName: r.display_name,
  imageRepository: r.image_repository,
  registryIntegrationId: r.registry_integration_id,
  versioningStrategy: r.versioning_strategy,
  defaultChannel: r.default_channel,
  lastSyncedAt: r.last_synced_at?.toISOString() ?? null,
  syncError: r.sync_error,
  nextSyncAt: r.next_sync_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** 422 unless the id names an oci_registry integration visible to this tenant (row-level security hides others). */
async function checkRegistry(tx: Tx, id: string): Promise<void> {
  const r = await tx.query<{ type_id: string; name: string }>('SELECT type_id, name FROM integrations WHERE id = $1', [id]);
  const found = r.rows[0];
  if (!found) {
    throw new GantryError('reference_invalid', 422, `No integration with id ${id} exists in this tenant; see GET /api/v1/integrations.`, [
      { path: 'body.registryIntegrationId', message: 'no such integration' },
    ]);
  }
  if (found.type_id !== 'oci_registry') {
    throw new GantryError(
      'reference_invalid',
      422,
      `Integration "${found.name}" is of type ${found.type_id}; a component's registry must be an oci_registry integration.`,
      [{ path: 'body.registryIntegrationId', message: 'not an oci_registry integration' }],
    );
  }
}

/** Finds a component by id or name; 404 when it does not exist in this tenant. */
export async function getComponent(tx: Tx, ref: string): Promise<Component> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<ComponentRow>(`SELECT * FROM components WHERE ${byId ? 'id = $1::uuid' : 'name = $1'}`, [ref]);
  if (!r.rows[0]) throw new NotFoundError('Component', ref);
  return componentOut(r.rows[0]);
}

export async function listComponents(tx: Tx, limit: number, cursor: string | undefined) {
  const r = await tx.query<ComponentRow>('SELECT * FROM components WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2', [
    afterOf(cursor) ?? null,
    limit + 1,
  ]);
  return toPage(r.rows, limit, (row) => [row.id], componentOut);
}

export async function createComponent(tx: Tx, tenantId: string, input: ComponentCreate): Promise<Component> {
  if (input.registryIntegrationId) await checkRegistry(tx, input.registryIntegrationId);
  const r = await tx.query<ComponentRow>(
    `INSERT INTO components (tenant_id, name, display_name, image_repository, registry_integration_id, versioning_strategy, default_channel)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [
      tenantId,
      input.name,
      input.displayName ?? '',
      input.imageRepository,
      input.registryIntegrationId ?? null,
      JSON.stringify(input.versioningStrategy ?? { type: 'semver' }),
      input.defaultChannel ?? 'stable',
    ],
  );
  return componentOut(r.rows[0]!);
}

export async function updateComponent(tx: Tx, ref: string, input: ComponentUpdate): Promise<Component> {
  const current = await getComponent(tx, ref);
  if (input.registryIntegrationId) await checkRegistry(tx, input.registryIntegrationId);
  const r = await tx.query<ComponentRow>(
    `UPDATE components SET name = $2, display_name = $3, image_repository = $4, registry_integration_id = $5,
            versioning_strategy = $6, default_channel = $7 WHERE id = $1 RETURNING *`,
    [
      current.id,
      input.name ?? current.name,
      input.displayName ?? current.displayName,
      input.imageRepository ?? current.imageRepository,
      // null clears the registry; absent keeps it
      input.registryIntegrationId === undefined ? current.registryIntegrationId : input.registryIntegrationId,
      JSON.stringify(input.versioningStrategy ?? current.versioningStrategy),
      input.defaultChannel ?? current.defaultChannel,
    ],
  );
  return componentOut(r.rows[0]!);
}

export async function deleteComponent(tx: Tx, ref: string): Promise<void> {
  const current = await getComponent(tx, ref);
  await tx.query('DELETE FROM components WHERE id = $1', [current.id]);
}
