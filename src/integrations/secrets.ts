// The one door for secret references a tenant configures (integrations' and targets' credentialRef):
// secret:<name> (the tenant's own encrypted store), env:NAME and file:/path (only what the operator
// opened with GANTRY_SECRET_ENV_PREFIX / GANTRY_SECRET_DIRS, never the server's own settings, data dir or
// key files) and vault:<integration>/<path>#<key>. Also parses registry credentials. Errors name the
// reference and the setting that would allow it, never a secret's value.
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SecretSettings } from '../core/config.js';
import type { MasterKey } from '../secrets/envelope.js';
import { openSecret } from '../secrets/service.js';
import { type Db, withTenant } from '../store/db.js';
import { CredentialRefForbiddenError, SecretUnavailableError } from './secret-errors.js';
import { type FetchLike, readVaultKey } from './vault.js';

/** What this server lets tenants' references reach; built from SecretSettings at start (Deps.secrets). */
export interface SecretAccess {
  /** env: names must start with it; undefined turns env: off. */
  envPrefix: string | undefined;
  /** file: paths must resolve (realpath) inside one of these; empty turns file: off. */
  dirs: string[];
  /** Never resolvable: the data dir, the key and password files (and anything inside them). */
  protectedPaths: string[];
  /** Where env: names are looked up (the server's environment). */
  env: NodeJS.ProcessEnv;
  /** The tenant secret store's master key; secret: refs are refused without it. */
  masterKey: MasterKey | undefined;
}

export function secretAccess(
  settings: SecretSettings,
  masterKey: MasterKey | undefined,
  env: NodeJS.ProcessEnv = process.env,
): SecretAccess {
  return { envPrefix: settings.envPrefix, dirs: settings.dirs, protectedPaths: settings.protectedPaths, env, masterKey };
}

/** Default for a pool nobody configured: env: and file: off, no secret store. */
const NO_ACCESS: SecretAccess = { envPrefix: undefined, dirs: [], protectedPaths: [], env: {}, masterKey: undefined };

// The access of the app that owns a pool. Schedulers, gates, steps and notifications resolve through
// (db, tenantId); keying on the pool means every one of them uses the app's configuration without each
// carrying it, and a pool nobody configured gets no env:/file: access at all.
const accessByDb = new WeakMap<Db, SecretAccess>();

export function useSecretAccess(db: Db, access: SecretAccess): void {
  accessByDb.set(db, access);
}

export function secretAccessOf(db: Db): SecretAccess {
  return accessByDb.get(db) ?? NO_ACCESS;
}

/** The server's own settings: never resolvable through env:, whatever prefix the operator allows. */
export function isServerSetting(name: string): boolean {
  return name.startsWith('GANTRY_') || ['DATABASE_URL', 'PGPASSWORD', 'PGPASSFILE', 'PGSERVICEFILE'].includes(name);
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

const USE_STORE = 'or keep the secret in the tenant secret store and reference it as secret:<name>';

function checkEnvName(ref: string, name: string, access: SecretAccess, field?: string): void {
  if (isServerSetting(name)) {
    throw new CredentialRefForbiddenError(
      `The credential reference ${ref} names one of the server's own settings (GANTRY_*, DATABASE_URL, PG*), which are never resolvable; ${USE_STORE}.`,
      field,
    );
  }
  if (access.envPrefix === undefined) {
    throw new CredentialRefForbiddenError(
      `The credential reference ${ref} is refused: env: references are off on this server. An operator allows them with GANTRY_SECRET_ENV_PREFIX (variables whose names start with it); ${USE_STORE}.`,
      field,
    );
  }
  if (!name.startsWith(access.envPrefix)) {
    throw new CredentialRefForbiddenError(
      `The credential reference ${ref} is refused: this server resolves only variables whose names start with "${access.envPrefix}" (GANTRY_SECRET_ENV_PREFIX); ${USE_STORE}.`,
      field,
    );
  }
}

/** The lexical check (write time and first step at use): `..` is folded away before comparing. */
function checkFilePath(ref: string, file: string, access: SecretAccess, field?: string): string {
  const resolved = path.resolve(file);
  if (access.protectedPaths.some((p) => inside(resolved, p))) {
    throw new CredentialRefForbiddenError(
      `The credential reference ${ref} points into the server's data directory or at one of its key or password files, which are never resolvable; ${USE_STORE}.`,
      field,
    );
  }
  if (access.dirs.length === 0) {
    throw new CredentialRefForbiddenError(
      `The credential reference ${ref} is refused: file: references are off on this server. An operator allows directories with GANTRY_SECRET_DIRS; ${USE_STORE}.`,
      field,
    );
  }
  if (!access.dirs.some((d) => inside(resolved, d))) {
    throw new CredentialRefForbiddenError(
      `The credential reference ${ref} is outside the directories this server allows (GANTRY_SECRET_DIRS: ${access.dirs.join(', ')}); ${USE_STORE}.`,
      field,
    );
  }
  return resolved;
}

/**
 * Refuses a reference the policy would refuse at use, at the moment it is written (422 naming `field`).
 * A file: path is checked as written; links are followed again at every use.
 */
export function checkCredentialRef(ref: string, access: SecretAccess, field: string): void {
  if (ref.startsWith('env:')) checkEnvName(ref, ref.slice(4), access, field);
  else if (ref.startsWith('file:')) checkFilePath(ref, ref.slice(5), access, field);
  else if (ref.startsWith('secret:') && !access.masterKey) {
    throw new CredentialRefForbiddenError(`The credential reference ${ref} is refused: this server has no secret-store key.`, field);
  }
}

async function resolveEnv(ref: string, access: SecretAccess): Promise<string> {
  const name = ref.slice(4);
  checkEnvName(ref, name, access);
  const value = access.env[name];
  if (value === undefined || value.trim() === '') {
    throw new SecretUnavailableError(`The credential reference ${ref} names environment variable ${name}, which is not set on the server.`);
  }
  return value.trim();
}

async function realOrSelf(p: string): Promise<string> {
  return realpath(p).catch(() => p);
}

async function resolveFile(ref: string, access: SecretAccess): Promise<string> {
  const resolved = checkFilePath(ref, ref.slice(5), access);
  let real: string;
  try {
    real = await realpath(resolved);
  } catch (err) {
    throw new SecretUnavailableError(
      `The credential reference ${ref} cannot be read on the server (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
  }
  // Following links must land inside an allowed directory and outside every protected path, and the file
  // must not be a hard link to a protected file.
  const dirs = await Promise.all(access.dirs.map(realOrSelf));
  const guarded = await Promise.all(access.protectedPaths.map(realOrSelf));
  const escapes = !dirs.some((d) => inside(real, d));
  const hitsProtected = guarded.some((p) => inside(real, p)) || (await sameFileAsProtected(real, access.protectedPaths));
  if (escapes || hitsProtected) {
    throw new CredentialRefForbiddenError(
      `The credential reference ${ref} resolves, through a symbolic link, to a file ${hitsProtected ? 'the server never resolves (its data directory, a key or password file)' : 'outside the directories GANTRY_SECRET_DIRS allows'}; ${USE_STORE}.`,
    );
  }
  let text: string;
  try {
    text = await readFile(real, 'utf8');
  } catch (err) {
    throw new SecretUnavailableError(
      `The credential reference ${ref} cannot be read on the server (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
  }
  if (text.trim() === '') throw new SecretUnavailableError(`The credential reference ${ref} points at an empty file.`);
  return text.trim();
}

async function sameFileAsProtected(real: string, protectedPaths: string[]): Promise<boolean> {
  const s = await stat(real).catch(() => undefined);
  if (!s) return false;
  for (const p of protectedPaths) {
    const q = await stat(p).catch(() => undefined);
    if (q?.isFile() && q.dev === s.dev && q.ino === s.ino) return true;
  }
  return false;
}

/**
 * The server's own secret references (e.g. GANTRY_EVIDENCE_KEY_REF), written by the operator: env:NAME
 * or file:/path without the tenant policy. Never call it with a reference a tenant wrote.
 */
export async function resolveOperatorSecret(ref: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const value = env[name];
    if (value === undefined || value.trim() === '') {
      throw new SecretUnavailableError(`The reference ${ref} names environment variable ${name}, which is not set on the server.`);
    }
    return value.trim();
  }
  if (ref.startsWith('file:')) {
    const file = ref.slice(5);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new SecretUnavailableError(
        `The reference ${ref} cannot be read on the server (${(err as NodeJS.ErrnoException).code ?? 'read failed'}).`,
      );
    }
    if (text.trim() === '') throw new SecretUnavailableError(`The reference ${ref} points at an empty file.`);
    return text.trim();
  }
  throw new SecretUnavailableError('A server setting that is a secret reference must be env:NAME or file:/absolute/path.');
}

/** Where a credentialRef is resolved: the tenant whose secrets and Vault integrations it may name. */
export interface SecretScope {
  db: Db;
  tenantId: string;
  fetch?: FetchLike;
}

/** A secret store: the built-in ones below; the same shape is what a secret-store plugin will implement. */
export interface SecretStore {
  scheme: string;
  resolve(ref: string, scope: SecretScope): Promise<string>;
}

const VAULT_REF_RE = /^vault:([^/]+)\/(.+)#([^#]+)$/;

export const envStore: SecretStore = { scheme: 'env', resolve: (ref, scope) => resolveEnv(ref, secretAccessOf(scope.db)) };
export const fileStore: SecretStore = { scheme: 'file', resolve: (ref, scope) => resolveFile(ref, secretAccessOf(scope.db)) };
export const tenantStore: SecretStore = {
  scheme: 'secret',
  async resolve(ref, scope) {
    const name = ref.slice(7);
    const key = secretAccessOf(scope.db).masterKey;
    if (!key) throw new SecretUnavailableError(`The credential reference ${ref} cannot be resolved: this server has no secret-store key.`);
    const value = await withTenant(scope.db, scope.tenantId, (tx) => openSecret(tx, key, scope.tenantId, name));
    if (value === undefined) {
      throw new SecretUnavailableError(
        `The credential reference ${ref} names secret "${name}", which does not exist in this tenant; an admin creates it with \`gantry secret set ${name}\`.`,
      );
    }
    return value;
  },
};
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
      // The Vault token itself must come from the tenant store, the server's environment or a file, never from Vault.
      throw new SecretUnavailableError(
        `Vault integration "${name}" needs a credentialRef (secret:, env: or file:) holding its Vault token.`,
      );
    }
    const token = await resolveCredential(row.credential_ref, scope);
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

export const SECRET_STORES: Record<string, SecretStore> = { secret: tenantStore, env: envStore, file: fileStore, vault: vaultStore };

/** Resolves any credentialRef in a tenant's context; the secret is read now and kept by no one. */
export async function resolveCredential(ref: string, scope: SecretScope): Promise<string> {
  const scheme = ref.slice(0, ref.indexOf(':'));
  const store = SECRET_STORES[scheme];
  if (!store)
    throw new SecretUnavailableError(
      'The credential reference has an unknown scheme; use secret:<name>, env:NAME, file:/absolute/path or vault:<integration>/<path>#<key>.',
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

/** Resolves a registry integration's credentialRef in its tenant; undefined when it has none (anonymous access). */
export async function registryCredential(ref: string | null, scope: SecretScope): Promise<RegistryCredential | undefined> {
  if (!ref) return undefined;
  return parseRegistryCredential(await resolveCredential(ref, scope), ref);
}
