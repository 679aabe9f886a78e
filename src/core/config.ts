// Process configuration: flag, then environment, then defaults (DESIGN §10).
import path from 'node:path';

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  bootstrapToken: string | undefined;
  logLevel: string;
  embeddedPgPort: number;
  /** Run the workflow engine in this process (GANTRY_ENGINE=off for API-only replicas). */
  engine: boolean;
  engineConcurrency: number;
  engineLeaseSeconds: number;
  /** Seconds between registry syncs of each component; 0 turns the sync scheduler off. */
  syncIntervalSeconds: number;
}

export interface ServerFlags {
  host?: string | undefined;
  port?: string | number | undefined;
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  logLevel?: string | undefined;
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
    embeddedPgPort: parsePort(env.GANTRY_EMBEDDED_PG_PORT ?? 0, 'GANTRY_EMBEDDED_PG_PORT'),
    engine: env.GANTRY_ENGINE !== 'off',
    engineConcurrency: parseCount(env.GANTRY_ENGINE_CONCURRENCY ?? 10, 'GANTRY_ENGINE_CONCURRENCY'),
    engineLeaseSeconds: parseCount(env.GANTRY_ENGINE_LEASE_SECONDS ?? 30, 'GANTRY_ENGINE_LEASE_SECONDS'),
    syncIntervalSeconds: syncIntervalSeconds(env),
  };
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
