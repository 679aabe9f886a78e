// OCI Distribution client: ping (GET /v2/), tag listing with Link pagination, and tag → digest resolution
// (HEAD with the OCI and Docker manifest/index Accept types, GET + SHA-256 when the digest header is
// missing). Authenticates with basic credentials or Docker bearer tokens when the registry challenges.
import { createHash } from 'node:crypto';
import { OutboundRefusedError } from '../http/outbound.js';
import type { RegistryCredential } from '../integrations/secrets.js';
import { basicHeader, type Challenge, type Fetch, fetchBearerToken, parseChallenge } from './auth.js';
import { RegistryAuthError, RegistryNotFoundError, registryFailed, registryTimeout, registryUnreachable } from './errors.js';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Without this Accept, distribution answers 404 for OCI manifests and may convert Docker ones. */
export const MANIFEST_ACCEPT = Object.values(MEDIA_TYPES).join(', ');

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const MAX_TAG_PAGES = 1000;

export interface RegistryClientOptions {
  /** Base URL of the registry, e.g. https://registry.example.com:5000 */
  url: string;
  insecure?: boolean | undefined;
  credential?: RegistryCredential | undefined;
  timeoutMs?: number;
  pageSize?: number;
  /** The outbound door's fetch (src/http/outbound.ts): registry URLs are tenant-configured. */
  fetch: Fetch;
}

export interface Resolved {
  digest: string;
  /** The manifest's media type; an index or manifest list keeps its own (index) digest. */
  mediaType: string | null;
}

/** The repository path inside the registry: "127.0.0.1:5000/demo/api" → "demo/api" when the host is the registry's. */
export function repositoryName(imageRepository: string, registryUrl: string): string {
  const host = new URL(registryUrl).host;
  const first = imageRepository.split('/')[0] ?? '';
  if (imageRepository.includes('/') && (first === host || /[.:]/.test(first) || first === 'localhost')) {
    return imageRepository.slice(first.length + 1);
  }
  return imageRepository;
}

export class RegistryClient {
  readonly base: string;
  private readonly fetchImpl: Fetch;
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  private readonly credential: RegistryCredential | undefined;
  /** Authorization header per scope, learned from challenges so later requests skip the 401 round trip. */
  private readonly auth = new Map<string, string>();

  constructor(opts: RegistryClientOptions) {
    const u = new URL(opts.url);
    if (u.protocol === 'http:' && !opts.insecure) {
      throw new RegistryAuthError(`Registry ${u.origin} is plain http://; set "insecure": true in the integration's config to allow it.`);
    }
    this.base = u.origin;
    this.fetchImpl = opts.fetch;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.pageSize = opts.pageSize ?? 1000;
    this.credential = opts.credential;
    if (opts.credential?.kind === 'token') this.auth.set('*', `Bearer ${opts.credential.token}`);
  }

  /** GET /v2/: answers when the registry is up and, if it demands auth, accepts the credentials. */
  async ping(): Promise<void> {
    const res = await this.request('GET', `${this.base}/v2/`, undefined, {});
    await res.body?.cancel();
    if (!res.ok) throw registryFailed(this.base, `GET /v2/ answered HTTP ${res.status}`);
  }

  /** Every tag of a repository, following the Link header's next page. */
  async listTags(name: string): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = `${this.base}/v2/${name}/tags/list?n=${this.pageSize}`;
    for (let page = 0; next && page < MAX_TAG_PAGES; page++) {
      const res = await this.request('GET', next, `repository:${name}:pull`, { accept: 'application/json' });
      if (res.status === 404) throw new RegistryNotFoundError(`Repository ${name} does not exist in registry ${this.base}.`);
      if (!res.ok) throw registryFailed(this.base, `listing the tags of ${name} answered HTTP ${res.status}`);
      const body = (await res.json().catch(() => ({}))) as { tags?: unknown };
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
      next = nextLink(res.headers.get('link'), this.base);
    }
    return tags;
  }

  /** Resolves a tag (or verifies a digest) to the digest the registry serves for it. */
  async resolve(name: string, reference: string): Promise<Resolved> {
    const url = `${this.base}/v2/${name}/manifests/${encodeURIComponent(reference)}`;
    const scope = `repository:${name}:pull`;
    const head = await this.request('HEAD', url, scope, { accept: MANIFEST_ACCEPT });
    if (head.status === 404) throw this.notFound(name, reference);
    const mediaType = head.headers.get('content-type');
    const header = head.headers.get('docker-content-digest');
    if (head.ok && header && DIGEST_RE.test(header)) return this.checked(name, reference, { digest: header, mediaType });
    // Some registries (and proxies) omit the header or refuse HEAD: fetch the manifest and hash its bytes.
    const res = await this.request('GET', url, scope, { accept: MANIFEST_ACCEPT });
    if (res.status === 404) throw this.notFound(name, reference);
    if (!res.ok) throw registryFailed(this.base, `fetching the manifest ${name}:${reference} answered HTTP ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    return this.checked(name, reference, { digest, mediaType: res.headers.get('content-type') ?? mediaType });
  }

  private checked(name: string, reference: string, r: Resolved): Resolved {
    if (reference.startsWith('sha256:') && r.digest !== reference) {
      throw registryFailed(this.base, `it served ${r.digest} for ${name}@${reference}`);
    }
    return r;
  }

  private notFound(name: string, reference: string): RegistryNotFoundError {
    const what = reference.startsWith('sha256:') ? `Digest ${reference}` : `Tag "${reference}"`;
    return new RegistryNotFoundError(`${what} of repository ${name} does not exist in registry ${this.base} (or the repository does not).`);
  }

  /** One request, answering one auth challenge (basic or bearer) and retrying once. */
  private async request(method: string, url: string, scope: string | undefined, headers: Record<string, string>): Promise<Response> {
    const key = this.credential?.kind === 'token' ? '*' : (scope ?? '');
    const first = await this.send(method, url, headers, this.auth.get(key));
    if (first.status !== 401 && first.status !== 403) return first;
    if (first.status === 403) throw this.denied(url, 403);
    await first.body?.cancel();
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    const header = await this.answer(challenge, scope, this.auth.has(key));
    this.auth.set(key, header);
    const second = await this.send(method, url, headers, header);
    if (second.status === 401 || second.status === 403) {
      await second.body?.cancel();
      throw this.denied(url, second.status);
    }
    return second;
  }

  private async answer(challenge: Challenge | undefined, scope: string | undefined, alreadySent: boolean): Promise<string> {
    if (alreadySent || this.credential?.kind === 'token') throw this.denied(undefined, 401);
    if (challenge?.scheme === 'bearer') {
      const token = await fetchBearerToken(this.fetchImpl, challenge, scope, this.credential, this.base, () => this.signal());
      return `Bearer ${token}`;
    }
    if (this.credential?.kind !== 'basic') {
      throw new RegistryAuthError(
        `Registry ${this.base} requires credentials; set the integration's credentialRef to a "user:password" secret.`,
      );
    }
    return basicHeader(this.credential);
  }

  private denied(url: string | undefined, status: number): RegistryAuthError {
    const path = url ? ` for ${new URL(url).pathname}` : '';
    return new RegistryAuthError(
      `Registry ${this.base} refused ${this.credential ? 'the configured credentials' : 'anonymous access'}${path} (HTTP ${status}); check the integration's credentialRef.`,
    );
  }

  private signal(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs);
  }

  private async send(method: string, url: string, headers: Record<string, string>, authorization: string | undefined): Promise<Response> {
    try {
      return await this.fetchImpl(url, {
        method,
        headers: { 'user-agent': 'gantry/0.1.0', ...headers, ...(authorization ? { authorization } : {}) },
        signal: this.signal(),
        redirect: 'follow',
      });
    } catch (err) {
      if (err instanceof OutboundRefusedError) throw err;
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError') throw registryTimeout(this.base, this.timeoutMs);
      throw registryUnreachable(this.base, e.cause?.code ?? e.cause?.message ?? e.message ?? 'connection failed');
    }
  }
}

/** The next page from a `Link: </v2/x/tags/list?last=a&n=2>; rel="next"` header, resolved against the registry. */
export function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m?.[1]) {
      const next = new URL(m[1], base);
      // Never follow a Link to another host: it would receive our credentials.
      return next.origin === new URL(base).origin ? next.toString() : undefined;
    }
  }
  return undefined;
}
