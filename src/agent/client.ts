// The agent's HTTP client: JSON with the agent credential; problem documents become AgentHttpErrors.
// It may know several server URLs (replicas, comma-separated): when one cannot be reached, the next request
// goes to the next one, so retried requests (reports above all) reach any replica that is up.
// Requests go through node:http(s) with keep-alive connections and the TLS options (a CA to trust, a client
// certificate for mutual TLS) — not the global fetch, which costs an idle agent ~20 MB more resident memory.
// With HTTPS_PROXY / HTTP_PROXY set (or their lower-case forms) requests go through fetch with undici's proxy
// agent and tunnel through that proxy with HTTP CONNECT, except to hosts NO_PROXY names; TLS to the server
// (and its client certificate) runs inside the tunnel.
import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent, IncomingMessage, RequestOptions } from 'node:http';
import { createSecureContext, rootCertificates } from 'node:tls';

export class AgentHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** PEM files for the agent's TLS: a CA bundle to trust besides the usual roots, and a client certificate and key. */
export interface AgentTlsFiles {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

export interface AgentTls {
  ca?: string[];
  cert?: string;
  key?: string;
}

/** Reads the TLS files up front, so a wrong path fails at start naming the file; a certificate needs its key. */
export function loadAgentTls(files: AgentTlsFiles): AgentTls | undefined {
  if (Boolean(files.certFile) !== Boolean(files.keyFile)) {
    throw new Error('mutual TLS needs both --cert and --key (env GANTRY_AGENT_CERT_FILE, GANTRY_AGENT_KEY_FILE)');
  }
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const tls: AgentTls = {};
  if (files.caFile) tls.ca = [...rootCertificates, read(files.caFile, 'CA bundle (--ca, GANTRY_CA_FILE)')];
  if (files.certFile && files.keyFile) {
    tls.cert = read(files.certFile, 'client certificate (--cert, GANTRY_AGENT_CERT_FILE)');
    tls.key = read(files.keyFile, 'client key (--key, GANTRY_AGENT_KEY_FILE)');
    try {
      createSecureContext({ cert: tls.cert, key: tls.key });
    } catch (err) {
      throw new Error(
        `the client certificate ${files.certFile} and key ${files.keyFile} are not a usable PEM pair: ${(err as Error).message}`,
      );
    }
  }
  return Object.keys(tls).length ? tls : undefined;
}

/** The server URLs of a --server value: one URL, or several separated by commas (replicas of one Gantry). */
export function serverList(server: string): string[] {
  const urls = server
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new Error('--server names no URL');
  return urls;
}

/** The proxy settings of the environment (lower-case forms first, as curl and undici read them); undefined when no proxy is set. */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): { https?: string; http?: string; noProxy?: string } | undefined {
  const pick = (name: string) => env[name.toLowerCase()] || env[name] || undefined;
  const https = pick('HTTPS_PROXY');
  const http = pick('HTTP_PROXY');
  if (!https && !http) return undefined;
  const noProxy = pick('NO_PROXY');
  return { ...(https ? { https } : {}), ...(http ? { http } : {}), ...(noProxy ? { noProxy } : {}) };
}

/** A proxy URL fit for a log line: a password in it is replaced by "***". */
export function redactProxy(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable proxy URL)';
  }
}

/** No answer from the server: refused, reset, timed out, a TLS failure (the request may succeed later or elsewhere). */
export class ServerUnreachableError extends Error {}

/** An error that says the request may succeed later or elsewhere: no answer, or the server's own failure. */
export function isTransient(err: unknown): boolean {
  if (err instanceof AgentHttpError) return err.status >= 500 || err.status === 408 || err.status === 429;
  return err instanceof ServerUnreachableError;
}

/** A whole answer: its status and body text. */
interface Answer {
  status: number;
  text: string;
}

/** Thrown by a transport when the connection broke after the answer began (a replica killed, a reset). */
class BrokenAnswer extends Error {}

type Transport = (url: string, init: { headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<Answer>;

/** POSTs through node:http(s), one keep-alive connection pool per scheme (https loaded only when used). */
function nodeTransport(tls: AgentTls | undefined): Transport {
  const agents = new Map<string, Promise<{ request: typeof import('node:http').request; agent: HttpAgent }>>();
  const forScheme = (protocol: string) => {
    let a = agents.get(protocol);
    if (!a) {
      a =
        protocol === 'https:'
          ? import('node:https').then((m) => ({ request: m.request, agent: new m.Agent({ keepAlive: true, ...(tls ?? {}) }) }))
          : import('node:http').then((m) => ({ request: m.request, agent: new m.Agent({ keepAlive: true }) }));
      agents.set(protocol, a);
    }
    return a;
  };
  return async (url, init) => {
    const u = new URL(url);
    const { request, agent } = await forScheme(u.protocol);
    return new Promise<Answer>((resolve, reject) => {
      const opts: RequestOptions = {
        method: 'POST',
        agent,
        signal: init.signal,
        headers: { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) },
      };
      const req = request(u, opts, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new BrokenAnswer(err.message, { cause: err })));
        res.on('aborted', () => reject(new BrokenAnswer('the connection closed mid-answer')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(init.body);
    });
  };
}

/** POSTs through fetch with undici's proxy agent (HTTP CONNECT, NO_PROXY), loaded only when a proxy is set. */
function proxyTransport(proxy: NonNullable<ReturnType<typeof proxyFromEnv>>, tls: AgentTls | undefined): Transport {
  // requestTls: the TLS options of the connection to the server inside the CONNECT tunnel (ProxyAgent
  // ignores `connect` there); connect: the same for hosts NO_PROXY sends directly.
  // unknown: undici 7's agent, which Node 20's fetch accepts though its types name its bundled undici's.
  const dispatcher: Promise<unknown> = import('undici').then(
    ({ EnvHttpProxyAgent }) =>
      new EnvHttpProxyAgent({
        ...(proxy.http ? { httpProxy: proxy.http } : {}),
        ...(proxy.https ? { httpsProxy: proxy.https } : {}),
        noProxy: proxy.noProxy ?? '',
        ...(tls ? { connect: tls, requestTls: tls } : {}),
      }),
  );
  return async (url, init) => {
    let res: Response;
    try {
      // dispatcher: undici's option of Node's fetch (its RequestInit type names another undici's class).
      res = await fetch(url, { method: 'POST', ...init, dispatcher: await dispatcher } as RequestInit);
    } catch (err) {
      // fetch says only "fetch failed"; the cause names what went wrong (ECONNREFUSED, a certificate error…).
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw Object.assign(new Error(cause?.message ?? (err as Error).message, { cause: err }), { code: cause?.code });
    }
    try {
      return { status: res.status, text: await res.text() };
    } catch (err) {
      throw new BrokenAnswer((err as Error).message, { cause: err });
    }
  };
}

export class AgentClient {
  private readonly transport: Transport;
  private readonly servers: string[];
  private current = 0;
  /** The proxy settings in use, for log lines (passwords redacted); undefined without a proxy. */
  readonly proxy: string | undefined;

  constructor(
    server: string,
    private credential: string | undefined,
    tls?: AgentTls,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.servers = serverList(server);
    const proxy = proxyFromEnv(env);
    if (proxy) {
      this.transport = proxyTransport(proxy, tls);
      this.proxy = [
        proxy.https && `HTTPS_PROXY ${redactProxy(proxy.https)}`,
        proxy.http && `HTTP_PROXY ${redactProxy(proxy.http)}`,
        proxy.noProxy && `NO_PROXY ${proxy.noProxy}`,
      ]
        .filter(Boolean)
        .join(', ');
    } else {
      this.transport = nodeTransport(tls);
      this.proxy = undefined;
    }
  }

  get serverCount(): number {
    return this.servers.length;
  }

  /** The server URL the next request goes to. */
  get server(): string {
    return this.servers[this.current]!;
  }

  setCredential(c: string): void {
    this.credential = c;
  }

  /** POSTs JSON; `signal` ends the request early (a long poll when the agent stops). */
  async post<T>(apiPath: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<T> {
    const url = `${this.server.replace(/\/$/, '')}/api/v1${apiPath}`;
    const init = {
      headers: {
        'content-type': 'application/json',
        'user-agent': 'gantry-agent/0.1.0',
        ...(this.credential ? { authorization: `Bearer ${this.credential}` } : {}),
        ...headers,
      },
      body: JSON.stringify(body ?? {}),
      signal: signal ? AbortSignal.any([AbortSignal.timeout(30_000), signal]) : AbortSignal.timeout(30_000),
    };
    let res: Answer;
    try {
      res = await this.transport(url, init);
    } catch (err) {
      const server = this.server;
      this.current = (this.current + 1) % this.servers.length; // the next request tries the next replica
      if (err instanceof BrokenAnswer) {
        throw new ServerUnreachableError(`the Gantry server at ${server} broke off its answer (${err.message})`, { cause: err });
      }
      // The error's code names what went wrong (ECONNREFUSED, a certificate error…); a timeout aborts.
      const e = err as { code?: string; message?: string; name?: string; cause?: { name?: string } };
      const why = e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError' ? 'no answer within 30 s' : (e.code ?? e.message);
      throw new ServerUnreachableError(`cannot reach the Gantry server at ${server}${this.proxy ? ` via ${this.proxy}` : ''} (${why})`, {
        cause: err,
      });
    }
    if (res.status >= 502 && res.status <= 504) this.current = (this.current + 1) % this.servers.length; // a proxy with no replica behind it
    const text = res.text;
    // any: JSON of the protocol's answers, typed by the caller's T
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.status < 200 || res.status > 299)
      throw new AgentHttpError(res.status, parsed?.code ?? `http_${res.status}`, parsed?.detail ?? `HTTP ${res.status} from ${apiPath}`);
    return parsed as T;
  }
}
