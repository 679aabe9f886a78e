// The server's database as the host commands reach it: DATABASE_URL when set, otherwise the embedded
// PostgreSQL of the data directory, started for the command and stopped when it is done.
import type { ServerConfig } from '../core/config.js';

export interface ServerDatabase {
  url: string;
  /** Stops the embedded PostgreSQL this command started; nothing to do for an external one. */
  close(): Promise<void>;
}

export async function openServerDatabase(cfg: ServerConfig): Promise<ServerDatabase> {
  if (cfg.databaseUrl) return { url: cfg.databaseUrl, close: async () => {} };
  const { startEmbedded } = await import('../store/embedded.js');
  const store = await startEmbedded({ dataDir: cfg.dataDir, port: cfg.embeddedPgPort });
  return { url: store.connectionString, close: store.stop };
}
