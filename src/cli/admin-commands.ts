// `gantry admin …` (server host: the database directly, like `gantry db migrate`) and `gantry platform …`
// (the API, with a platform admin's platform token): who may administer the platform.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit } from './api-command.js';
import { ref } from './client.js';
import { CliError, EXIT, printJson, printTable } from './output.js';

interface PlatformAdmin {
  id: string;
  username: string;
  displayName: string;
  homeTenant: string | null;
  createdAt: string;
}
interface Granted {
  admin: PlatformAdmin;
  token: string | null;
  tenant: string | null;
}

interface HostOpts {
  dataDir?: string;
  databaseUrl?: string;
  json?: boolean;
  tokenName?: string;
}

const printAdmins = (rows: PlatformAdmin[]) =>
  printTable(rows, [
    ['USERNAME', (a) => a.username],
    ['HOME TENANT', (a) => a.homeTenant],
    ['DISPLAY NAME', (a) => a.displayName],
    ['ID', (a) => a.id],
  ]);

const printGranted = (r: Granted) =>
  process.stdout.write(
    `${r.admin.username} is a platform admin\n` +
      (r.token
        ? `platform token in tenant ${r.tenant} (shown only now; store it safely, hand it to ${r.admin.username}):\n  ${r.token}\n`
        : `no token minted: ${r.admin.username} is a member of no tenant\n`),
  );

/** The migration that added home tenants and platform tokens, which these commands need. */
const MEMBERSHIP_SCHEMA = 70;

/** Opens the server's database (DATABASE_URL, or the embedded store in the data dir) and runs fn in one system transaction. */
async function onServerDatabase<T>(opts: HostOpts, fn: (tx: import('../store/db.js').Tx) => Promise<T>): Promise<T> {
  const { loadServerConfig } = await import('../core/config.js');
  const { createPool, withSystem } = await import('../store/db.js');
  const { GantryError } = await import('../core/errors.js');
  const cfg = loadServerConfig(opts);
  let url = cfg.databaseUrl;
  let stop: (() => Promise<void>) | undefined;
  if (!url) {
    const { startEmbedded } = await import('../store/embedded.js');
    const store = await startEmbedded({ dataDir: cfg.dataDir, port: cfg.embeddedPgPort });
    url = store.connectionString;
    stop = store.stop;
  }
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
    await stop?.();
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

  const platform = program
    .command('platform')
    .description(
      'Platform administration over the API: needs a platform admin’s platform token (gantry admin grant-platform-admin prints one)',
    );

  apiCommand(platform, 'admins', 'List the platform admins', ['gantry platform admins']).action(async (opts: ApiOpts) => {
    emit(opts, await clientFor(opts).listAll<PlatformAdmin>('/platform/admins'), printAdmins);
  });

  apiCommand(platform, 'grant <username>', 'Make a user a platform admin; prints a platform token for them once', [
    'gantry platform grant alice',
  ]).action(async (username: string, opts: ApiOpts) => {
    emit(opts, await clientFor(opts).post<Granted>('/platform/admins', { username }), printGranted);
  });

  apiCommand(platform, 'revoke <username>', 'Take platform admin away from a user', ['gantry platform revoke alice']).action(
    async (username: string, opts: ApiOpts) => {
      const r = await clientFor(opts).delete<PlatformAdmin>(`/platform/admins/${ref(username)}`);
      emit(opts, r, () => process.stdout.write(`${r.username} is no longer a platform admin\n`));
    },
  );
}
