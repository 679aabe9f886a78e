// The HAProxy configuration of a route's split (pure): the file holds only Gantry's backend for the
// route, loaded beside the operator's own configuration (`haproxy -f haproxy.cfg -f gantry-web.cfg`),
// whose frontend sends the route's traffic to it (`default_backend gantry_web` or `use_backend`). Global
// settings, the runtime socket (`stats socket … level admin`), stats and frontends stay the operator's.
//
// One server per variation server, named `<variation>_<n>`, its weight the variation's percent × 2 spread
// over the variation's servers (HAProxy weights go to 256; ×2 keeps the split exact when a variation has
// an odd number of servers). A variation at 0 % has its servers `disabled` (maintenance): with weight 0
// alone HAProxy would still send them the clients whose sticky cookie names them. For sticky sessions,
// `cookie <name> insert indirect nocache` with each server's own name as its cookie value (a value shared
// by several servers would send every sticky client of the variation to its first server). The header
// split uses a second, never-weighted copy of the header variation's servers (`hdr_<variation>_<n>`,
// weight 0, never disabled): `use-server` picks one of them at random for marked requests, whatever the
// weights, and `ignore-persist` lets a marked request's header win over its cookie.
import type { TrafficSplit, TrafficVariation } from '../../protocol/traffic.js';
import { spreadWeight } from './support.js';
import { TrafficRouterError } from './types.js';

/** HAProxy weight units per percent of a variation (a whole variation at 100 % is 200 of 256). */
export const WEIGHT_PER_PERCENT = 2;

export interface HaproxyServer {
  name: string;
  variation: string;
  address: string;
  weight: number;
  /** Maintenance: the variation has no weight, its sticky clients move. */
  disabled: boolean;
}

export function haproxyBackendName(route: string): string {
  return `gantry_${route}`;
}

/** The weighted servers of a split, in the order they are rendered (header copies excluded). */
export function haproxyServers(split: TrafficSplit): HaproxyServer[] {
  return split.variations.flatMap((v) => {
    const weights = spreadWeight(v.weight * WEIGHT_PER_PERCENT, v.servers.length);
    return v.servers.map((s, i) => ({
      name: `${v.name}_${i}`,
      variation: v.name,
      address: address(s),
      weight: weights[i]!,
      disabled: v.weight === 0,
    }));
  });
}

const address = (s: { host: string; port: number }) => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

/** A double-quoted HAProxy argument: the header value is the operator's text, not configuration. */
export function haproxyQuote(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new TrafficRouterError('the header value holds a control character (a line break?): HAProxy cannot match it; use printable text');
  }
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** The first line of the file: the split it renders, for shift() and distribution() to compare and name servers. */
const MARK = '# gantry-split ';

export function renderHaproxy(route: string, backend: string, split: TrafficSplit): string {
  const lines = [
    MARK + JSON.stringify(split),
    `# Gantry's traffic split for route ${route}: rendered by the agent, weights kept up to date with each shift.`,
    `backend ${backend}`,
    '  mode http',
    '  balance roundrobin',
    '  option redispatch',
  ];
  const header = split.header;
  const marked = header ? `{ req.hdr(${header.name}) -m str ${haproxyQuote(header.value)} }` : '';
  if (split.sticky) lines.push(`  cookie ${split.sticky.cookie} insert indirect nocache`);
  if (header) {
    const v = split.variations.find((x) => x.name === header.variation) as TrafficVariation;
    if (split.sticky) lines.push(`  ignore-persist if ${marked}`);
    // rule i matches 1 in (n - i) of the requests left by the rules before it: each server gets 1 in n
    v.servers.forEach((_, i) => {
      const left = v.servers.length - i;
      lines.push(`  use-server hdr_${v.name}_${i} if ${marked}${left > 1 ? ` { rand(${left}) -m int 0 }` : ''}`);
    });
  }
  for (const s of haproxyServers(split)) {
    lines.push(
      `  server ${s.name} ${s.address} weight ${s.weight}${split.sticky ? ` cookie ${s.name}` : ''}${s.disabled ? ' disabled' : ''}`,
    );
  }
  if (header) {
    const v = split.variations.find((x) => x.name === header.variation) as TrafficVariation;
    v.servers.forEach((s, i) => {
      lines.push(`  server hdr_${v.name}_${i} ${address(s)} weight 0`);
    });
  }
  return `${lines.join('\n')}\n`;
}

/** The split a file rendered by renderHaproxy was rendered for (null: not such a file). */
export function renderedSplit(content: string): TrafficSplit | null {
  const first = content.split('\n', 1)[0] ?? '';
  if (!first.startsWith(MARK)) return null;
  try {
    return JSON.parse(first.slice(MARK.length)) as TrafficSplit;
  } catch {
    return null;
  }
}
