// Resolves an integration's credentialRef to the secret at the moment of use, through the built-in
// secret stores: env:NAME, file:/path and vault:<integration>/<path>#<key> (Vault KV v2). Also parses
// registry credentials. Errors name the reference and what is wrong, never the secret's value.
import { readFile } from 'node:fs/promises';
import { GantryError } from '../core/errors.js';
import { type Db, withTenant } from '../store/db.js';
import { type FetchLike, readVaultKey } from './vault.js';

/** A secret that could not be read; the integration is misconfigured, so 422 rather than 500. */
export class SecretUnavailableError extends GantryError {
  constructor(message: string) {
    super('credential_unavailable', 422, message);
  }
}

/** Reads the secret a credentialRef points at; surrounding whitespace (a trailing newline in a file) is dropped. */
export async function resolveSecret(ref: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const value = env[name];
    if (value === undefined || value.trim() === '') {
      throw new SecretUnavailableError(
        `The credential reference ${ref} names environment variable ${name}, which is not set on the server.`,
      );
    }
    return value.trim();
  }
  if (ref.startsWith('file:')) {
    const file = ref.slice(5);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'read failed';
      throw new SecretUnavailableError(`The credential reference ${ref} cannot be read on the server (${code}).`);
    }
    if (text.trim() === '') throw new SecretUnavailableError(`The credential reference ${ref} points at an empty file.`);
    return text.trim();
  }
  if (ref.startsWith('vault:')) {
    // A vault: reference names an integration, and integrations belong to a tenant.
    throw new SecretUnavailableError(
      `The credential reference ${ref} is resolved in a tenant's context; this caller has none (use resolveCredential).`,
    );
  }
  throw new SecretUnavailableError(
    'The credential reference has an unknown scheme; use env:NAME, file:/absolute/path or vault:<integration>/<path>#<key>.',
  );
}

/** Where a credentialRef is resolved: the tenant whose secret_store_vault integrations vault: refs name. */
export interface SecretScope {
  db: Db;
  tenantId: string;
  env?: NodeJS.ProcessEnv;
  fetch?: FetchLike;
}

/** A secret store: the built-in ones below; the same shape is what a secret-store plugin will implement. */
export interface SecretStore {
  scheme: string;
  resolve(ref: string, scope: SecretScope): Promise<string>;
}

const VAULT_REF_RE = /^vault:([^/]+)\/(.+)#([^#]+)$/;

export const envStore: SecretStore = { scheme: 'env', resolve: (ref, scope) => resolveSecret(ref, scope.env) };
export const fileStore: SecretStore = { scheme: 'file', resolve: (ref, scope) => resolveSecret(ref, scope.env) };
export const vaultStore: SecretStore = {
  scheme: 'vault',
  async resolve(ref, scope) {
    const m = VAULT_REF_RE.exec(ref);
    if (!m) throw new SecretUnavailableError(`The credential reference ${ref} must be vault:<integration-name>/<path>#<key>.`);
    const [, name, secretPath, key] = m as unknown as [string, string, string, string];
    const row = await withTenant(scope.db, scope.tenantId, async (tx) => {
      const r = await tx.query<{ type_id: string; config: Record<string, unknown>; credential_ref: string | null }>(
        'SELECT type_id, config, credential_ref FROM integrations WHERE name = $1',
        [name],
      );
      return r.rows[0];
    });
    if (!row)
      throw new SecretUnavailableError(
        `The credential reference ${ref} names Vault integration "${name}", which does not exist in this tenant.`,
      );
    if (row.type_id !== 'secret_store_vault') {
      throw new SecretUnavailableError(
        `The credential reference ${ref} names integration "${name}", which is a ${row.type_id}, not a secret_store_vault.`,
      );
    }
    if (!row.credential_ref || row.credential_ref.startsWith('vault:')) {
      // The Vault token itself must come from the server's environment or a file, never from Vault.
      throw new SecretUnavailableError(`Vault integration "${name}" needs a credentialRef (env: or file:) holding its Vault token.`);
    }
    const token = await resolveSecret(row.credential_ref, scope.env);
    const cfg = row.config as { address: string; mount?: string; namespace?: string };
    return readVaultKey(
      name,
      { address: cfg.address, mount: cfg.mount ?? 'secret', namespace: cfg.namespace },
      token,
      secretPath,
      key,
      scope.fetch,
    );
  },
};

export const SECRET_STORES: Record<string, SecretStore> = { env: envStore, file: fileStore, vault: vaultStore };

/** Resolves any credentialRef in a tenant's context; the secret is read now and kept by no one. */
export async function resolveCredential(ref: string, scope: SecretScope): Promise<string> {
  const scheme = ref.slice(0, ref.indexOf(':'));
  const store = SECRET_STORES[scheme];
  if (!store)
    throw new SecretUnavailableError(
      'The credential reference has an unknown scheme; use env:NAME, file:/absolute/path or vault:<integration>/<path>#<key>.',
    );
  return store.resolve(ref, scope);
}

/** How Gantry authenticates to a registry: HTTP basic (also used to obtain Docker bearer tokens) or a fixed bearer token. */
export type RegistryCredential = { kind: 'basic'; username: string; password: string } | { kind: 'token'; token: string };

/**
 * The secret's format: `user:password` for basic auth (the password may contain ":"), or
 * `token:<value>` for a bearer token used as is (e.g. a registry access token).
 */
export function parseRegistryCredential(secret: string, ref: string): RegistryCredential {
  if (secret.startsWith('token:')) {
    const token = secret.slice(6);
    if (!token) throw new SecretUnavailableError(`The secret behind ${ref} is "token:" with no token after it.`);
    return { kind: 'token', token };
  }
  const colon = secret.indexOf(':');
  if (colon <= 0) {
    throw new SecretUnavailableError(`The secret behind ${ref} must be "user:password" (basic auth) or "token:<value>" (bearer token).`);
  }
  return { kind: 'basic', username: secret.slice(0, colon), password: secret.slice(colon + 1) };
}

/** Resolves a registry integration's credentialRef; undefined when it has none (anonymous access). vault: needs a scope. */
export async function registryCredential(ref: string | null, scope?: SecretScope): Promise<RegistryCredential | undefined> {
  if (!ref) return undefined;
  return parseRegistryCredential(scope ? await resolveCredential(ref, scope) : await resolveSecret(ref), ref);
}
