// The one door for raw request text: refuses NUL, lone UTF-16 surrogates and over-deep nesting in every part
// of every request (path, query, headers, body keys and values) before schema validation and before any SQL.
import type { FastifyRequest } from 'fastify';
import { type ProblemField, ValidationError } from '../core/errors.js';

/** Deeper JSON than this is refused: no request shape of ours nests half as deep, and deep values overflow stacks. */
export const MAX_NESTING = 64;
/** A request with more bad fields than this names only the first ones. */
const MAX_FIELDS = 20;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string cannot be accepted as text (PostgreSQL stores neither NUL nor unpaired surrogates), or undefined. */
export function unsafeText(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000), which is never accepted; remove it';
  if (LONE_SURROGATE.test(s)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode); send well-formed UTF-8 text';
  return undefined;
}

/**
 * Walks a parsed value without recursion (so a hostile depth cannot overflow the stack) and names every
 * string, object key or nesting level that cannot be accepted, as "<where>.<path>" (e.g. "body.config.url").
 */
export function findUnsafeInput(value: unknown, where: string, out: ProblemField[] = []): ProblemField[] {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: where, depth: 0 }];
  while (stack.length > 0 && out.length < MAX_FIELDS) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const why = unsafeText(v);
      if (why) out.push({ path, message: why });
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_NESTING) {
      out.push({ path, message: `nested deeper than ${MAX_NESTING} levels; flatten the value` });
      continue;
    }
    const entries: [string, unknown][] = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    for (const [key, child] of entries) {
      const why = unsafeText(key);
      // The key itself is the problem: name its parent, and show the key with the NUL made visible.
      if (why) out.push({ path: `${path}[${JSON.stringify(key)}]`, message: `key ${why}` });
      else stack.push({ v: child, path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return out;
}

/** Every part of a request a handler may read; the body after parsing, so JSON escapes (\u0000, \ud800) are seen. */
export function checkRequestInput(req: FastifyRequest): void {
  const fields: ProblemField[] = [];
  findUnsafeInput(req.params, 'params', fields);
  findUnsafeInput(req.query, 'querystring', fields);
  findUnsafeInput(req.headers, 'headers', fields);
  findUnsafeInput(req.body, 'body', fields);
  const first = fields[0];
  if (first) throw new ValidationError(`Invalid ${first.path}: ${first.message}.`, fields.slice(0, MAX_FIELDS));
}
