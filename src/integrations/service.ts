// Integrations: create, read, update, delete within a tenant transaction; config is checked against its type.
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { secretKeyPaths } from '../core/secret-keys.js';
import { parseAt } from '../core/validate.js';
import { afterOf, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import type { Integration, IntegrationCreate, IntegrationUpdate } from './model.js';
import { checkCredentialRef, type SecretAccess } from './secrets.js';
import { INTEGRATION_TYPE_IDS, INTEGRATION_TYPES, isIntegrationType } from './types.js';

interface IntegrationRow {
  id: string;
  name: string;
  type_id: string;
  config: Record<string, unknown>;
  credential_ref: string | null;
  health_status: Integration['healthStatus'];
  health_message: string | null;
  last_checked_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const integrationOut = (r: IntegrationRow): Integration => ({
  id: r.id,
  name: r.name,
  typeId: r.type_id,
  config: r.config,
  credentialRef: r.credential_ref,
  healthStatus: r.health_status,
  healthMessage: r.health_message,
  lastCheckedAt: r.last_checked_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Checks typeId and config together, returning the config with the type's defaults filled in. */
export function validateConfig(typeId: string, config: Record<string, unknown>): Record<string, unknown> {
  if (!isIntegrationType(typeId)) {
    throw new ValidationError(`Unknown integration type "${typeId}"; known types: ${INTEGRATION_TYPE_IDS.join(', ')}.`, [
      { path: 'body.typeId', message: `must be one of ${INTEGRATION_TYPE_IDS.join(', ')}` },
    ]);
  }
  // Checked before the type's schema so a "password" key gets this advice rather than "unrecognized key".
  const secrets = secretKeyPaths(config);
  if (secrets.length > 0) {
    throw new ValidationError(
      'Secrets are never stored in integration config: put the secret in a secret store and reference it with credentialRef (secret:<name>, env:NAME, file:/path or vault:<integration>/<path>#<key>).',
      secrets.map((p) => ({ path: ['body.config', ...p].join('.'), message: 'looks like a secret; use credentialRef instead' })),
      'secret_in_config',
    );
  }
  return parseAt(INTEGRATION_TYPES[typeId], config, 'body.config');
}

/**
 * Finds several integrations by id or name in one statement; each answer is the integration, or a 404
 * NotFoundError for a ref that does not exist in this tenant (as getIntegration would throw).
 */
export async function getIntegrations(tx: Tx, refs: readonly string[]): Promise<Map<string, Integration | NotFoundError>> {
  const ids = refs.filter((r) => UUID_RE.test(r));
  const names = refs.filter((r) => !UUID_RE.test(r));
  const r = await tx.query<IntegrationRow>('SELECT * FROM integrations WHERE id = ANY($1::uuid[]) OR name = ANY($2::text[])', [ids, names]);
  const found = r.rows.map(integrationOut);
  return new Map(
    refs.map((ref) => {
      const byId = UUID_RE.test(ref);
      const hit = found.find((i) => (byId ? i.id === ref : i.name === ref));
      return [ref, hit ?? new NotFoundError('Integration', ref)];
    }),
  );
}

/** Finds an integration by id or name; 404 when it does not exist in this tenant. */
export async function getIntegration(tx: Tx, ref: string): Promise<Integration> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<IntegrationRow>(`SELECT * FROM integrations WHERE ${byId ? 'id = $1::uuid' : 'name = $1'}`, [ref]);
  if (!r.rows[0]) throw new NotFoundError('Integration', ref);
  return integrationOut(r.rows[0]);
}

export async function listIntegrations(tx: Tx, limit: number, cursor: string | undefined) {
  const r = await tx.query<IntegrationRow>('SELECT * FROM integrations WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2', [
    afterOf(cursor) ?? null,
    limit + 1,
  ]);
  return toPage(r.rows, limit, (row) => [row.id], integrationOut);
}

export async function createIntegration(tx: Tx, tenantId: string, input: IntegrationCreate, access: SecretAccess): Promise<Integration> {
  const config = validateConfig(input.typeId, input.config ?? {});
  if (input.credentialRef) checkCredentialRef(input.credentialRef, access, 'body.credentialRef');
  const r = await tx.query<IntegrationRow>(
    `INSERT INTO integrations (tenant_id, name, type_id, config, credential_ref) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [tenantId, input.name, input.typeId, JSON.stringify(config), input.credentialRef ?? null],
  );
  return integrationOut(r.rows[0]!);
}

export async function updateIntegration(tx: Tx, ref: string, input: IntegrationUpdate, access: SecretAccess): Promise<Integration> {
  const current = await getIntegration(tx, ref);
  if (input.credentialRef) checkCredentialRef(input.credentialRef, access, 'body.credentialRef');
  if (input.typeId !== undefined && input.typeId !== current.typeId) {
    throw new ValidationError(
      `An integration's type cannot change (it is ${current.typeId}); create a new integration of type ${input.typeId} instead.`,
      [{ path: 'body.typeId', message: 'cannot change' }],
    );
  }
  const config = input.config === undefined ? current.config : validateConfig(current.typeId, input.config);
  const r = await tx.query<IntegrationRow>(
    'UPDATE integrations SET name = $2, config = $3, credential_ref = $4 WHERE id = $1 RETURNING *',
    [
      current.id,
      input.name ?? current.name,
      JSON.stringify(config),
      input.credentialRef === undefined ? current.credentialRef : input.credentialRef,
    ],
  );
  return integrationOut(r.rows[0]!);
}

export async function deleteIntegration(tx: Tx, ref: string): Promise<void> {
  const current = await getIntegration(tx, ref);
  const users = await tx.query<{ name: string }>('SELECT name FROM components WHERE registry_integration_id = $1 ORDER BY name LIMIT 20', [
    current.id,
  ]);
  if (users.rows.length > 0) {
    const names = users.rows.map((c) => c.name).join(', ');
    throw new ConflictError(
      `Integration "${current.name}" is the registry of component(s) ${names}; point them at another registry integration ` +
        '(PATCH registryIntegrationId) or set it to null first, then delete.',
      'in_use',
    );
  }
  await tx.query('DELETE FROM integrations WHERE id = $1', [current.id]);
}
