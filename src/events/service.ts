// Event-stream tickets: an EventSource cannot send the bearer token, so the browser trades it for a
// ticket that opens one stream. A ticket names the token it was issued for and expires after a minute;
// it is signed with a key derived from the secret-store key (the same on every replica), so any replica
// can check it, and each replica accepts a ticket once. Nothing is stored; the stream runs with the
// token's rights, checked again while it is open.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../core/errors.js';
import type { AuthContext } from '../http/types.js';
import type { Db } from '../store/db.js';
import { authenticateTokenId } from '../tenancy/service.js';

export const TICKET_TTL_SECONDS = 60;
const PREFIX = 'gst_';

/** The ticket-signing key: derived from the secret-store key, or random per process without one. */
export function ticketKey(masterKey: Buffer | undefined): Buffer {
  const ikm = masterKey ?? randomBytes(32);
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), 'gantry event-stream ticket v1', 32));
}

const mac = (key: Buffer, body: string) => createHmac('sha256', key).update(body).digest('base64url');

export function issueTicket(key: Buffer, auth: AuthContext, now: Date): { ticket: string; expiresAt: string } {
  const expires = now.getTime() + TICKET_TTL_SECONDS * 1000;
  const body = Buffer.from(JSON.stringify({ k: auth.tokenId, e: expires, n: randomBytes(12).toString('base64url') })).toString('base64url');
  return { ticket: `${PREFIX}${body}.${mac(key, body)}`, expiresAt: new Date(expires).toISOString() };
}

/** Tickets this process accepted, until they expire: a ticket opens one stream. */
const used = new Map<string, number>();

/** Checks a ticket and returns the caller of the token it names; 401 when it is malformed, forged, used or expired. */
export async function redeemTicket(db: Db, key: Buffer, ticket: unknown, now: Date): Promise<AuthContext> {
  const refused = new UnauthorizedError(
    'The event stream needs a ticket: POST /api/v1/events/ticket with your token, then open the stream with ?ticket=… within a minute (a ticket opens one stream).',
  );
  if (typeof ticket !== 'string' || !ticket.startsWith(PREFIX) || ticket.length > 400) throw refused;
  const [body, sig] = ticket.slice(PREFIX.length).split('.');
  if (!body || !sig) throw refused;
  const want = Buffer.from(mac(key, body));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) throw refused;
  let claims: { k?: unknown; e?: unknown };
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw refused;
  }
  if (typeof claims.k !== 'string' || typeof claims.e !== 'number' || claims.e <= now.getTime()) throw refused;
  for (const [t, exp] of used) if (exp <= now.getTime()) used.delete(t);
  if (used.has(sig)) throw refused;
  used.set(sig, claims.e);
  return authenticateTokenId(db, claims.k, now);
}
