// `gantry server` and `gantry db migrate`: the commands that run the server side. They load server
// modules lazily, so API-client commands stay fast and never touch the store.

import type { Command } from 'commander';
import { collect } from '../cli/api-command.js';
import type { ServerFlags } from '../core/config.js';
import { openServerDatabase } from './database.js';
import { emitUnit, unitOrUsageError } from './service-output.js';

const SERVER_UNIT_FILE = '/etc/systemd/system/gantry-server.service';

export function registerServerCommands(program: Command): void {
  const server = program
    .command('server')
    // `gantry server install-service --port …` is the subcommand's --port, not the server's.
    .enablePositionalOptions()
    .description('Run the Gantry server: API, docs, engine. Starts an embedded PostgreSQL in <data-dir>/pg unless DATABASE_URL is set.')
    .option('--port <port>', 'HTTP port (env GANTRY_PORT, default 8080)')
    .option('--host <host>', 'address to listen on (env GANTRY_HOST, default 0.0.0.0)')
    .option('--data-dir <dir>', 'data directory (env GANTRY_DATA_DIR, default ./.gantry)')
    .option('--database-url <url>', 'external PostgreSQL ≥ 14 (env DATABASE_URL); default: embedded')
    .option('--log-level <level>', 'trace|debug|info|warn|error (env GANTRY_LOG_LEVEL, default info)')
    .option('--log-format <format>', 'json|pretty (env GANTRY_LOG_FORMAT; default pretty on a terminal, else JSON lines)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain) (env GANTRY_TLS_CERT_FILE; needs --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env GANTRY_TLS_KEY_FILE)')
    .option(
      '--tls-client-ca <file>',
      'mutual TLS for agents: agent routes require a client certificate signed by this PEM CA bundle (env GANTRY_TLS_CLIENT_CA_FILE)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  gantry server                       # embedded PostgreSQL in ./.gantry, port 8080\n  DATABASE_URL=postgres://u:p@db/gantry gantry server --port 9000\n  gantry server --tls-cert /etc/gantry/server.pem --tls-key /etc/gantry/server-key.pem --tls-client-ca /etc/gantry/agents-ca.pem\n',
    )
    .action(async (opts: ServerFlags) => {
      const { loadServerConfig } = await import('../core/config.js');
      const cfg = loadServerConfig(opts);
      // The embedded PostgreSQL, a process of its own, starts while the server's modules load.
      const store = cfg.databaseUrl
        ? undefined
        : (await import('../store/embedded.js')).startEmbeddedInBackground({ dataDir: cfg.dataDir, port: cfg.embeddedPgPort });
      const { runServer } = await import('../server.js');
      const server = await runServer(opts, store ? { store } : {});
      const stop = (signal: string) => {
        process.stderr.write(`received ${signal}, shutting down\n`);
        server.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`shutdown failed: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      // Our shutdown stops the embedded PostgreSQL itself; the package's own exit hook would race it
      // and end the process with 143 before the HTTP server and engine have drained.
      process.removeAllListeners('SIGINT');
      process.removeAllListeners('SIGTERM');
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });

  server
    .command('install-service')
    .description(
      'Write a systemd unit for the server: a dedicated user, restart on failure, a sandbox where only the data directory is writable',
    )
    .option('--user <name>', 'the account it runs as (created by you: useradd --system gantry)', 'gantry')
    .option('--data-dir <dir>', 'data directory: embedded PostgreSQL, keys, admin.token (the only writable path)', '/var/lib/gantry')
    .option('--env-file <file>', 'EnvironmentFile with DATABASE_URL, GANTRY_* settings (may be missing)', '/etc/gantry/server.env')
    .option('--port <port>', 'HTTP port (default: GANTRY_PORT from the env file, else 8080)')
    .option('--read-write-path <path>', 'another path the server may write (repeatable)', collect)
    .option('--output <file>', 'write the unit to this file instead of printing it')
    .option('--install', `write it to ${SERVER_UNIT_FILE}`)
    .addHelpText(
      'after',
      `\nExamples:\n  gantry server install-service                       # print the unit\n  gantry server install-service --install && systemctl daemon-reload && systemctl enable --now gantry-server\n  gantry server install-service --data-dir /srv/gantry --output ./gantry-server.service\n`,
    )
    .action(
      async (o: {
        user: string;
        dataDir: string;
        envFile: string;
        port?: string;
        readWritePath?: string[];
        output?: string;
        install?: boolean;
      }) => {
        const { serverUnit, thisGantry } = await import('./systemd.js');
        const unit = unitOrUsageError(() =>
          serverUnit({
            user: o.user,
            dir: o.dataDir,
            envFile: o.envFile,
            port: o.port,
            exec: thisGantry(),
            readWritePaths: o.readWritePath ?? [],
          }),
        );
        await emitUnit(unit, o, SERVER_UNIT_FILE, 'gantry-server');
      },
    );

  const db = program.command('db').description('Database administration');
  db.command('migrate')
    .description('Apply pending schema migrations without starting the server (uses DATABASE_URL, or the embedded store in --data-dir).')
    .option('--data-dir <dir>', 'data directory of the embedded store (env GANTRY_DATA_DIR, default ./.gantry)')
    .option('--database-url <url>', 'external PostgreSQL (env DATABASE_URL)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dataDir?: string; databaseUrl?: string; json?: boolean }) => {
      const { loadServerConfig } = await import('../core/config.js');
      const { migrate } = await import('../store/migrate.js');
      const cfg = loadServerConfig(opts);
      const store = await openServerDatabase(cfg);
      const url = store.url;
      try {
        const result = await migrate(url);
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else
          process.stdout.write(
            result.applied.length
              ? `applied migrations ${result.applied.join(', ')}; schema version ${result.current}\n`
              : `schema is current (version ${result.current})\n`,
          );
      } finally {
        await store.close();
      }
    });
}
