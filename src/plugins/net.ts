// host.fetch: the only network a plugin has. The plugin process has none (sandbox.ts); it asks the server,
// which makes the request here, under the server's outbound rules, and hands back the answer. One function,
// send(), does the request, so the server's outbound door replaces it in one line.
import { isIP } from 'node:net';
import { clip, type HostFetchCall, type HostFetchResult } from './rpc.js';

/** A host.fetch the server will not make; the message says why and what to do. */
export class PluginFetchRefused extends Error {}

const MAX_RESPONSE_BYTES = 5 * 1024 * 1024;
const MAX_REQUEST_BYTES = 5 * 1024 * 1024;
const TIMEOUT_MS = 30_000;
/** Headers a plugin may not set: the transport's own, and ones that would claim to be someone else. */
const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'upgrade', 'keep-alive', 'te', 'trailer']);

function v4Internal(ip: string): string | undefined {
  const [a = 0, b = 0] = ip.split('.').map(Number);
  if (a === 127) return 'loopback';
  if (a === 0) return 'unspecified';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 100 && b >= 64 && b <= 127) return 'shared (carrier-grade NAT)';
  if (a >= 224) return 'multicast or reserved';
  return undefined;
}

function v6Internal(ip: string): string | undefined {
  const s = ip.toLowerCase();
  if (s === '::1') return 'loopback';
  if (s === '::') return 'unspecified';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (mapped?.[1]) return v4Internal(mapped[1]);
  // The URL parser writes an IPv4-mapped address in hex (::ffff:7f00:1).
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(s);
  if (hex?.[1] && hex[2]) {
    const [hi, lo] = [Number.parseInt(hex[1], 16), Number.parseInt(hex[2], 16)];
    return v4Internal(`${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`);
  }
  if (/^fe[89ab]/.test(s)) return 'link-local';
  if (/^f[cd]/.test(s)) return 'unique-local';
  if (s.startsWith('ff')) return 'multicast';
  return undefined;
}

/** Hosts and host:port pairs the operator allows although they are internal (GANTRY_OUTBOUND_ALLOW, comma-separated). */
function allowed(url: URL, env: NodeJS.ProcessEnv): boolean {
  const entries = (env.GANTRY_OUTBOUND_ALLOW ?? '')
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return entries.includes(host) || entries.includes(`${host}:${port}`);
}

/**
 * Refuses what a plugin may not reach by name or literal address: loopback, link-local (cloud metadata),
 * private and unique-local addresses and localhost, unless the operator allows that host. Names that
 * resolve to such addresses are the outbound door's job (it checks the connected address).
 */
export function refuseInternal(url: URL, env: NodeJS.ProcessEnv = process.env): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PluginFetchRefused(`host.fetch refused ${url.protocol} URL: only http: and https: are fetched`);
  }
  if (allowed(url, env)) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const kind =
    host === 'localhost' || host.endsWith('.localhost')
      ? 'loopback'
      : isIP(host) === 4
        ? v4Internal(host)
        : isIP(host) === 6
          ? v6Internal(host)
          : undefined;
  if (kind) {
    throw new PluginFetchRefused(
      `host.fetch refused ${url.host}: it is a ${kind} address, which plugins may not reach; an operator allows it with GANTRY_OUTBOUND_ALLOW=${url.host}`,
    );
  }
}

/** The one request. Redirects are not followed: a redirect could lead to an address the check refuses. */
async function send(url: URL, init: RequestInit): Promise<Response> {
  refuseInternal(url);
  return fetch(url, { ...init, redirect: 'manual' });
}

async function readBounded(res: Response): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      throw new PluginFetchRefused(`host.fetch: the response is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** Serves one host.fetch of a plugin: checks the request, makes it, and returns the answer (body as base64). */
export async function pluginFetch(call: HostFetchCall): Promise<HostFetchResult> {
  let url: URL;
  try {
    url = new URL(call.url);
  } catch {
    throw new PluginFetchRefused(`host.fetch: "${clip(String(call.url), 200)}" is not an absolute URL`);
  }
  const method = (call.method ?? 'GET').toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(method)) throw new PluginFetchRefused(`host.fetch: "${clip(method, 40)}" is not an HTTP method`);
  const headers = new Headers();
  for (const [k, v] of Object.entries(call.headers ?? {})) {
    if (HOP_HEADERS.has(k.toLowerCase())) continue;
    headers.set(k, String(v));
  }
  const body = call.body === undefined ? undefined : Buffer.from(call.body, 'base64');
  if (body && body.length > MAX_REQUEST_BYTES)
    throw new PluginFetchRefused(`host.fetch: the request body is larger than ${MAX_REQUEST_BYTES} bytes`);
  const res = await send(url, {
    method,
    headers,
    ...(body && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const bytes = await readBounded(res);
  return { status: res.status, statusText: res.statusText, headers: Object.fromEntries(res.headers), body: bytes.toString('base64') };
}
