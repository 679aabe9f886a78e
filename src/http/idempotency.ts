// Idempotency-Key for every creating POST: the first answer (status, body) is kept per tenant, user and
// key for a day, and a retry with the same key and the same request gets it again instead of doing the
// work twice. The same key with another request is refused (422); a retry that arrives while the first
// request still runs gets 409 with Retry-After (the first one's answer is not known yet).
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ConflictError, GantryError, ValidationError } from '../core/errors.js';
import { withSystem } from '../store/db.js';
import { sendProblem, toProblem } from './problem.js';
import type { App, Deps } from './types.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAY_HEADER = 'idempotency-replayed';

/** How long a key is remembered. */
const TTL_MS = 24 * 3600 * 1000;
/**
 * How long a first request holds its key. A server that dies between committing and storing the answer
 * leaves the key held; once the hold runs out the next retry runs the request again.
 */
const HOLD_MS = 60 * 1000;

export class IdempotencyMismatchError extends GantryError {
  constructor(key: string, what: string) {
    super(
      'idempotency_key_reused',
      422,
      `Idempotency-Key "${key}" was first used for ${what}; a key names one request. Send a new key for a different request.`,
    );
  }
}

/** The documented header every creating POST accepts (added to each route's schema, so OpenAPI lists it). */
const headerSchema = z.looseObject({
  [IDEMPOTENCY_HEADER]: z
    .string()
    .optional()
    .describe(
      'Makes a retry safe: the same key with the same request within 24 h returns the first answer again (with Idempotency-Replayed: true); with another request, 422; while the first still runs, 409.',
    ),
});

interface Held {
  tenantId: string;
  userId: string;
  key: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: Held | undefined;
  }
}

/** JSON with object keys sorted, so equal bodies hash alike whatever their key order. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function bodyHash(body: unknown): string {
  return createHash('sha256')
    .update(stable(body ?? null))
    .digest('hex');
}

interface KeyRow {
  method: string;
  path: string;
  body_hash: string;
  status: number | null;
  content_type: string | null;
  response: string | null;
  locked_until: Date;
}

export function registerIdempotency(app: App, deps: Deps): void {
  app.decorateRequest('idempotency', undefined);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST') || !route.url.startsWith('/api/v1/') || route.config?.access === 'public') return;
    route.schema ??= {};
    route.schema.headers ??= headerSchema;
  });

  // After authentication and validation: the key belongs to the caller, and a request that cannot pass
  // validation never holds a key.
  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'POST' || !req.auth) return;
    const raw = req.headers[IDEMPOTENCY_HEADER];
    if (raw === undefined) return;
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (!key || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
      throw new ValidationError('Idempotency-Key must be 1–255 visible ASCII characters (a UUID is a good choice).', [
        { path: 'headers.idempotency-key', message: 'invalid' },
      ]);
    }
    const auth = req.auth;
    const path = req.url;
    const hash = bodyHash(req.body);
    const now = deps.clock.now();
    const held: Held = { tenantId: auth.tenantId, userId: auth.userId, key };
    const found = await withSystem(deps.db, async (tx) => {
      await tx.query(`DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at < $1 LIMIT 100)`, [
        now,
      ]);
      const ins = await tx.query(
        `INSERT INTO idempotency_keys (tenant_id, user_id, key, method, path, body_hash, created_at, locked_until, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, user_id, key) DO NOTHING`,
        [auth.tenantId, auth.userId, key, req.method, path, hash, now, new Date(now.getTime() + HOLD_MS), new Date(now.getTime() + TTL_MS)],
      );
      if (ins.rowCount) return undefined;
      const r = await tx.query<KeyRow>(
        `SELECT method, path, body_hash, status, content_type, response, locked_until FROM idempotency_keys
          WHERE tenant_id = $1 AND user_id = $2 AND key = $3 FOR UPDATE`,
        [auth.tenantId, auth.userId, key],
      );
      const row = r.rows[0]!;
      if (row.method !== req.method || row.path !== path) return { mismatch: `${row.method} ${row.path}` };
      if (row.body_hash !== hash) return { mismatch: `${row.method} ${row.path} with another body` };
      if (row.status !== null) return { replay: row };
      if (row.locked_until > now) return { busy: true };
      // The first request's server went away before it answered: this retry takes the key over.
      await tx.query(`UPDATE idempotency_keys SET locked_until = $4 WHERE tenant_id = $1 AND user_id = $2 AND key = $3`, [
        auth.tenantId,
        auth.userId,
        key,
        new Date(now.getTime() + HOLD_MS),
      ]);
      return undefined;
    });
    if (!found) {
      req.idempotency = held;
      return;
    }
    if ('mismatch' in found) throw new IdempotencyMismatchError(key, found.mismatch ?? '');
    if ('busy' in found) {
      reply.header('retry-after', '1');
      return sendProblem(
        req,
        reply,
        toProblem(
          new ConflictError(
            `A request with Idempotency-Key "${key}" is still being processed; retry in a moment to get its answer.`,
            'idempotency_key_in_use',
          ),
        ),
      );
    }
    const row = found.replay;
    reply.header(REPLAY_HEADER, 'true');
    if (row.content_type) reply.header('content-type', row.content_type);
    // The stored text is sent as it was first serialised, not through the route's serializer again.
    return reply
      .code(row.status!)
      .serializer((p: unknown) => p as string)
      .send(row.response ?? '');
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const held = req.idempotency;
    if (!held) return payload;
    req.idempotency = undefined;
    const keep = reply.statusCode < 500 && (typeof payload === 'string' || payload === null || payload === undefined);
    await withSystem(deps.db, (tx) =>
      keep
        ? tx.query(
            `UPDATE idempotency_keys SET status = $4, content_type = $5, response = $6
              WHERE tenant_id = $1 AND user_id = $2 AND key = $3`,
            [held.tenantId, held.userId, held.key, reply.statusCode, String(reply.getHeader('content-type') ?? ''), payload ?? ''],
          )
        : // A server error is not an answer to keep: the retry runs the request again.
          tx.query('DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3', [
            held.tenantId,
            held.userId,
            held.key,
          ]),
    ).catch((err: unknown) => req.log.warn({ err: (err as Error).message }, 'could not record the answer for an Idempotency-Key'));
    return payload;
  });
}
