// HTTP client for the Gantry API: bearer auth, JSON bodies, cursor pagination, and problem documents
// (RFC 9457) turned into CliErrors with stable exit codes.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Connection } from './config.js';
import { CliError, EXIT } from './output.js';

const USER_AGENT = 'gantry-cli/0.1.0';
const TIMEOUT_MS = 60_000;

export function exitCodeForStatus(status: number): number {
  if (status === 400 || status === 413 || status === 415 || status === 422) return EXIT.invalid;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status >= 500) return EXIT.unavailable;
  return EXIT.other;
}

interface ProblemField {
  path: string;
  message: string;
}

/** A non-2xx answer from the API. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly fields: ProblemField[],
    details: string[],
  ) {
    super(detail, exitCodeForStatus(status), details);
  }
}

const START_HINT =
  'start one with `npm start` (in a Gantry checkout) or `gantry server`, or point the CLI at another one with --server, GANTRY_SERVER or `gantry login`';

/** Builds the error for a failed response; exported so the mapping is unit-testable without a server. */
export function apiErrorOf(status: number, statusText: string, body: unknown, conn: Connection, url: string, requestId?: string | null) {
  const p = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const detail = typeof p.detail === 'string' && p.detail ? p.detail : `HTTP ${status} ${statusText} from ${url}`;
  const code = typeof p.code === 'string' ? p.code : `http_${status}`;
  const fields = Array.isArray(p.errors)
    ? p.errors
        .filter((e): e is ProblemField => typeof e === 'object' && e !== null && typeof (e as ProblemField).path === 'string')
        .map((e) => ({ path: e.path, message: String(e.message ?? 'invalid') }))
    : [];
  const details = fields.map((f) => `${f.path}: ${f.message}`);
  if (status === 401) details.push(`token: ${conn.tokenSource}; server: ${conn.server}`);
  if (status >= 500) {
    details.push(`the server at ${conn.server} failed${requestId ? ` (request id ${requestId}; its log has the details)` : ''}`);
  }
  return new ApiError(status, code, detail, fields, details);
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
}

/** What the client reads of an answer (a fetch Response has it too, which tests use). */
export interface HttpAnswer {
  status: number;
  statusText: string;
  ok: boolean;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export type FetchLike = (input: string, init: HttpRequest) => Promise<HttpAnswer>;

export interface ClientOptions {
  /**
   * The Idempotency-Key of this process's first POST (--idempotency-key); later POSTs of the same command
   * get "<key>.2", "<key>.3"…, so running the same command again with the same key repeats nothing.
   * Without it every POST gets a new random key.
   */
  idempotencyKey?: string | undefined;
  /** Pauses before each retry of a POST (default 0.5 s, 1 s, 2 s). */
  retryDelaysMs?: number[];
}

/** Answers after which a POST is retried with the same key: the server may not have done (or answered) it. */
function retryable(status: number, body: unknown): boolean {
  if (status === 502 || status === 503 || status === 504) return true;
  return status === 409 && (body as { code?: unknown } | undefined)?.code === 'idempotency_key_in_use';
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export class ApiClient {
  private posts = 0;

  constructor(
    readonly conn: Connection,
    private readonly fetchImpl: FetchLike = fetchFor(conn),
    private readonly opts: ClientOptions = {},
  ) {}

  private nextKey(): string {
    this.posts++;
    const given = this.opts.idempotencyKey;
    if (!given) return randomUUID();
    return this.posts === 1 ? given : `${given}.${this.posts}`;
  }

  async request<T>(method: string, apiPath: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(`${this.conn.server}/api/v1${apiPath}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', 'user-agent': USER_AGENT };
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    // A POST carries an Idempotency-Key, so retrying it after a lost connection or a 502/503/504 cannot do
    // the work twice: the server answers a repeat with the first answer.
    const post = method === 'POST';
    if (post) headers['idempotency-key'] = this.nextKey();
    const delays = post ? (this.opts.retryDelaysMs ?? [500, 1000, 2000]) : [];
    let res: HttpAnswer;
    let text: string;
    let body: unknown;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= delays.length;
      try {
        res = await this.fetchImpl(url.toString(), {
          method,
          headers,
          ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
      } catch (err) {
        const e = err as { code?: string; cause?: { code?: string } };
        const code = e.cause?.code ?? e.code;
        if (last || (code && TLS_VERIFY_CODES.has(code))) throw unreachable(this.conn, err);
        await new Promise((r) => setTimeout(r, delays[attempt]));
        continue;
      }
      text = await res.text();
      body = undefined;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
      }
      if (last || !retryable(res.status, body)) break;
      await new Promise((r) => setTimeout(r, delays[attempt]));
    }
    if (!res.ok) throw apiErrorOf(res.status, res.statusText, body, this.conn, url.toString(), res.headers.get('x-request-id'));
    if (text && body === undefined) {
      throw new CliError(`${url} answered with something other than JSON; is ${this.conn.server} a Gantry server?`, EXIT.unavailable);
    }
    return body as T;
  }

  get<T>(apiPath: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', apiPath, query ? { query } : {});
  }
  post<T>(apiPath: string, body: unknown): Promise<T> {
    return this.request<T>('POST', apiPath, { body });
  }
  patch<T>(apiPath: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', apiPath, { body });
  }
  delete<T = void>(apiPath: string): Promise<T> {
    return this.request<T>('DELETE', apiPath);
  }

  /** Fetches every page of a list, following nextCursor, so `list` commands never truncate silently. */
  async listAll<T>(apiPath: string, query: RequestOptions['query'] = {}): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.get<Page<T>>(apiPath, { ...query, limit: 500, cursor });
      items.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return items;
  }
}

/**
 * Requests through node:http(s) — not the global fetch, whose first request compiles its HTTP parser and
 * whose process lingers ~0.1 s after the answer, the bulk of a short command's time. With GANTRY_CA_FILE
 * TLS connections also trust that CA bundle; the file is read up front, so a bad path fails clearly.
 */
export function fetchFor(conn: Connection): FetchLike {
  let ca: string[] | undefined;
  if (conn.caFile) {
    try {
      ca = [...rootCertificates, readFileSync(conn.caFile, 'utf8')];
    } catch (err) {
      throw new CliError(
        `cannot read the CA bundle ${conn.caFile} (GANTRY_CA_FILE): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        EXIT.invalid,
      );
    }
  }
  return async (input, init) => {
    const url = new URL(input);
    const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    return new Promise<HttpAnswer>((resolve, reject) => {
      const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
      const req = request(url, { method: init.method, headers, signal: init.signal, ...(ca ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status,
            statusText: res.statusMessage ?? '',
            ok: status >= 200 && status < 300,
            headers: {
              get: (name) => {
                const v = res.headers[name.toLowerCase()];
                return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
              },
            },
            text: async () => text,
          });
        });
      });
      req.on('error', reject);
      req.end(init.body);
    });
  };
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Path segment for an id-or-name reference. */
export function ref(value: string): string {
  return encodeURIComponent(value);
}

function unreachable(conn: Connection, err: unknown): CliError {
  // node:http puts the code on the error; fetch (tests) on its cause. A timeout aborts with a TimeoutError.
  const e = err as { name?: string; code?: string; message?: string; cause?: { name?: string; code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  const why =
    e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError'
      ? `no answer within ${TIMEOUT_MS / 1000} s`
      : (code ?? e.cause?.message ?? e.message ?? 'connection failed');
  if (code && TLS_VERIFY_CODES.has(code)) {
    return new CliError(`cannot verify the TLS certificate of the Gantry server at ${conn.server} (${code})`, EXIT.unavailable, [
      conn.caFile
        ? `the CA bundle ${conn.caFile} (GANTRY_CA_FILE) did not verify it; check it is the CA that signed the server certificate and that the certificate names this host`
        : 'if the server uses a private CA, point GANTRY_CA_FILE at the CA certificate (PEM)',
      `server from: ${conn.serverSource}`,
    ]);
  }
  return new CliError(`cannot reach the Gantry server at ${conn.server} (${why})`, EXIT.unavailable, [
    `server from: ${conn.serverSource}`,
    START_HINT,
  ]);
}
