// Deciding whether a text is exactly the RFC 8785 (JCS) form of a value by walking the value against the
// text, not by serialising the value into a new string: the offline verifier's fast path, where building a
// canonical string per packet cost more than the rest of the checks together. Pure and conservative: false
// only means "not shown", and the caller then serialises the value as before, so this never decides a
// verdict by itself.

const QUOTE = 0x22;

/**
 * True when `text` is exactly what canonicalJson(value) returns: the same walk as the canonicaliser (the
 * `canonicalize` package: members sorted by UTF-16 code units, JSON.stringify for strings and numbers), but
 * each piece is compared in place. False — never a throw — for anything the canonicaliser would refuse or
 * treat specially (NaN, Infinity, lone surrogates, toJSON, undefined or symbol members, cycles, functions):
 * the caller's fallback then does exactly what it did before.
 */
export function isCanonicalTextOf(text: string, value: unknown): boolean {
  try {
    return matchValue(text, 0, value) === text.length;
  } catch {
    return false; // e.g. nesting deeper than the stack
  }
}

/** Matches the canonical form of v at text[pos…]: the position after it, or -1. */
function matchValue(text: string, pos: number, v: unknown): number {
  switch (typeof v) {
    case 'string':
      return matchString(text, pos, v);
    case 'number': {
      if (!Number.isFinite(v)) return -1;
      // ECMAScript Number::toString, as JSON.stringify and RFC 8785 write numbers (-0 as 0).
      const s = String(v);
      return text.startsWith(s, pos) ? pos + s.length : -1;
    }
    case 'boolean': {
      const s = v ? 'true' : 'false';
      return text.startsWith(s, pos) ? pos + s.length : -1;
    }
    case 'object':
      if (v === null) return text.startsWith('null', pos) ? pos + 4 : -1;
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return -1;
      return Array.isArray(v) ? matchArray(text, pos, v) : matchObject(text, pos, v as Record<string, unknown>);
    default:
      return -1;
  }
}

/** Sorts in place by UTF-16 code units, as Array.prototype.sort() does; insertion sort: members are few. */
function sortKeys(keys: string[]): string[] {
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > k; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = k;
  }
  return keys;
}

/**
 * JSON.stringify writes a string with no quote, backslash or control character (those are escaped) and no
 * surrogate (the canonicaliser refuses lone ones) as "<s>": such a string is compared character by
 * character in the same loop that checks for those (one pass, no call per string); any other string is
 * quoted by JSON.stringify and compared whole.
 */
function matchString(text: string, pos: number, s: string): number {
  if (text.charCodeAt(pos) !== QUOTE) return -1;
  let at = pos + 1;
  for (let i = 0; i < s.length; i++, at++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return matchEscaped(text, pos, s);
    if (text.charCodeAt(at) !== c) return -1;
  }
  return text.charCodeAt(at) === QUOTE ? at + 1 : -1;
}

function matchEscaped(text: string, pos: number, s: string): number {
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed()) return -1;
  const quoted = JSON.stringify(s);
  return text.startsWith(quoted, pos) ? pos + quoted.length : -1;
}

function matchArray(text: string, pos: number, a: unknown[]): number {
  if (text.charCodeAt(pos) !== 0x5b) return -1; // [
  let at = pos + 1;
  for (let i = 0; i < a.length; i++) {
    if (i > 0) {
      if (text.charCodeAt(at) !== 0x2c) return -1; // ,
      at++;
    }
    const e = a[i];
    // The canonicaliser writes these as null; leave such values to it.
    if (e === undefined || typeof e === 'symbol') return -1;
    at = matchValue(text, at, e);
    if (at < 0) return -1;
  }
  return text.charCodeAt(at) === 0x5d ? at + 1 : -1; // ]
}

function matchObject(text: string, pos: number, o: Record<string, unknown>): number {
  if (text.charCodeAt(pos) !== 0x7b) return -1; // {
  let at = pos + 1;
  const keys = sortKeys(Object.keys(o));
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const member = o[k];
    // The canonicaliser skips these members; leave such values to it.
    if (member === undefined || typeof member === 'symbol') return -1;
    if (i > 0) {
      if (text.charCodeAt(at) !== 0x2c) return -1; // ,
      at++;
    }
    at = matchString(text, at, k);
    if (at < 0 || text.charCodeAt(at) !== 0x3a) return -1; // :
    at = matchValue(text, at + 1, member);
    if (at < 0) return -1;
  }
  return text.charCodeAt(at) === 0x7d ? at + 1 : -1; // }
}
