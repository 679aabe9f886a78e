// The one door for requests the server makes on a tenant's behalf (integrations, gates, notifications,
// http_call steps, registry sync, Vault): the address actually connected to is checked against the
// policy in outbound-policy.ts (so DNS rebinding and redirects cannot slip past a check made earlier),
// redirects are followed here hop by hop, and each answer is bounded in size and time.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Agent } from 'undici';
import { GantryError, type ProblemField } from '../core/errors.js';
import {
  ALLOW_SETTING,
  type AllowRule,
  addressAllowed,
  bareHost,
  forbiddenReason,
  hostAllowed,
  parseAllowList,
  urlPort,
} from './outbound-policy.js';

/** A request refused by the outbound policy; the message names the rule and the setting that allows it. */
export class OutboundRefusedError extends GantryError {
  constructor(message: string, fields?: ProblemField[]) {
    super('outbound_refused', 422, message, fields);
  }
}

/** An answer larger than the caller's bound; the rest was not read. */
export class OutboundTooLargeError extends GantryError {
  constructor(message: string) {
    super('outbound_response_too_large', 502, message);
  }
}

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export interface OutboundOptions {
  /** GANTRY_OUTBOUND_ALLOW entries: hostnames, IPs or CIDRs, each optionally with :port. Default: none. */
  allow?: readonly string[];
  /** DNS resolution (tests inject one to simulate rebinding); default: the system resolver. */
  resolve?: Resolver;
  /** Called just before a socket is opened, with the address it will connect to (tests assert on it). */
  onConnect?: (target: { hostname: string; address: string; port: number }) => void;
  connectTimeoutMs?: number;
  /** A CA (PEM) trusted besides the system roots, for HTTPS services with a private CA. */
  ca?: string | Buffer;
}

export interface OutboundInit extends RequestInit {
  /** Bytes of the answer's body the caller may read (default 1 MiB); reading past it fails. */
  maxBytes?: number;
  /** The whole exchange, redirects and body included (default 30 s). */
  timeoutMs?: number;
  /** Redirects followed, each re-checked (default 5). */
  maxRedirects?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 204, 205, 304]);

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

function howToAllow(what: string): string {
  return `if it is meant to be reached, an operator can allow it with ${ALLOW_SETTING}=${what} (comma-separated hostnames, IPs or CIDRs, each optionally with :port; restart the server).`;
}

function suggestion(hostname: string, port: number): string {
  return isIP(hostname) === 6 ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

export class Outbound {
  readonly rules: readonly AllowRule[];
  private readonly resolve: Resolver;
  private readonly onConnect: OutboundOptions['onConnect'];
  private readonly connectTimeoutMs: number;
  private readonly ca: string | Buffer | undefined;
  private agent: Promise<Agent> | undefined;

  constructor(opts: OutboundOptions = {}) {
    this.rules = parseAllowList(opts.allow ?? []);
    this.resolve = opts.resolve ?? systemResolver;
    this.onConnect = opts.onConnect;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.ca = opts.ca;
  }

  /** The connection pool behind the door; undici is loaded on the first request rather than at start. */
  private dispatcher(): Promise<Agent> {
    this.agent ??= import('undici').then((undici) => this.createAgent(undici));
    return this.agent;
  }

  private createAgent({ Agent, buildConnector }: typeof import('undici')): Agent {
    const base = buildConnector({
      timeout: this.connectTimeoutMs,
      ...(this.ca ? { ca: [...rootCertificates, this.ca.toString()] } : {}),
    });
    return new Agent({
      connect: (o, cb) => {
        const port = Number(o.port) || (o.protocol === 'https:' ? 443 : 80);
        this.address(o.hostname, port).then(
          (address) => {
            this.onConnect?.({ hostname: o.hostname, address, port });
            // The connector connects to the checked address; TLS still verifies the name (servername from host).
            base({ ...o, hostname: address }, cb);
          },
          (err: Error) => cb(err, null),
        );
      },
    });
  }

  /**
   * The address to connect to for hostname:port: an IP literal as is, a name through the resolver. Every
   * candidate is checked; the first permitted one is used, and none permitted is a refusal naming the first.
   */
  private async address(hostname: string, port: number): Promise<string> {
    if (isIP(hostname)) {
      this.check(hostname, hostname, port);
      return hostname;
    }
    const answers = await this.resolve(hostname);
    if (answers.length === 0) throw new Error(`${hostname} has no address`);
    if (hostAllowed(this.rules, hostname, port)) return answers[0]!.address;
    let first: unknown;
    for (const a of answers) {
      try {
        this.check(hostname, a.address, port);
        return a.address;
      } catch (err) {
        first ??= err;
      }
    }
    throw first;
  }

  /** Throws OutboundRefusedError when address (for hostname:port) is in a forbidden range and not allowed. */
  private check(hostname: string, address: string, port: number): void {
    if (addressAllowed(this.rules, address, port)) return;
    const reason = forbiddenReason(address);
    if (!reason) return;
    const subject = hostname === address ? '' : `${hostname} resolves to ${address}; `;
    throw new OutboundRefusedError(
      `Refused to connect to ${suggestion(hostname, port)}: ${subject}${reason}, which requests made for a tenant may not reach; ` +
        howToAllow(suggestion(hostname, port)),
    );
  }

  /**
   * Refuses, when a URL is stored, what is forbidden by its literal alone (an IP in a forbidden range,
   * localhost); names resolve only at connect time, where the real check is. `path` names the field.
   */
  checkUrl(url: string, path: string): void {
    if (!URL.canParse(url)) return; // the field's own schema reports an unparsable URL
    const u = new URL(url);
    const host = bareHost(u);
    const port = urlPort(u);
    let reason: string | undefined;
    // Other schemes are the field's own schema to refuse (400), and the door refuses them when fetching.
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return;
    if (isIP(host)) reason = addressAllowed(this.rules, host, port) ? undefined : forbiddenReason(host);
    else if (/(^|\.)localhost\.?$/i.test(host) && !hostAllowed(this.rules, host, port)) reason = `${host} names this server (loopback)`;
    if (!reason) return;
    throw new OutboundRefusedError(
      `${path}: ${reason}; Gantry will not send requests for a tenant there; ${howToAllow(suggestion(host, port))}`,
      [{ path, message: reason }],
    );
  }

  /**
   * fetch through the door. Redirects are followed here (each hop connects through the checked connector;
   * Authorization and cookies are dropped when the origin changes); the answer's body is bounded by maxBytes
   * and the whole exchange by timeoutMs. A refusal rejects with OutboundRefusedError, never a generic error.
   */
  readonly fetch = async (input: string | URL, init: OutboundInit = {}): Promise<Response> => {
    const { maxBytes = DEFAULT_MAX_BYTES, timeoutMs = DEFAULT_TIMEOUT_MS, maxRedirects = DEFAULT_REDIRECTS, ...rest } = init;
    // Before the clock starts: loading undici (first request only) is not part of the exchange's time.
    const dispatcher = await this.dispatcher();
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(rest.signal ? [rest.signal] : [])]);
    let url = new URL(input);
    let method = (rest.method ?? 'GET').toUpperCase();
    let body = rest.body;
    const headers = new Headers(rest.headers);
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new OutboundRefusedError(`Refused to fetch a ${url.protocol} URL: only http:// and https:// leave the server.`);
      }
      if (url.username || url.password) {
        // fetch would refuse too, quoting the URL with its password in the error.
        throw new OutboundRefusedError(
          `Refused to send a request to ${url.host} with user:password in its URL; reference the secret with a credentialRef instead.`,
        );
      }
      let res: Response;
      try {
        res = await fetch(url, {
          ...rest,
          method,
          headers,
          body: body ?? null,
          redirect: 'manual',
          signal,
          // dispatcher: undici's option of Node's fetch; RequestInit's type names another undici's class.
          ...({ dispatcher } as object),
        });
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        if (cause instanceof OutboundRefusedError) throw cause;
        throw err;
      }
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || !location || rest.redirect === 'manual') return bounded(res, maxBytes, url, signal);
      await res.body?.cancel().catch(() => {});
      if (hop >= maxRedirects)
        throw new OutboundRefusedError(`${url.origin} redirected more than ${maxRedirects} times; not followed further.`);
      const next = new URL(location, url);
      if (next.origin !== url.origin) {
        for (const h of ['authorization', 'cookie', 'proxy-authorization']) headers.delete(h);
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
        headers.delete('content-type');
        headers.delete('content-length');
      }
      url = next;
    }
  };

  async close(): Promise<void> {
    await (await this.agent)?.close();
  }
}

/** The answer with a body that errors (OutboundTooLargeError) once more than max bytes have been read. */
function bounded(res: Response, max: number, url: URL, signal: AbortSignal): Response {
  if (!res.body || NULL_BODY.has(res.status)) return res;
  const tooLarge = () => new OutboundTooLargeError(`${url.origin} answered with more than ${max} bytes; the rest was not read.`);
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  const reader = res.body.getReader();
  if (declared > max) {
    reader.cancel().catch(() => {});
    throw tooLarge();
  }
  let seen = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (signal.aborted) {
        await reader.cancel().catch(() => {});
        ctrl.error(signal.reason);
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        ctrl.close();
        return;
      }
      seen += value.byteLength;
      if (seen > max) {
        await reader.cancel().catch(() => {});
        ctrl.error(tooLarge());
        return;
      }
      ctrl.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** Reads at most `max` bytes of an answer as text and drops the rest; `truncated` says whether there was more. */
export async function readCapped(res: Response, max: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > max) {
      chunks.push(value.subarray(0, max - size));
      size = max;
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated };
}

let denying: Outbound | undefined;

/** The door of a server without an allow list (nothing private, loopback or link-local): for callers given none. */
export function denyingOutbound(): Outbound {
  denying ??= new Outbound();
  return denying;
}
