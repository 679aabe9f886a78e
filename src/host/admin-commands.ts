// `gantry admin …` on the server host: who may administer the platform, straight against the database
// (like `gantry db migrate`), no token. `gantry platform …` does the same over the API (src/cli/).

import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../cli/output.js';
import { printAdmins, printGranted } from '../cli/platform-commands.js';
import { openServerDatabase } from './database.js';

interface HostOpts {
  dataDir?: string;
  databaseUrl?: string;
  json?: boolean;
  tokenName?: string;
}

/** The migration that added home tenants and platform tokens, which these commands need. */
const MEMBERSHIP_SCHEMA = 70;

/** Opens the server's database (DATABASE_URL, or the embedded store in the data dir) and runs fn in one system transaction. */
async function onServerDatabase<T>(opts: HostOpts, fn: (tx: import('../store/db.js').Tx) => Promise<T>): Promise<T> {
  const { loadServerConfig } = await import('../core/config.js');
  const { createPool, withSystem } = await import('../store/db.js');
  const { GantryError } = await import('../core/errors.js');
  const cfg = loadServerConfig(opts);
  const store = await openServerDatabase(cfg);
  const url = store.url;
  const db = createPool(url, 2);
  try {
    const v = await db
      .query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations')
      .catch(() => ({ rows: [{ v: null }] }));
    if ((v.rows[0]?.v ?? 0) < MEMBERSHIP_SCHEMA) {
      throw new CliError(
        'The database schema is older than this command: run `gantry db migrate` (or start the server) first.',
        EXIT.unavailable,
      );
    }
    return await withSystem(db, fn);
  } catch (err) {
    if (err instanceof GantryError) {
      const code = err.status === 404 ? EXIT.notFound : err.status === 409 ? EXIT.conflict : EXIT.other;
      throw new CliError(err.message, code);
    }
    throw err;
  } finally {
    await db.end();
    await store.close();
  }
}

function hostCommand(parent: Command, nameAndArgs: string, description: string, examples: string[]): Command {
  return parent
    .command(nameAndArgs)
    .description(description)
    .option('--data-dir <dir>', 'data directory of the server (env GANTRY_DATA_DIR, default ./.gantry)')
    .option('--database-url <url>', "the server's PostgreSQL (env DATABASE_URL); default: the embedded store in --data-dir")
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
}

export function registerAdminCommands(program: Command): void {
  const admin = program
    .command('admin')
    .description(
      'Platform administration on the server host: talks to the database directly (needs DATABASE_URL or the data directory), no token. ' +
        'Use it to grant the first platform admins or to recover a lost admin token.',
    );

  hostCommand(admin, 'grant-platform-admin <username>', 'Make a user a platform admin and print a platform token for them (once)', [
    'gantry admin grant-platform-admin alice',
    'DATABASE_URL=postgres://gantry@db/gantry gantry admin grant-platform-admin admin --json   # recover a lost admin token',
  ])
    .option('--token-name <name>', 'name of the platform token (default "platform")')
    .action(async (username: string, opts: HostOpts) => {
      const { grantPlatformAdmin } = await import('../tenancy/platform.js');
      const r = await onServerDatabase(opts, (tx) => grantPlatformAdmin(tx, username, { tokenName: opts.tokenName, alreadyOk: true }));
      if (opts.json) printJson(r);
      else printGranted(r);
    });

  hostCommand(admin, 'revoke-platform-admin <username>', 'Take platform admin away from a user (their tokens lose platform powers)', [
    'gantry admin revoke-platform-admin alice',
  ]).action(async (username: string, opts: HostOpts) => {
    const { revokePlatformAdmin } = await import('../tenancy/platform.js');
    const r = await onServerDatabase(opts, (tx) => revokePlatformAdmin(tx, username));
    if (opts.json) printJson(r);
    else process.stdout.write(`${r.username} is no longer a platform admin\n`);
  });

  hostCommand(admin, 'list-platform-admins', 'List the platform admins', ['gantry admin list-platform-admins']).action(
    async (opts: HostOpts) => {
      const { listPlatformAdmins } = await import('../tenancy/platform.js');
      const rows = await onServerDatabase(opts, listPlatformAdmins);
      if (opts.json) printJson(rows);
      else printAdmins(rows);
    },
  );
}
