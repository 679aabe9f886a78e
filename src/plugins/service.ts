// Plugins (global, platform-admin managed) and plugin instances (per tenant): rows in, API shapes out.
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { secretKeyPaths } from '../core/secret-keys.js';
import type { Tx } from '../store/db.js';
import { readArchive, sha256 } from './archive.js';
import { MANIFEST_FILE, type PluginManifest, parseManifest, validateAgainst } from './manifest.js';
import type { InstanceUpdate, InstanceUpsert, Plugin, PluginInstance } from './model.js';

export interface PluginRow {
  id: string;
  plugin_id: string;
  version: string;
  vendor: string;
  manifest: PluginManifest;
  status: Plugin['status'];
  status_reason: string | null;
  entrypoint: string;
  archive_sha256: string | null;
  api_version: string;
  installed_by: string | null;
  installed_at: Date;
  updated_at: Date;
}

export const PLUGIN_COLUMNS =
  'id, plugin_id, version, vendor, manifest, status, status_reason, entrypoint, archive_sha256, api_version, installed_by, installed_at, updated_at';

export const pluginOut = (r: PluginRow): Plugin => ({
  id: r.id,
  pluginId: r.plugin_id,
  version: r.version,
  vendor: r.vendor,
  description: r.manifest.description ?? '',
  apiVersion: r.api_version,
  status: r.status,
  statusReason: r.status_reason,
  entrypoint: r.entrypoint,
  contributes: r.manifest.contributes,
  configSchema: r.manifest.configSchema ?? null,
  archiveSha256: r.archive_sha256,
  installedBy: r.installed_by,
  installedAt: r.installed_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

export async function findPlugin(tx: Tx, ref: string): Promise<PluginRow> {
  const col = UUID_RE.test(ref) ? 'id = $1::uuid' : 'plugin_id = $1';
  const r = await tx.query<PluginRow>(`SELECT ${PLUGIN_COLUMNS} FROM plugins WHERE ${col}`, [ref]);
  if (!r.rows[0]) throw new NotFoundError('Plugin', ref);
  return r.rows[0];
}

export async function listPlugins(tx: Tx): Promise<PluginRow[]> {
  return (await tx.query<PluginRow>(`SELECT ${PLUGIN_COLUMNS} FROM plugins ORDER BY plugin_id`)).rows;
}

/** Reads and checks a package, then stores its archive and manifest; a reinstall replaces the code. */
export async function installPlugin(tx: Tx, bytes: Buffer, actor: string): Promise<{ row: PluginRow; previousStatus: string | null }> {
  const files = await readArchive(bytes);
  const manifestBytes = files.get(MANIFEST_FILE);
  if (!manifestBytes) {
    throw new ValidationError(
      `The package has no ${MANIFEST_FILE} at its root.`,
      [{ path: 'body.archive', message: `missing ${MANIFEST_FILE}` }],
      'manifest_invalid',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(manifestBytes.toString('utf8'));
  } catch (err) {
    throw new ValidationError(
      `${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`,
      [{ path: 'manifest', message: 'invalid JSON' }],
      'manifest_invalid',
    );
  }
  const manifest = parseManifest(raw);
  if (!files.has(manifest.entrypoint)) {
    throw new ValidationError(
      `The manifest's entrypoint "${manifest.entrypoint}" is not in the package.`,
      [{ path: 'manifest.entrypoint', message: 'file not in the package' }],
      'manifest_invalid',
    );
  }
  const hash = sha256(bytes);
  await tx.query('INSERT INTO plugin_archives (sha256, bytes, size) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING', [
    hash,
    bytes,
    bytes.length,
  ]);
  const prev = await tx.query<{ status: string }>('SELECT status FROM plugins WHERE plugin_id = $1 FOR UPDATE', [manifest.pluginId]);
  const r = await tx.query<PluginRow>(
    `INSERT INTO plugins (plugin_id, version, vendor, manifest, status, status_reason, entrypoint, archive_sha256, api_version, installed_by, installed_at)
     VALUES ($1, $2, $3, $4, 'installed', 'installed; enable it to activate', $5, $6, $7, $8, now())
     ON CONFLICT (plugin_id) DO UPDATE SET version = EXCLUDED.version, vendor = EXCLUDED.vendor, manifest = EXCLUDED.manifest,
       entrypoint = EXCLUDED.entrypoint, archive_sha256 = EXCLUDED.archive_sha256, api_version = EXCLUDED.api_version,
       installed_by = EXCLUDED.installed_by, installed_at = now(),
       status = CASE WHEN plugins.status = 'disabled' THEN 'disabled' ELSE 'installed' END,
       status_reason = CASE WHEN plugins.status = 'disabled' THEN plugins.status_reason ELSE 'reinstalled; enable it to activate' END
     RETURNING ${PLUGIN_COLUMNS}`,
    [manifest.pluginId, manifest.version, manifest.vendor, JSON.stringify(manifest), manifest.entrypoint, hash, manifest.apiVersion, actor],
  );
  return { row: r.rows[0]!, previousStatus: prev.rows[0]?.status ?? null };
}

export async function setPluginStatus(tx: Tx, id: string, status: Plugin['status'], reason: string | null): Promise<PluginRow> {
  const r = await tx.query<PluginRow>(`UPDATE plugins SET status = $2, status_reason = $3 WHERE id = $1 RETURNING ${PLUGIN_COLUMNS}`, [
    id,
    status,
    reason,
  ]);
  if (!r.rows[0]) throw new NotFoundError('Plugin', id);
  return r.rows[0];
}

export async function archiveBytes(tx: Tx, hash: string): Promise<Buffer> {
  const r = await tx.query<{ bytes: Buffer }>('SELECT bytes FROM plugin_archives WHERE sha256 = $1', [hash]);
  if (!r.rows[0]) throw new NotFoundError('Plugin archive', hash);
  return r.rows[0].bytes;
}

// Instances ---------------------------------------------------------------------------------------

interface InstanceRow {
  id: string;
  plugin_id: string;
  config: Record<string, unknown>;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const instanceOut = (pluginId: string, r: InstanceRow): PluginInstance => ({
  id: r.id,
  pluginId,
  config: r.config,
  enabled: r.enabled,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Checks a tenant's instance config: no secrets, and the plugin's configSchema (defaults filled in). */
function checkInstanceConfig(p: PluginRow, config: Record<string, unknown>): Record<string, unknown> {
  const secrets = secretKeyPaths(config);
  if (secrets.length > 0) {
    throw new ValidationError(
      'Secrets are never stored in plugin config: keep them in a secret store and give the plugin an integration with a credentialRef.',
      secrets.map((s) => ({ path: ['body.config', ...s].join('.'), message: 'looks like a secret' })),
      'secret_in_config',
    );
  }
  return validateAgainst(p.manifest.configSchema, config, 'body.config') as Record<string, unknown>;
}

export async function getInstance(tx: Tx, pluginRef: string): Promise<PluginInstance> {
  const p = await findPlugin(tx, pluginRef);
  const r = await tx.query<InstanceRow>('SELECT * FROM plugin_instances WHERE plugin_id = $1', [p.id]);
  if (!r.rows[0]) throw new NotFoundError('Plugin instance of', p.plugin_id);
  return instanceOut(p.plugin_id, r.rows[0]);
}

export async function listInstances(tx: Tx): Promise<PluginInstance[]> {
  const r = await tx.query<InstanceRow & { plugin_ref: string }>(
    'SELECT i.*, p.plugin_id AS plugin_ref FROM plugin_instances i JOIN plugins p ON p.id = i.plugin_id ORDER BY p.plugin_id',
  );
  return r.rows.map((row) => instanceOut(row.plugin_ref, row));
}

export async function createInstance(tx: Tx, tenantId: string, input: InstanceUpsert): Promise<PluginInstance> {
  const p = await findPlugin(tx, input.pluginId);
  const config = checkInstanceConfig(p, input.config);
  const r = await tx.query<InstanceRow>(
    `INSERT INTO plugin_instances (plugin_id, tenant_id, config, enabled) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, plugin_id) DO NOTHING RETURNING *`,
    [p.id, tenantId, JSON.stringify(config), input.enabled],
  );
  if (!r.rows[0]) {
    throw new ConflictError(`This tenant already has an instance of plugin ${p.plugin_id}; change it with PATCH.`, 'already_exists');
  }
  return instanceOut(p.plugin_id, r.rows[0]);
}

export async function updateInstance(tx: Tx, pluginRef: string, input: InstanceUpdate): Promise<PluginInstance> {
  const p = await findPlugin(tx, pluginRef);
  const current = await getInstance(tx, p.id);
  const config = input.config === undefined ? current.config : checkInstanceConfig(p, input.config);
  const r = await tx.query<InstanceRow>('UPDATE plugin_instances SET config = $2, enabled = $3 WHERE id = $1 RETURNING *', [
    current.id,
    JSON.stringify(config),
    input.enabled ?? current.enabled,
  ]);
  return instanceOut(p.plugin_id, r.rows[0]!);
}

export async function deleteInstance(tx: Tx, pluginRef: string): Promise<void> {
  const current = await getInstance(tx, pluginRef);
  await tx.query('DELETE FROM plugin_instances WHERE id = $1', [current.id]);
}

/** What a call into a plugin needs for one tenant: the plugin's state and the tenant's instance. */
export async function tenantUse(tx: Tx, pluginId: string): Promise<{ plugin: PluginRow | undefined; instance: InstanceRow | undefined }> {
  const p = await tx.query<PluginRow>(`SELECT ${PLUGIN_COLUMNS} FROM plugins WHERE plugin_id = $1`, [pluginId]);
  const plugin = p.rows[0];
  if (!plugin) return { plugin: undefined, instance: undefined };
  const i = await tx.query<InstanceRow>('SELECT * FROM plugin_instances WHERE plugin_id = $1', [plugin.id]);
  return { plugin, instance: i.rows[0] };
}
