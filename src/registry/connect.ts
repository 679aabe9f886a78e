// Builds a registry client from an oci_registry integration row: its config (url, insecure) and the
// credential its credentialRef points at. Also records the integration's health from a GET /v2/ check.
import { GantryError } from '../core/errors.js';
import { registryCredential, type SecretScope } from '../integrations/secrets.js';
import type { Tx } from '../store/db.js';
import { RegistryClient } from './client.js';

export interface RegistryIntegration {
  id: string;
  name: string;
  typeId: string;
  config: Record<string, unknown>;
  credentialRef: string | null;
}

/** Timeout per registry request; GANTRY_REGISTRY_TIMEOUT_MS overrides it (tests of unreachable registries). */
const timeoutMs = (): number => Number(process.env.GANTRY_REGISTRY_TIMEOUT_MS ?? 15_000) || 15_000;

/** The client for a tenant's registry integration; its credentialRef resolves in that tenant (scope). */
export async function registryClientFor(integration: RegistryIntegration, scope: SecretScope): Promise<RegistryClient> {
  if (integration.typeId !== 'oci_registry') {
    throw new GantryError(
      'reference_invalid',
      422,
      `Integration "${integration.name}" is of type ${integration.typeId}, not oci_registry.`,
    );
  }
  const url = String(integration.config.url ?? '');
  const credential = await registryCredential(integration.credentialRef, scope);
  return new RegistryClient({ url, insecure: integration.config.insecure === true, credential, timeoutMs: timeoutMs() });
}

/** Writes the outcome of talking to the registry onto the integration (health_status, health_message). */
export async function recordHealth(tx: Tx, integrationId: string, err: unknown, at: Date): Promise<void> {
  const healthy = err === undefined;
  // A missing tag says nothing about the registry's health; only reachability and auth do.
  if (!healthy && err instanceof GantryError && err.code === 'registry_not_found') return;
  const message = healthy ? 'GET /v2/ answered' : err instanceof GantryError ? err.message : 'check failed';
  await tx.query('UPDATE integrations SET health_status = $2, health_message = $3, last_checked_at = $4 WHERE id = $1', [
    integrationId,
    healthy ? 'healthy' : 'unhealthy',
    message,
    at,
  ]);
}
