// The address policy of the outbound door (outbound.ts): which IP ranges a tenant's request may not reach
// (loopback, link-local, private, …, and their IPv4-in-IPv6 forms), and the operator's allow list
// (GANTRY_OUTBOUND_ALLOW: hostnames, IPs and CIDRs, each optionally with a port).
import { isIP } from 'node:net';

/** An address as 4 (IPv4) or 16 (IPv6) bytes. */
type Bytes = number[];

interface Range {
  bytes: Bytes;
  prefix: number;
  cidr: string;
  /** Completes "X is a … address". */
  label: string;
}

export type AllowRule =
  | { kind: 'cidr'; bytes: Bytes; prefix: number; port: number | undefined; text: string }
  | { kind: 'host'; name: string; port: number | undefined; text: string };

export const ALLOW_SETTING = 'GANTRY_OUTBOUND_ALLOW';

function parseV4(s: string): Bytes | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.map(Number);
}

function parseV6(input: string): Bytes | undefined {
  let s = input.replace(/%.*$/, ''); // zone id (fe80::1%eth0) does not change the address
  let tail: Bytes = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = v4;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0] ?? '');
  const rest = halves.length === 2 ? groups(halves[1] ?? '') : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...Array<string>(fill).fill('0'), ...rest];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  const bytes = all.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The bytes of an IP literal (brackets allowed), or undefined when it is not one. */
export function ipBytes(s: string): Bytes | undefined {
  const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  const v = isIP(bare.replace(/%.*$/, ''));
  if (v === 4) return parseV4(bare);
  if (v === 6) return parseV6(bare);
  return undefined;
}

function inRange(bytes: Bytes, net: Bytes, prefix: number): boolean {
  if (bytes.length !== net.length) return false;
  for (let bit = 0; bit < prefix; bit++) {
    const i = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if (((bytes[i] ?? 0) & mask) !== ((net[i] ?? 0) & mask)) return false;
  }
  return true;
}

function range(cidr: string, label: string): Range {
  const [net, len] = cidr.split('/') as [string, string];
  return { bytes: ipBytes(net)!, prefix: Number(len), cidr, label };
}

/** Refused by default; the first range that matches names the rule in the refusal. */
const FORBIDDEN: Range[] = [
  range('0.0.0.0/8', '"this network" (unspecified)'),
  range('127.0.0.0/8', 'loopback'),
  range('10.0.0.0/8', 'private'),
  range('172.16.0.0/12', 'private'),
  range('192.168.0.0/16', 'private'),
  range('100.64.0.0/10', 'carrier-grade NAT (shared)'),
  range('169.254.0.0/16', 'link-local (cloud metadata lives here)'),
  range('192.0.0.0/24', 'IETF-reserved'),
  range('198.18.0.0/15', 'benchmarking (reserved)'),
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved'),
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local (private)'),
  range('fc00::/7', 'unique-local (private)'),
  range('ff00::/8', 'multicast'),
];

/** IPv6 forms that carry an IPv4 address: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64, 6to4. */
function embeddedV4(b: Bytes): { v4: Bytes; form: string } | undefined {
  if (b.length !== 16) return undefined;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return { v4: b.slice(12), form: 'IPv4-mapped' };
  if (zero(0, 12) && !zero(12, 15)) return { v4: b.slice(12), form: 'IPv4-compatible' };
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return { v4: b.slice(12), form: 'NAT64' };
  if (b[0] === 0x20 && b[1] === 0x02) return { v4: b.slice(2, 6), form: '6to4' };
  return undefined;
}

const v4Text = (b: Bytes) => b.join('.');

/** Why an address is refused by default ("127.0.0.1 is a loopback address (127.0.0.0/8)"), or undefined when it is public. */
export function forbiddenReason(address: string): string | undefined {
  const bytes = ipBytes(address);
  if (!bytes) return `${address} is not an IP address`;
  const embedded = embeddedV4(bytes);
  const inner = embedded ? FORBIDDEN.find((f) => inRange(embedded.v4, f.bytes, f.prefix)) : undefined;
  if (embedded && inner)
    return `${address} is the ${embedded.form} form of ${v4Text(embedded.v4)}, a ${inner.label} address (${inner.cidr})`;
  const r = FORBIDDEN.find((f) => inRange(bytes, f.bytes, f.prefix));
  return r ? `${address} is a ${r.label} address (${r.cidr})` : undefined;
}

function parsePort(s: string, entry: string): number {
  const n = Number(s);
  if (!/^\d{1,5}$/.test(s) || n < 1 || n > 65535) throw new Error(`${ALLOW_SETTING}: "${entry}" has port "${s}", not 1-65535.`);
  return n;
}

function parseEntry(entry: string): AllowRule {
  let hostPart = entry;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
  if (bracket) {
    hostPart = bracket[1]!;
    if (bracket[2] !== undefined) port = parsePort(bracket[2], entry);
  } else if ((entry.match(/:/g) ?? []).length === 1) {
    const i = entry.indexOf(':');
    hostPart = entry.slice(0, i);
    port = parsePort(entry.slice(i + 1), entry);
  }
  const [addr, len, extra] = hostPart.split('/');
  const bytes = ipBytes(addr ?? '');
  if (bytes) {
    const max = bytes.length * 8;
    const prefix = len === undefined ? max : Number(len);
    if (extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (len !== undefined && !/^\d+$/.test(len))) {
      throw new Error(`${ALLOW_SETTING}: "${entry}" has a bad prefix length; use e.g. 10.0.0.0/8 or fd00::/8.`);
    }
    return { kind: 'cidr', bytes, prefix, port, text: entry };
  }
  const name = hostPart.toLowerCase().replace(/\.$/, '');
  if (len !== undefined || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) {
    throw new Error(`${ALLOW_SETTING}: "${entry}" is not a hostname, IP address or CIDR (optionally with :port).`);
  }
  return { kind: 'host', name, port, text: entry };
}

/** Parses the allow list (entries as split from the comma-separated setting); throws naming the bad entry. */
export function parseAllowList(entries: readonly string[]): AllowRule[] {
  return entries
    .map((e) => e.trim())
    .filter(Boolean)
    .map(parseEntry);
}

/** Unmaps ::ffff:a.b.c.d so an IPv4 rule covers the mapped form of its addresses too. */
function normalised(bytes: Bytes): Bytes {
  const e = embeddedV4(bytes);
  return e?.form === 'IPv4-mapped' ? e.v4 : bytes;
}

export function hostAllowed(rules: readonly AllowRule[], hostname: string, port: number): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return rules.some((r) => r.kind === 'host' && r.name === name && (r.port === undefined || r.port === port));
}

export function addressAllowed(rules: readonly AllowRule[], address: string, port: number): boolean {
  const bytes = ipBytes(address);
  if (!bytes) return false;
  const n = normalised(bytes);
  return rules.some((r) => r.kind === 'cidr' && (r.port === undefined || r.port === port) && inRange(n, r.bytes, r.prefix));
}

/** The port a URL connects to. */
export function urlPort(u: URL): number {
  return u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
}

/** The hostname of a URL without IPv6 brackets. */
export function bareHost(u: URL): string {
  return u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
}
