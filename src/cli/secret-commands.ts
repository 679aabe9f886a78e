// `gantry secret …`: the tenant's built-in secret store. Values are read from stdin or a file, never from
// the command line (argv is visible to other users in `ps` and lands in shell history), and never printed.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, deleted, emit } from './api-command.js';
import { ref } from './client.js';
import { CliError, EXIT, printTable } from './output.js';

interface SecretMeta {
  name: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: string | null;
}

interface SetOpts extends ApiOpts {
  fromFile?: string;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new CliError(
      'gantry secret set reads the value from stdin (or --from-file); pipe it in, e.g. `printf %s "$VALUE" | gantry secret set NAME`.',
      EXIT.invalid,
    );
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** One trailing newline (from `echo` or an editor) is not part of the value; anything else is kept as is. */
export function secretValueOf(text: string): string {
  return text.replace(/\r?\n$/, '');
}

export function registerSecretCommands(program: Command): void {
  const secret = program
    .command('secret')
    .description('Secrets of this tenant, encrypted at rest; referenced as secret:<name> in a credentialRef (admin)');

  apiCommand(secret, 'set <name>', 'Create a secret or replace its value (read from stdin or --from-file, never from arguments)', [
    'printf %s "$REGISTRY_AUTH" | gantry secret set registry-auth',
    'gantry secret set ssh-deploy-key --from-file ~/.ssh/deploy_key',
    'gantry integration create harbor --type oci_registry --config \'{"url":"https://harbor.example.com"}\' --credential-ref secret:registry-auth',
  ])
    .option('--from-file <file>', 'read the value from this file instead of stdin (one trailing newline is dropped)')
    .action(async (name: string, opts: SetOpts) => {
      let text: string;
      if (opts.fromFile) {
        try {
          text = await readFile(opts.fromFile, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read --from-file ${opts.fromFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.invalid);
        }
      } else {
        text = await readStdin();
      }
      const value = secretValueOf(text);
      if (!value) throw new CliError('the secret value is empty; nothing was stored.', EXIT.invalid);
      const meta = await clientFor(opts).request<SecretMeta>('PUT', `/secrets/${ref(name)}`, { body: { value } });
      emit(opts, meta, (m) =>
        process.stdout.write(
          `${m.version === 1 ? 'created' : 'updated'} secret ${m.name} (version ${m.version}); use it as secret:${m.name}\n`,
        ),
      );
    });

  apiCommand(secret, 'list', 'List secrets: names, versions and who changed them (never values)', [
    'gantry secret list',
    'gantry secret list --json',
  ]).action(async (opts: ApiOpts) => {
    const items = await clientFor(opts).listAll<SecretMeta>('/secrets');
    emit(opts, items, (rows) =>
      printTable(rows, [
        ['NAME', (s) => s.name],
        ['VERSION', (s) => String(s.version)],
        ['UPDATED', (s) => s.updatedAt],
        ['BY', (s) => s.updatedBy],
        ['CREATED', (s) => s.createdAt],
      ]),
    );
  });

  apiCommand(secret, 'delete <name>', 'Delete a secret (integrations that reference it fail at their next use)', [
    'gantry secret delete registry-auth',
  ]).action(async (name: string, opts: ApiOpts) => {
    await clientFor(opts).delete(`/secrets/${ref(name)}`);
    deleted(opts, 'secret', name);
  });
}
