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

async function inTransaction<T>(db: Db, setup: (tx: Tx) => Promise<void>, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await setup(client);
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

/**
 * Runs fn in a transaction as the gantry_app role with gantry.tenant_id set, so row-level
 * security limits every statement to that tenant even if a query forgets its tenant filter.
 */
export function withTenant<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return inTransaction(
    db,
    async (tx) => {
      await tx.query('SET LOCAL ROLE gantry_app');
      await tx.query(`SELECT set_config('gantry.tenant_id', $1, true)`, [tenantId]);
    },
    fn,
  );
}

/** A transaction as the schema owner: bootstrap, token lookup, cross-tenant schedulers. */
export function withSystem<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return inTransaction(db, async () => {}, fn);
}
