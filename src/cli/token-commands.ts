// `gantry token …`: API tokens. The secret is shown once at creation; the server keeps only its hash.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit, parseIntOption } from './api-command.js';
import { ref } from './client.js';
import { printTable } from './output.js';
import { userIdOf } from './user-commands.js';

interface Token {
  id: string;
  name: string;
  userId: string;
  username: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  platform: boolean;
}

interface TokenOpts extends ApiOpts {
  user?: string;
  expiresInDays?: string;
  platform?: boolean;
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens for people and scripts');

  apiCommand(token, 'list', 'List tokens (admins see the whole tenant, others their own)', ['gantry token list']).action(
    async (opts: ApiOpts) => {
      const items = await clientFor(opts).listAll<Token>('/tokens');
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['ID', (t) => t.id],
          ['NAME', (t) => t.name],
          ['USER', (t) => t.username],
          ['PREFIX', (t) => t.prefix],
          ['PLATFORM', (t) => (t.platform ? 'yes' : '')],
          ['EXPIRES', (t) => t.expiresAt ?? 'never'],
          ['LAST USED', (t) => t.lastUsedAt],
          ['REVOKED', (t) => t.revokedAt],
        ]),
      );
    },
  );

  apiCommand(token, 'create <name>', 'Create a token; its secret is printed once and cannot be shown again', [
    'gantry token create laptop',
    'gantry token create ci --user ci-bot --expires-in-days 90',
    'TOKEN=$(gantry token create ci --json | jq -r .secret)',
    'gantry token create ops-laptop --platform   # platform admins, with a platform token: one with platform powers',
  ])
    .option('--user <user>', 'admins: create the token for this user (username or id); default: yourself')
    .option('--expires-in-days <n>', 'days until the token expires (default: never)')
    .option('--platform', 'a platform token (create tenants, plugins, platform admins): only for yourself, with a platform token')
    .action(async (name: string, opts: TokenOpts) => {
      const client = clientFor(opts);
      const created = await client.post<{ token: Token; secret: string }>('/tokens', {
        name,
        ...(opts.user ? { userId: await userIdOf(client, opts.user) } : {}),
        ...(opts.expiresInDays ? { expiresInDays: parseIntOption(opts.expiresInDays, '--expires-in-days') } : {}),
        ...(opts.platform ? { platform: true } : {}),
      });
      emit(opts, created, ({ token: t, secret }) =>
        process.stdout.write(
          `created ${t.platform ? 'platform ' : ''}token ${t.name} (id ${t.id}) for ${t.username}, expires ${t.expiresAt ?? 'never'}\n` +
            `secret (shown only now; it is not shown again, store it safely):\n  ${secret}\n`,
        ),
      );
    });

  apiCommand(token, 'revoke <id>', 'Revoke a token by id (see `gantry token list`)', ['gantry token revoke 0190f7c2-…']).action(
    async (id: string, opts: ApiOpts) => {
      const t = await clientFor(opts).delete<Token>(`/tokens/${ref(id)}`);
      emit(opts, t, () => process.stdout.write(`revoked token ${t.name} (id ${t.id}) of ${t.username}\n`));
    },
  );
}
