// Fuzz support: a seeded PRNG, schema-shaped values generated from an operation's JSON Schema (with values of
// the fixtures where a field names one), and the one-field-at-a-time mutations the fuzz test sends.

/** JSON Schema as the OpenAPI document carries it (the subset zod emits). */
export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  uuid(): string {
    const hex = (n: number) => Array.from({ length: n }, () => this.int(0, 15).toString(16)).join('');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-${this.pick(['8', '9', 'a', 'b'])}${hex(3)}-${hex(12)}`;
  }
}

/** Names and ids of real rows, so some requests reach handlers past validation. */
export interface Fixtures {
  /** Field-name hint (e.g. "environment") → values to choose from (names and ids). */
  byName: Record<string, string[]>;
  /** A loopback host:port that answers like a registry and a webhook, the only place fuzzed URLs point to. */
  sink: string;
}

export type Path = (string | number)[];

/** A generated value plus the schema of every node in it, so mutations know what each field should be. */
export interface Shaped {
  value: unknown;
  schemas: Map<string, Schema>;
}

export const key = (p: Path): string => JSON.stringify(p);

const HEX64 = 'ab'.repeat(32);

/** Strings tried, in order, against a pattern or format when no hint applies. */
function candidates(fx: Fixtures, rng: Rng): string[] {
  return [
    `fz-${rng.int(0, 1e6)}`,
    'fuzz',
    'a',
    'v1.0.0',
    '1.0.0',
    'stable',
    'main',
    `sha256:${HEX64}`,
    'abcdef1',
    rng.uuid(),
    new Date(Date.UTC(2026, 0, 1)).toISOString(),
    '2026-01-01',
    `http://${fx.sink}/hook`,
    `${fx.sink}/fuzz/app`,
    `tcp://${fx.sink}`,
    'env:GANTRY_FUZZ_UNSET',
    'FREQ=DAILY',
    'UTC',
    'AAAA',
    'fuzz@example.com',
    'x'.repeat(40),
    '1',
    'A',
  ];
}

/** Values a field's name suggests: the fixtures' rows, or a loopback address for anything that is fetched. */
function hinted(name: string, fx: Fixtures, rng: Rng): string | undefined {
  const n = name.toLowerCase();
  for (const [hint, values] of Object.entries(fx.byName)) {
    if (values.length > 0 && (n === hint.toLowerCase() || n === `${hint.toLowerCase()}id`)) return rng.pick(values);
  }
  if (/url$|^url|endpoint|webhook/.test(n)) return `http://${fx.sink}/hook`;
  if (n === 'dockerhost') return `tcp://${fx.sink}`;
  if (n === 'host' || n === 'hostname') return '127.0.0.1';
  if (/image/.test(n)) return `${fx.sink}/fuzz/app`;
  if (/ref$/.test(n)) return 'env:GANTRY_FUZZ_UNSET';
  if (n === 'name' || n === 'username') return `fz-${rng.int(0, 1e9)}`;
  return undefined;
}

function fits(s: string, sc: Schema): boolean {
  if (sc.minLength !== undefined && s.length < sc.minLength) return false;
  if (sc.maxLength !== undefined && s.length > sc.maxLength) return false;
  if (sc.pattern !== undefined) {
    try {
      if (!new RegExp(sc.pattern, 'u').test(s)) return false;
    } catch {
      return true;
    }
  }
  if (sc.format === 'uuid' && !/^[0-9a-f-]{36}$/i.test(s)) return false;
  if (sc.format === 'date-time' && Number.isNaN(Date.parse(s))) return false;
  if (sc.format === 'uri' && !/^[a-z][a-z0-9+.-]*:/i.test(s)) return false;
  if (sc.format === 'email' && !s.includes('@')) return false;
  return true;
}

function typeOf(sc: Schema, rng: Rng): string | undefined {
  if (Array.isArray(sc.type)) {
    const real = sc.type.filter((t) => t !== 'null');
    return real.length > 0 ? rng.pick(real) : 'null';
  }
  if (sc.type) return sc.type;
  if (sc.properties) return 'object';
  if (sc.items) return 'array';
  return undefined;
}

/** A value that satisfies the schema as far as JSON Schema says (refinements in code may still refuse it). */
export function generate(
  sc: Schema,
  fx: Fixtures,
  rng: Rng,
  name = '',
  path: Path = [],
  schemas = new Map<string, Schema>(),
  depth = 0,
): unknown {
  schemas.set(key(path), sc);
  const options = sc.anyOf ?? sc.oneOf;
  if (options && options.length > 0) {
    const real = options.filter((o) => o.type !== 'null');
    const branch = rng.pick(real.length > 0 ? real : options);
    return generate({ ...sc, anyOf: undefined, oneOf: undefined, ...branch } as Schema, fx, rng, name, path, schemas, depth);
  }
  if (sc.allOf && sc.allOf.length > 0) return generate(Object.assign({}, ...sc.allOf) as Schema, fx, rng, name, path, schemas, depth);
  if (sc.const !== undefined) return sc.const;
  if (sc.enum && sc.enum.length > 0) return rng.pick(sc.enum);
  switch (typeOf(sc, rng)) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const required = new Set(sc.required ?? []);
      for (const [k, child] of Object.entries(sc.properties ?? {})) {
        if (required.has(k) || (depth < 6 && rng.chance(0.5))) out[k] = generate(child, fx, rng, k, [...path, k], schemas, depth + 1);
      }
      if (!sc.properties && typeof sc.additionalProperties === 'object' && depth < 6 && rng.chance(0.6)) {
        const k = rng.pick(['tier', 'region', 'note', 'a']);
        out[k] = generate(sc.additionalProperties, fx, rng, k, [...path, k], schemas, depth + 1);
      }
      return out;
    }
    case 'array': {
      const min = sc.minItems ?? 0;
      const len = Math.min(sc.maxItems ?? min + 2, min + rng.int(0, 2));
      return Array.from({ length: depth < 6 ? len : min }, (_, i) =>
        generate(sc.items ?? {}, fx, rng, name, [...path, i], schemas, depth + 1),
      );
    }
    case 'integer':
    case 'number': {
      const lo = sc.minimum ?? (sc.exclusiveMinimum !== undefined ? sc.exclusiveMinimum + 1 : 0);
      const hi = Math.min(sc.maximum ?? lo + 100, lo + 100);
      return rng.int(Math.ceil(lo), Math.floor(hi));
    }
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    case 'string': {
      const h = hinted(name, fx, rng);
      if (h !== undefined && fits(h, sc)) return h;
      if (sc.format === 'uuid') return rng.uuid();
      const fit = candidates(fx, rng).find((c) => fits(c, sc));
      return fit ?? 'a'.repeat(Math.max(1, sc.minLength ?? 1));
    }
    default:
      // Free-form (z.unknown / record values): a plain small value.
      return rng.pick([{}, 'x', 1, true, [1]]);
  }
}

export function shaped(sc: Schema, fx: Fixtures, rng: Rng): Shaped {
  const schemas = new Map<string, Schema>();
  return { value: generate(sc, fx, rng, '', [], schemas), schemas };
}

/** Every node of a JSON value with its path (root included). */
export function nodes(v: unknown, path: Path = [], out: { path: Path; value: unknown }[] = []): { path: Path; value: unknown }[] {
  out.push({ path, value: v });
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) nodes(x, [...path, i], out);
  } else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) nodes(x, [...path, k], out);
  return out;
}

/** A copy of `root` with the node at `path` replaced (or removed when `value` is REMOVE). */
export const REMOVE = Symbol('remove');
export function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy: any = Array.isArray(root) ? [...root] : { ...(root as object) }; // any: generic JSON container
  const [head, ...rest] = path;
  if (rest.length === 0) {
    if (value === REMOVE) {
      if (Array.isArray(copy)) copy.splice(head as number, 1);
      else delete copy[head as string];
    } else copy[head as string] = value;
  } else copy[head as string] = setAt(copy[head as string], rest, value);
  return copy;
}

/** Field-level mutations: each breaks one value (or one object) of an otherwise schema-shaped request. */
export const FIELD_MUTATIONS = ['wrong_type', 'null', 'huge', 'deep', 'nul', 'surrogate', 'unknown_key', 'missing', 'boundary'] as const;
/** Request-level mutations of the body. */
export const BODY_MUTATIONS = ['malformed_json', 'content_type', 'oversized'] as const;
export type Mutation = 'valid' | (typeof FIELD_MUTATIONS)[number] | (typeof BODY_MUTATIONS)[number] | 'path' | 'query';

/** Marks a number the serializer writes as raw JSON text (JSON.stringify cannot write 1e999 or -0 as given). */
export const RAW = '\u0001raw:';

export function deep(depth: number, rng: Rng): unknown {
  let v: unknown = rng.pick(['x', 1, null]);
  const asArray = rng.chance(0.5);
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

export function brokenValue(kind: (typeof FIELD_MUTATIONS)[number], current: unknown, sc: Schema | undefined, rng: Rng): unknown {
  const s = typeof current === 'string' ? current : 'fuzz';
  switch (kind) {
    case 'wrong_type': {
      const others: unknown[] = [1, -1.5, 'text', true, [], {}, [1, 'a'], { a: 1 }, `${RAW}1e999`, '123', ''];
      const differs = others.filter((o) => typeof o !== typeof current || Array.isArray(o) !== Array.isArray(current));
      return rng.pick(differs);
    }
    case 'null':
      return null;
    case 'huge':
      return rng.pick<unknown>([
        'x'.repeat(rng.pick([10_000, 100_000, 600_000])),
        `${RAW}1e999`,
        `${RAW}-1e999`,
        `${RAW}123456789012345678901234567890`,
        2 ** 63,
        -(2 ** 63),
        Number.MAX_SAFE_INTEGER + 2,
        1e308,
        Array.from({ length: rng.pick([1000, 20_000]) }, (_, i) => (typeof current === 'number' ? i : `${s}${i}`)),
        Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])),
      ]);
    case 'deep':
      return deep(rng.pick([20, 63, 65, 200, 3000]), rng);
    case 'nul':
      return rng.pick([`${s}\u0000`, '\u0000', `\u0000${s}`, `${s.slice(0, 1)}\u0000${s.slice(1)}`]);
    case 'surrogate':
      return rng.pick([`${s}\ud800`, '\udfff', `\udc00${s}`, `a\ud83dz`]);
    case 'boundary': {
      if (typeof current === 'number' || sc?.type === 'integer' || sc?.type === 'number') {
        return rng.pick([(sc?.minimum ?? 0) - 1, (sc?.maximum ?? 2 ** 31) + 1, 0, -1, 0.5, `${RAW}-0`, `${RAW}1e-400`, 2 ** 31, 2 ** 53]);
      }
      if (Array.isArray(current)) return [];
      return rng.pick([
        '',
        ' ',
        'a'.repeat((sc?.maxLength ?? 255) + 1),
        s.toUpperCase(),
        `${s} `,
        '../../etc/passwd',
        "' OR '1'='1",
        '%00',
        '\\',
        '🚀',
        '\u202e\u200b',
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        '0001-01-01T00:00:00Z',
        '9999-12-31T23:59:59.999Z',
        '+275760-09-13T00:00:00.001Z',
      ]);
    }
    default:
      return current;
  }
}

/** JSON text of a body, writing RAW markers as the raw number text they carry. */
export function serialize(body: unknown): string {
  const text = JSON.stringify(body);
  return text.replace(/"\\u0001raw:([^"]*)"/g, (_, n: string) => n);
}

export const MALFORMED = [
  '{',
  '{"a":}',
  "{'a':1}",
  '[1,2',
  '{"a":1,}',
  '}',
  '\u0000',
  '{"a":"\\u00"}',
  '{"a":"\\ud800"',
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  '\ufeff{}',
  'null',
  'true',
  '1e999',
  '"text"',
  '[]',
  '{"a":1,"a":2}',
  'nul',
  ' ',
];

export const BAD_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=utf-16',
  'application/octet-stream',
  'application/problem+json',
];

/** Path segments as they appear on the wire (already percent-encoded). */
export const BAD_SEGMENTS = [
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%E0%A4%A',
  '%C0%AF',
  '%FF',
  'x'.repeat(5000),
  '..%2F..%2Fetc%2Fpasswd',
  '%2F',
  '%20',
  '%F0%9F%9A%80',
  "'%20OR%20'1'%3D'1",
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'ABCDEF01-2345-4678-89AB-CDEF01234567',
  '12345678-1234-1234-1234-1234567890ab',
  '-1',
  '1e999',
  'null',
  '__proto__',
  'constructor',
];

/** Query values as they appear on the wire. */
export function badQueryValues(rng: Rng): string[] {
  const cursor = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
  return [
    '%00',
    'a%00',
    '%ED%A0%80',
    '%E0%A4%A',
    '%FF%FE',
    'x'.repeat(rng.pick([600, 10_000])),
    '',
    '-1',
    '0',
    '1e999',
    'NaN',
    '9999999999999999999999',
    '1.5',
    'true',
    '%5B%5D',
    cursor(['\u0000']),
    cursor([1, '\u0000']),
    cursor(['x', 'y', 'z']),
    cursor([1e308, 'x']),
    cursor([-1]),
    cursor(['not-a-uuid']),
    cursor(['2026-01-01T00:00:00Z', '00000000-0000-0000-0000-000000000000']),
    'not-base64!',
    rng.uuid(),
    '0001-01-01T00:00:00Z',
    '+275760-09-13T00:00:00.001Z',
  ];
}
