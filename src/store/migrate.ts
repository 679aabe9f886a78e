// Numbered SQL migrations applied in order under an advisory lock, so replicas starting together migrate once.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
// Arbitrary constant: "gantry" as an int4 key; advisory locks are scoped to the current database.
const LOCK_KEY = 0x67616e74;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (f) => ({
      version: Number(f.slice(0, 6)),
      name: f.slice(7, -4),
      sql: await readFile(new URL(f, `file://${dir}`), 'utf8'),
    })),
  );
}

export interface MigrateResult {
  applied: number[];
  current: number;
}

export async function migrate(connectionString: string): Promise<MigrateResult> {
  const migrations = await loadMigrations();
  const client = new pg.Client({ connectionString, application_name: 'gantry-migrate' });
  // The connection breaking (PostgreSQL restarting) fails the query in progress; without a listener
  // pg would also raise it as an uncaught 'error' event and end the process.
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.version);
    }
    const current = Math.max(0, ...migrations.map((m) => m.version));
    return { applied, current };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    await client.end();
  }
}
