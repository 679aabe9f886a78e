// Registry authentication: parses WWW-Authenticate challenges and obtains Docker registry bearer tokens
// (the token protocol of distribution: GET <realm>?service=…&scope=…, optionally with basic credentials).
import type { RegistryCredential } from '../integrations/secrets.js';
import { RegistryAuthError, registryFailed } from './errors.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"` (or `Basic realm="…"`). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  // key="quoted, value" or key=token, separated by commas
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) {
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export function basicHeader(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/**
 * Fetches a bearer token for a challenge. The scope is the challenge's, or the pull scope of the
 * repository being read. A 401/403 from the token service means the credentials are wrong.
 */
export async function fetchBearerToken(
  fetchImpl: Fetch,
  challenge: Challenge,
  scope: string | undefined,
  credential: RegistryCredential | undefined,
  registry: string,
  signal: () => AbortSignal,
): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm || !URL.canParse(realm)) throw registryFailed(registry, 'its Bearer challenge has no usable realm');
  const url = new URL(realm);
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  const s = challenge.params.scope ?? scope;
  if (s) url.searchParams.set('scope', s);
  const headers: Record<string, string> = {};
  if (credential?.kind === 'basic') headers.authorization = basicHeader(credential);
  const res = await fetchImpl(url.toString(), { method: 'GET', headers, signal: signal() });
  if (res.status === 401 || res.status === 403) {
    throw new RegistryAuthError(
      `The token service of registry ${registry} refused ${credential ? 'the configured credentials' : 'anonymous access'} (HTTP ${res.status}); check the integration's credentialRef.`,
    );
  }
  if (!res.ok) throw registryFailed(registry, `its token service answered HTTP ${res.status}`);
  const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
  const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
  if (!token) throw registryFailed(registry, 'its token service answered without a token');
  return token;
}
