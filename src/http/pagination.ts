// Opaque keyset cursors for list endpoints: the cursor carries the sort key of the last row returned.
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { unsafeText } from './input-hygiene.js';

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('Page size, 1–500.'),
  cursor: z.string().max(500).optional().describe('The nextCursor of the previous page.'),
});
export type PageQuery = z.infer<typeof pageQuery>;

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

export function encodeCursor(values: (string | number)[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): (string | number)[] {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // A forged cursor could carry text PostgreSQL refuses (NUL) inside its base64; such a cursor is not ours.
    const ok = (x: unknown) => (typeof x === 'string' && !unsafeText(x)) || (typeof x === 'number' && Number.isFinite(x));
    if (Array.isArray(v) && v.length === arity && v.every(ok)) {
      return v as (string | number)[];
    }
  } catch {
    // fall through to the error below
  }
  throw new ValidationError('The cursor is not one this server issued; start again without it.', [
    { path: 'querystring.cursor', message: 'invalid cursor' },
  ]);
}

/** Splits a limit+1 fetch into the page and the cursor for the next one. */
export function toPage<R, T>(rows: R[], limit: number, key: (r: R) => (string | number)[], map: (r: R) => T) {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return { items: page.map(map), nextCursor: more && last ? encodeCursor(key(last)) : null };
}

/** For lists keyed by id alone (UUIDv7, so creation order): the id after which the next page starts. */
export function afterOf(cursor: string | undefined): string | undefined {
  return cursor === undefined ? undefined : String(decodeCursor(cursor, 1)[0]);
}
