// `gantry admin rotate-secret-key`: on the server host, re-wraps every tenant secret's data key under a new
// master key, in one transaction, straight against the database (like `gantry db migrate`). Server
// modules are loaded lazily so API-client commands stay fast and never touch the store.

import type { Command } from 'commander';
import { openServerDatabase } from './database.js';

interface RotateOpts {
  newKeyFile: string;
  keyFile?: string;
  dataDir?: string;
  databaseUrl?: string;
  json?: boolean;
}

export function registerSecretKeyCommands(program: Command): void {
  // `admin` may be registered by another module too: add to it rather than define a second one.
  const admin =
    program.commands.find((c) => c.name() === 'admin') ??
    program.command('admin').description('Server-host administration (direct database access)');
  admin
    .command('rotate-secret-key')
    .description(
      'Re-wrap every tenant secret under a new secret-store master key, in one transaction (uses DATABASE_URL, or the embedded store in --data-dir). ' +
        'Then give every replica the new key file (GANTRY_SECRET_KEY_FILE) and restart them; the old key is no longer needed.',
    )
    .requiredOption('--new-key-file <file>', 'the new master key (32 bytes, base64); created with mode 0600 if it does not exist')
    .option('--key-file <file>', 'the current master key (env GANTRY_SECRET_KEY_FILE, default <data-dir>/secrets.key)')
    .option('--data-dir <dir>', 'data directory of the embedded store (env GANTRY_DATA_DIR, default ./.gantry)')
    .option('--database-url <url>', 'external PostgreSQL (env DATABASE_URL)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  gantry admin rotate-secret-key --new-key-file /etc/gantry/secrets-2027.key\n' +
        '  GANTRY_SECRET_KEY_FILE=/etc/gantry/secrets.key DATABASE_URL=postgres://… gantry admin rotate-secret-key --new-key-file /etc/gantry/secrets-new.key --json\n',
    )
    .action(async (opts: RotateOpts) => {
      const path = await import('node:path');
      const { loadServerConfig } = await import('../core/config.js');
      const { loadMasterKey } = await import('../secrets/envelope.js');
      const { rotateMasterKey } = await import('../secrets/service.js');
      const { createPool, withSystem } = await import('../store/db.js');
      const { CliError, EXIT } = await import('../cli/output.js');
      const cfg = loadServerConfig(opts);
      const oldFile = opts.keyFile ? path.resolve(opts.keyFile) : cfg.secrets.keyFile;
      const newFile = path.resolve(opts.newKeyFile);
      if (oldFile === newFile) throw new CliError('--new-key-file must be a different file from the current key file.', EXIT.invalid);
      const { key: from } = await loadMasterKey(oldFile, false);
      const { key: to, created } = await loadMasterKey(newFile, true);
      if (from.id === to.id) throw new CliError(`${newFile} holds the same key as ${oldFile}; nothing to rotate.`, EXIT.invalid);
      const store = await openServerDatabase(cfg);
      const url = store.url;
      const db = createPool(url, 1);
      try {
        const result = await withSystem(db, (tx) => rotateMasterKey(tx, from, to));
        const out = { fromKeyId: from.id, toKeyId: to.id, newKeyFile: newFile, newKeyCreated: created, ...result };
        if (opts.json) process.stdout.write(`${JSON.stringify(out)}\n`);
        else
          process.stdout.write(
            `re-wrapped ${result.rewrapped} secret(s) from key ${from.id} to key ${to.id}` +
              (result.alreadyNew ? ` (${result.alreadyNew} already on the new key)` : '') +
              `\nnow point GANTRY_SECRET_KEY_FILE at ${newFile} (or move it over ${oldFile}) on every replica and restart them.\n`,
          );
      } finally {
        await db.end();
        await store.close();
      }
    });
}
