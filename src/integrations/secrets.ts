// Resolves an integration's credentialRef (env:NAME, file:/path) to the secret, and parses registry
// credentials out of it. Errors name the reference and what is wrong, never the secret's value.
import { readFile } from 'node:fs/promises';
import { GantryError } from '../core/errors.js';

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
    // Vault KV v2 is a secret-store plugin of its own; until it exists, say so rather than fail obscurely.
    throw new SecretUnavailableError(
      `The credential reference ${ref} needs the Vault secret store, which this server does not provide yet; use env: or file:.`,
    );
  }
  throw new SecretUnavailableError('The credential reference has an unknown scheme; use env:NAME or file:/absolute/path.');
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

/** Resolves a registry integration's credentialRef; undefined when it has none (anonymous access). */
export async function registryCredential(ref: string | null): Promise<RegistryCredential | undefined> {
  if (!ref) return undefined;
  return parseRegistryCredential(await resolveSecret(ref), ref);
}
