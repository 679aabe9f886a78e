// HashiCorp Vault KV v2 over its HTTP API (OpenBao speaks the same): reads one key of one secret with
// the token the secret_store_vault integration's own credentialRef points at. Messages name the
// integration, path and key, never the token or the value.
import { denyingOutbound, OutboundRefusedError } from '../http/outbound.js';
import { SecretUnavailableError } from './secret-errors.js';

export interface VaultConfig {
  address: string;
  mount: string;
  namespace?: string | undefined;
}

/** A fetch through the outbound door (src/http/outbound.ts); the default refuses private and loopback addresses. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

const TIMEOUT_MS = 10_000;

function headers(token: string, cfg: VaultConfig): Record<string, string> {
  return { 'x-vault-token': token, accept: 'application/json', ...(cfg.namespace ? { 'x-vault-namespace': cfg.namespace } : {}) };
}

const base = (cfg: VaultConfig) => cfg.address.replace(/\/+$/, '');

async function send(name: string, url: string, init: RequestInit, fetchImpl: FetchLike): Promise<Response> {
  try {
    return await fetchImpl(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    if (err instanceof OutboundRefusedError) throw err;
    const e = err as { name?: string; cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : (e.cause?.code ?? 'connection failed');
    throw new SecretUnavailableError(`Vault integration "${name}" cannot be reached at ${new URL(url).origin} (${why}).`);
  }
}

/** GET {address}/v1/{mount}/data/{path} and pick one key of the secret's current version. */
export async function readVaultKey(
  name: string,
  cfg: VaultConfig,
  token: string,
  secretPath: string,
  key: string,
  fetchImpl: FetchLike = denyingOutbound().fetch,
): Promise<string> {
  const url = `${base(cfg)}/v1/${cfg.mount}/data/${secretPath.split('/').map(encodeURIComponent).join('/')}`;
  const res = await send(name, url, { method: 'GET', headers: headers(token, cfg) }, fetchImpl);
  const where = `${cfg.mount}/${secretPath}`;
  if (res.status === 404) throw new SecretUnavailableError(`Vault integration "${name}" has no secret at ${where}.`);
  if (res.status === 403 || res.status === 401) {
    throw new SecretUnavailableError(
      `Vault integration "${name}" refused its token for ${where} (HTTP ${res.status}); check the token's policy.`,
    );
  }
  if (!res.ok) throw new SecretUnavailableError(`Vault integration "${name}" answered HTTP ${res.status} for ${where}.`);
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new SecretUnavailableError(
      `Vault integration "${name}" answered ${where} with something other than JSON; is ${cfg.mount} a KV v2 mount?`,
    );
  }
  const data = (body as { data?: { data?: Record<string, unknown> } }).data?.data;
  if (!data || typeof data !== 'object') {
    throw new SecretUnavailableError(`Vault integration "${name}": ${where} is not a KV v2 secret (no data.data in the answer).`);
  }
  const value = data[key];
  if (typeof value !== 'string' || value === '') {
    throw new SecretUnavailableError(`Vault integration "${name}": the secret at ${where} has no non-empty string key "${key}".`);
  }
  return value;
}

/** Health: GET /v1/auth/token/lookup-self tells whether Vault is reachable and the token is valid. */
export async function checkVaultToken(
  name: string,
  cfg: VaultConfig,
  token: string,
  fetchImpl: FetchLike = denyingOutbound().fetch,
): Promise<string> {
  const res = await send(name, `${base(cfg)}/v1/auth/token/lookup-self`, { method: 'GET', headers: headers(token, cfg) }, fetchImpl);
  if (res.status === 403 || res.status === 401)
    throw new SecretUnavailableError(`Vault integration "${name}" refused its token (HTTP ${res.status}).`);
  if (!res.ok) throw new SecretUnavailableError(`Vault integration "${name}" answered HTTP ${res.status} to a token lookup.`);
  return 'Vault answered the token lookup';
}
