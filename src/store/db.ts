// The pg pool and the two transaction scopes: tenant-scoped (row-level security on) and system.
import pg from 'pg';

export type Db = pg.Pool;
export type Tx = pg.PoolClient;

// Return int8/numeric as JS numbers where they fit; timestamps stay Date.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

/** Called when a pooled connection breaks (PostgreSQL restarted, network cut); for logs only. */
export type ConnectionErrorHandler = (err: Error) => void;

export function createPool(connectionString: string, max = 20, onConnectionError?: ConnectionErrorHandler): Db {
  const pool = new pg.Pool({ connectionString, max, application_name: 'gantry' });
  const report = (err: Error) => onConnectionError?.(err);
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', report);
  // Neither may a client that is checked out (a transaction in progress): the pool removes the idle
  // listener while a client is lent, and pg emits 'error' on a client with no listener as an uncaught
  // exception. The running query fails with the same error and its transaction rolls back; the broken
  // client is not queryable any more, so release() drops it and the pool opens a new one.
  pool.on('connect', (client) => client.on('error', report));
  return pool;
}

// SQLSTATE classes and codes that mean "the connection or the server went away", not "the statement is
// wrong": 08 connection exception, 57P01-57P03 admin/crash shutdown and "cannot connect now", 53300 too
// many connections, 40001/40P01 serialization failure and deadlock (safe to run again).
const TRANSIENT_CODES = /^(08|57P0[1-3]|53300|40001|40P01)/;
const TRANSIENT_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * True when err (or its cause) says the database connection broke or the server is restarting: the
 * same work may succeed when tried again. Used by the engine to re-queue a step instead of failing it.
 */
export function isTransientDbError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_CODES.test(code) || TRANSIENT_SOCKET.has(code))) return true;
    const msg = e instanceof Error ? e.message : '';
    if (/^Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/.test(msg)) return true;
  }
  return false;
}

/**
 * Runs fn again while it fails with a transient database error (PostgreSQL starting, restarting or
 * failing over), with backoff, for up to maxMs; for start-up work (migrations, bootstrap), so a replica
 * that starts during a database restart waits for it instead of exiting.
 */
export async function retryTransient<T>(fn: () => Promise<T>, onRetry: (err: Error, delayMs: number) => void, maxMs = 120_000): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() - started > maxMs) throw err;
      const delay = Math.min(5_000, 250 * 2 ** attempt);
      onRetry(err as Error, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

const commitHooks = new WeakMap<Tx, (() => void)[]>();

/**
 * Runs fn once the transaction tx commits (never if it rolls back): for effects outside the database
 * that must not announce a change that did not happen, such as notifications. fn must not throw.
 */
export function afterCommit(tx: Tx, fn: () => void): void {
  const hooks = commitHooks.get(tx);
  if (hooks) hooks.push(fn);
  else commitHooks.set(tx, [fn]);
}

/** `begin` opens the transaction and sets it up: one simple-protocol text, so one round trip. */
async function inTransaction<T>(db: Db, begin: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('COMMIT');
    const hooks = commitHooks.get(client);
    commitHooks.delete(client);
    for (const h of hooks ?? []) h();
    return result;
  } catch (err) {
    commitHooks.delete(client);
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// A tenant id goes into the opening text as a literal (statements with parameters cannot share a round
// trip), so only the exact UUID form is accepted.
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs fn in a transaction as the gantry_app role with gantry.tenant_id set, so row-level
 * security limits every statement to that tenant even if a query forgets its tenant filter.
 * BEGIN, the role and the tenant are sent together as one round trip.
 */
export function withTenant<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (!TENANT_ID.test(tenantId)) return Promise.reject(new TypeError(`withTenant: "${tenantId}" is not a tenant id (a UUID).`));
  return inTransaction(db, `BEGIN; SET LOCAL ROLE gantry_app; SELECT set_config('gantry.tenant_id', '${tenantId}', true)`, fn);
}

/** A transaction as the schema owner: bootstrap, token lookup, cross-tenant schedulers. */
export function withSystem<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return inTransaction(db, 'BEGIN', fn);
}
