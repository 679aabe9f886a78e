// Process configuration: flag, then environment, then defaults (DESIGN §10).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  bootstrapToken: string | undefined;
  logLevel: string;
  logFormat: LogFormat;
  embeddedPgPort: number;
  /** Run the workflow engine in this process (GANTRY_ENGINE=off for API-only replicas). */
  engine: boolean;
  engineConcurrency: number;
  engineLeaseSeconds: number;
  /** Seconds between registry syncs of each component; 0 turns the sync scheduler off. */
  syncIntervalSeconds: number;
  /** Serve HTTPS with these PEM files (GANTRY_TLS_CERT_FILE/GANTRY_TLS_KEY_FILE); plain HTTP when absent. */
  tls: TlsFiles | undefined;
  /** Which env:/file: secret references tenants may use, and the secret store's master key file. */
  secrets: SecretSettings;
  /** GANTRY_OUTBOUND_ALLOW: hosts, IPs or CIDRs (optionally :port) that tenant-configured URLs may reach despite being private, loopback or link-local. */
  outboundAllow: string[];
}

/**
 * GANTRY_SECRET_ENV_PREFIX / GANTRY_SECRET_DIRS open env: and file: references to tenants (unset = refused);
 * GANTRY_SECRET_KEY_FILE holds the master key of the built-in secret store. `protectedPaths` are never
 * resolvable whatever the operator allows: the data dir and every key or password file the server uses.
 */
export interface SecretSettings {
  envPrefix: string | undefined;
  dirs: string[];
  keyFile: string;
  protectedPaths: string[];
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that agents' client certificates must chain to (GANTRY_TLS_CLIENT_CA_FILE): mutual TLS on the agent protocol. */
  clientCaFile: string | undefined;
}

export interface ServerFlags {
  host?: string | undefined;
  port?: string | number | undefined;
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  logLevel?: string | undefined;
  logFormat?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsClientCa?: string | undefined;
}

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `--log-format`, else GANTRY_LOG_FORMAT, else pretty on a terminal and JSON everywhere else (files, pipes, journald). */
export function logFormat(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, tty = Boolean(process.stdout.isTTY)): LogFormat {
  const given = flag ?? (env.GANTRY_LOG_FORMAT || undefined);
  if (given === undefined) return tty ? 'pretty' : 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(given)) {
    throw new Error(`log format must be json or pretty (--log-format, GANTRY_LOG_FORMAT), got "${given}".`);
  }
  return given as LogFormat;
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.GANTRY_DATA_DIR ?? '.gantry');
}

export function parsePort(value: string | number, what: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Error(`${what} must be a TCP port between 0 and 65535, got "${value}".`);
  }
  return n;
}

function parseCount(value: string | number, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`${what} must be a whole number from 1 to 1000, got "${value}".`);
  return n;
}

export function loadServerConfig(flags: ServerFlags = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return {
    host: flags.host ?? env.GANTRY_HOST ?? '0.0.0.0',
    port: parsePort(flags.port ?? env.GANTRY_PORT ?? 8080, 'port'),
    dataDir: path.resolve(flags.dataDir ?? defaultDataDir(env)),
    databaseUrl: flags.databaseUrl ?? (env.DATABASE_URL || undefined),
    bootstrapToken: env.GANTRY_BOOTSTRAP_TOKEN || undefined,
    logLevel: flags.logLevel ?? env.GANTRY_LOG_LEVEL ?? 'info',
    logFormat: logFormat(flags.logFormat, env),
    embeddedPgPort: parsePort(env.GANTRY_EMBEDDED_PG_PORT ?? 0, 'GANTRY_EMBEDDED_PG_PORT'),
    engine: env.GANTRY_ENGINE !== 'off',
    engineConcurrency: parseCount(env.GANTRY_ENGINE_CONCURRENCY ?? 10, 'GANTRY_ENGINE_CONCURRENCY'),
    engineLeaseSeconds: parseCount(env.GANTRY_ENGINE_LEASE_SECONDS ?? 30, 'GANTRY_ENGINE_LEASE_SECONDS'),
    syncIntervalSeconds: syncIntervalSeconds(env),
    tls: tlsFiles(flags, env),
    secrets: secretSettings(path.resolve(flags.dataDir ?? defaultDataDir(env)), tlsFiles(flags, env), env),
    outboundAllow: (env.GANTRY_OUTBOUND_ALLOW ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean),
  };
}

/** The secret-reference policy and store key from the environment (see SecretSettings). */
export function secretSettings(dataDir: string, tls: TlsFiles | undefined, env: NodeJS.ProcessEnv = process.env): SecretSettings {
  const rawDirs = env.GANTRY_SECRET_DIRS ?? '';
  const dirs = rawDirs
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  for (const d of dirs) {
    if (!path.isAbsolute(d))
      throw new Error(`GANTRY_SECRET_DIRS must list absolute directories separated by commas; "${d}" is not absolute.`);
  }
  const keyFile = path.resolve(env.GANTRY_SECRET_KEY_FILE || path.join(dataDir, 'secrets.key'));
  const protectedPaths = [
    dataDir,
    keyFile,
    tls?.keyFile,
    env.GANTRY_EVIDENCE_KEY_FILE,
    env.PGPASSFILE,
    // Named as files too, so a hard link to one of them elsewhere is recognised by its inode.
    ...['evidence-signing.key', 'admin.token', 'pg.password', 'secrets.key'].map((f) => path.join(dataDir, f)),
  ].filter((p): p is string => Boolean(p));
  return {
    envPrefix: env.GANTRY_SECRET_ENV_PREFIX,
    dirs: dirs.map((d) => path.resolve(d)),
    keyFile,
    protectedPaths: protectedPaths.map((p) => path.resolve(p)),
  };
}

/** The TLS files from flags, then environment; a certificate needs its key and mutual TLS needs TLS. */
export function tlsFiles(flags: ServerFlags, env: NodeJS.ProcessEnv = process.env): TlsFiles | undefined {
  const certFile = flags.tlsCert ?? (env.GANTRY_TLS_CERT_FILE || undefined);
  const keyFile = flags.tlsKey ?? (env.GANTRY_TLS_KEY_FILE || undefined);
  const clientCaFile = flags.tlsClientCa ?? (env.GANTRY_TLS_CLIENT_CA_FILE || undefined);
  if (!certFile && !keyFile) {
    if (clientCaFile)
      throw new Error(
        'GANTRY_TLS_CLIENT_CA_FILE (mutual TLS for agents) needs HTTPS: set GANTRY_TLS_CERT_FILE and GANTRY_TLS_KEY_FILE too.',
      );
    return undefined;
  }
  if (!certFile) throw new Error('GANTRY_TLS_KEY_FILE (--tls-key) is set but GANTRY_TLS_CERT_FILE (--tls-cert) is not: HTTPS needs both.');
  if (!keyFile) throw new Error('GANTRY_TLS_CERT_FILE (--tls-cert) is set but GANTRY_TLS_KEY_FILE (--tls-key) is not: HTTPS needs both.');
  return { certFile: path.resolve(certFile), keyFile: path.resolve(keyFile), clientCaFile: clientCaFile && path.resolve(clientCaFile) };
}

/** Options for Fastify's `https`: the PEM contents, checked here so a bad file fails with its name, not deep in node:tls. */
export interface HttpsOptions {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** Set with a client CA: ask for client certificates but let requests without one through (only agent routes need one). */
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
}

export function loadHttpsOptions(tls: TlsFiles): HttpsOptions {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = read(tls.certFile, 'TLS certificate (GANTRY_TLS_CERT_FILE)');
  const key = read(tls.keyFile, 'TLS private key (GANTRY_TLS_KEY_FILE)');
  const ca = tls.clientCaFile ? read(tls.clientCaFile, 'client CA bundle (GANTRY_TLS_CLIENT_CA_FILE)') : undefined;
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`the TLS certificate ${tls.certFile} and key ${tls.keyFile} are not a usable PEM pair: ${(err as Error).message}`);
  }
  if (!ca) return { cert, key };
  try {
    // createSecureContext skips what is not a certificate silently; parsing the first one does not.
    new X509Certificate(ca);
  } catch (err) {
    throw new Error(`the client CA bundle ${tls.clientCaFile} is not PEM certificates: ${(err as Error).message}`);
  }
  return { cert, key, ca, requestCert: true, rejectUnauthorized: false };
}

/** GANTRY_TLS_RELOAD_SECONDS: how often the TLS files are checked for renewal besides file-system events (default 10). */
export function tlsReloadSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GANTRY_TLS_RELOAD_SECONDS ?? '10';
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0.1 || n > 86_400) {
    throw new Error(`GANTRY_TLS_RELOAD_SECONDS must be a number of seconds from 0.1 to 86400, got "${raw}".`);
  }
  return n;
}

/** GANTRY_SYNC_INTERVAL_SECONDS: how often each component's version map is re-synced (default 300; 0 = off). */
export function syncIntervalSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GANTRY_SYNC_INTERVAL_SECONDS ?? '300';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 86_400) {
    throw new Error(`GANTRY_SYNC_INTERVAL_SECONDS must be a whole number of seconds from 0 (off) to 86400, got "${raw}".`);
  }
  return n;
}
