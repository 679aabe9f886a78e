// Integration health: one check per type (registry GET /v2/, Vault token lookup, webhook reachability,
// credential resolution) and the recording of its outcome as health_status and health_message.
import { GantryError } from '../core/errors.js';
import { denyingOutbound, type Outbound, OutboundRefusedError } from '../http/outbound.js';
import { RegistryClient } from '../registry/client.js';
import type { Db, Tx } from '../store/db.js';
import type { Integration } from './model.js';
import { CredentialRefForbiddenError } from './secret-errors.js';
import { registryCredential, resolveCredential, type SecretScope } from './secrets.js';
import { checkVaultToken } from './vault.js';

export interface HealthOutcome {
  healthy: boolean;
  message: string;
  /** Set when the credentialRef is one this server refuses: recorded as unhealthy, and the check route answers 422. */
  refusal?: CredentialRefForbiddenError;
}

export async function setHealth(tx: Tx, integrationId: string, outcome: HealthOutcome, at: Date): Promise<void> {
  await tx.query('UPDATE integrations SET health_status = $2, health_message = $3, last_checked_at = $4 WHERE id = $1', [
    integrationId,
    outcome.healthy ? 'healthy' : 'unhealthy',
    outcome.message.slice(0, 1000),
    at,
  ]);
}

const TIMEOUT_MS = 10_000;

/** Any HTTP answer below 500 means the service is there; what it says to a bare GET is not our business. */
async function reachable(outbound: Outbound, url: string, headers: Record<string, string> = {}): Promise<HealthOutcome> {
  try {
    const res = await outbound.fetch(url, { method: 'GET', headers, timeoutMs: TIMEOUT_MS });
    await res.body?.cancel().catch(() => {});
    return res.status < 500
      ? { healthy: true, message: `answered HTTP ${res.status}` }
      : { healthy: false, message: `answered HTTP ${res.status}` };
  } catch (err) {
    if (err instanceof OutboundRefusedError) return { healthy: false, message: err.message };
    const e = err as { name?: string; cause?: { code?: string } };
    return {
      healthy: false,
      message: `cannot be reached (${e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? 'connection failed')})`,
    };
  }
}

/**
 * Checks one integration now. Returns undefined when there is nothing to probe (a notification webhook
 * without a credential: probing it would post to the channel; its deliveries set its health instead).
 */
export async function checkIntegration(
  db: Db,
  tenantId: string,
  i: Integration,
  outbound: Outbound = denyingOutbound(),
): Promise<HealthOutcome | undefined> {
  const scope: SecretScope = { db, tenantId, fetch: outbound.fetch };
  try {
    switch (i.typeId) {
      case 'oci_registry': {
        // Built here rather than with registryClientFor so a vault: credential resolves in the tenant's scope.
        const credential = await registryCredential(i.credentialRef, scope);
        const client = new RegistryClient({
          url: String(i.config.url),
          insecure: i.config.insecure === true,
          credential,
          timeoutMs: Number(process.env.GANTRY_REGISTRY_TIMEOUT_MS ?? 15_000) || 15_000,
          fetch: outbound.fetch,
        });
        await client.ping();
        return { healthy: true, message: 'GET /v2/ answered' };
      }
      case 'secret_store_vault': {
        if (!i.credentialRef || i.credentialRef.startsWith('vault:')) {
          return { healthy: false, message: 'needs a credentialRef (secret:, env: or file:) holding its Vault token' };
        }
        const token = await resolveCredential(i.credentialRef, scope);
        const cfg = i.config as { address: string; mount: string; namespace?: string };
        return { healthy: true, message: await checkVaultToken(i.name, cfg, token, outbound.fetch) };
      }
      case 'scanner_webhook':
      case 'policy_webhook': {
        const headers: Record<string, string> = {};
        if (i.credentialRef) headers.authorization = `Bearer ${(await resolveCredential(i.credentialRef, scope)).replace(/^token:/, '')}`;
        return reachable(outbound, String(i.config.url), headers);
      }
      case 'notification_webhook': {
        if (!i.credentialRef) return undefined;
        await resolveCredential(i.credentialRef, scope);
        return { healthy: true, message: 'its credential resolves (deliveries report the rest)' };
      }
      default:
        return undefined;
    }
  } catch (err) {
    // Our typed errors carry messages written to never include a secret; anything else is summarised.
    if (err instanceof CredentialRefForbiddenError) return { healthy: false, message: err.message, refusal: err };
    if (err instanceof GantryError) return { healthy: false, message: err.message };
    return { healthy: false, message: `check failed (${(err as Error).name ?? 'error'})` };
  }
}
