// `gantry user …` and `gantry tenant …`: who may do what in a tenant, and (platform admins) the tenants.
import type { Command } from 'commander';
import { UUID_RE } from '../core/ids.js';
import { type ApiOpts, apiCommand, clientFor, collect, defined, emit, requireChanges } from './api-command.js';
import { type ApiClient, ref } from './client.js';
import { CliError, EXIT, printTable } from './output.js';

const ROLES = 'admin, release_manager, approver, deployer, viewer';

interface User {
  id: string;
  username: string;
  displayName: string;
  email: string | null;
  roles: string[];
  createdAt: string;
}

interface Tenant {
  id: string;
  name: string;
  displayName: string;
  createdAt: string;
}

interface UserOpts extends ApiOpts {
  role?: string[];
  displayName?: string;
  email?: string;
}

/** The users API addresses users by id; operators think in usernames, so resolve through the list. */
export async function userIdOf(client: ApiClient, user: string): Promise<string> {
  if (UUID_RE.test(user)) return user;
  const found = (await client.listAll<User>('/users')).find((u) => u.username === user);
  if (!found) throw new CliError(`user "${user}" was not found in this tenant`, EXIT.notFound);
  return found.id;
}

function printUsers(rows: User[]): void {
  printTable(rows, [
    ['USERNAME', (u) => u.username],
    ['ROLES', (u) => u.roles.join(',')],
    ['DISPLAY NAME', (u) => u.displayName],
    ['EMAIL', (u) => u.email],
    ['ID', (u) => u.id],
  ]);
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description(`Users of this tenant and their roles (${ROLES})`);

  apiCommand(user, 'list', 'List the users of this tenant', ['gantry user list']).action(async (opts: ApiOpts) => {
    emit(opts, await clientFor(opts).listAll<User>('/users'), printUsers);
  });

  apiCommand(user, 'add <username>', 'Add a user with one or more roles', [
    'gantry user add alice --role release_manager',
    'gantry user add bob --role approver --role deployer --email bob@example.com',
  ])
    .requiredOption('--role <role>', `role, repeatable: ${ROLES}`, collect)
    .option('--display-name <text>', 'full name')
    .option('--email <address>', 'email address')
    .action(async (username: string, opts: UserOpts) => {
      const u = await clientFor(opts).post<User>(
        '/users',
        defined({ username, roles: opts.role, displayName: opts.displayName, email: opts.email }),
      );
      emit(opts, u, () => process.stdout.write(`added user ${u.username} with roles ${u.roles.join(', ')} (id ${u.id})\n`));
    });

  apiCommand(user, 'update <user>', "Change a user's roles (replacing them), name or email; by username or id", [
    'gantry user update alice --role approver --role viewer',
  ])
    .option('--role <role>', `new roles, repeatable (replaces the current roles): ${ROLES}`, collect)
    .option('--display-name <text>', 'full name')
    .option('--email <address>', 'email address')
    .action(async (name: string, opts: UserOpts) => {
      const b = defined({ roles: opts.role, displayName: opts.displayName, email: opts.email });
      requireChanges(b, '--role, --display-name, --email');
      const client = clientFor(opts);
      const u = await client.patch<User>(`/users/${ref(await userIdOf(client, name))}`, b);
      emit(opts, u, (v) => printUsers([v]));
    });

  apiCommand(user, 'remove <user>', 'Remove a user from this tenant (their tokens here are revoked); by username or id', [
    'gantry user remove alice',
  ]).action(async (name: string, opts: ApiOpts) => {
    const client = clientFor(opts);
    await client.delete(`/users/${ref(await userIdOf(client, name))}`);
    emit(opts, { removed: true, user: name }, () => process.stdout.write(`removed user ${name}\n`));
  });

  const tenant = program.command('tenant').description('Tenants (platform admins create them; others see their own)');

  apiCommand(tenant, 'list', 'List tenants', ['gantry tenant list']).action(async (opts: ApiOpts) => {
    const items = await clientFor(opts).listAll<Tenant>('/tenants');
    emit(opts, items, (rows) =>
      printTable(rows, [
        ['NAME', (t) => t.name],
        ['DISPLAY NAME', (t) => t.displayName],
        ['CREATED', (t) => t.createdAt],
        ['ID', (t) => t.id],
      ]),
    );
  });

  apiCommand(tenant, 'create <name>', 'Create a tenant with its first admin; prints that admin’s token once', [
    'gantry tenant create acme --admin alice',
  ])
    .requiredOption('--admin <username>', 'username of the first admin of the new tenant')
    .option('--display-name <text>', 'human-friendly name')
    .action(async (name: string, opts: ApiOpts & { admin: string; displayName?: string }) => {
      const r = await clientFor(opts).post<{ tenant: Tenant; adminToken: string }>(
        '/tenants',
        defined({ name, displayName: opts.displayName, admin: { username: opts.admin } }),
      );
      emit(opts, r, () =>
        process.stdout.write(
          `created tenant ${r.tenant.name} (id ${r.tenant.id}) with admin ${opts.admin}\n` +
            `admin token (shown only now; it is not shown again, store it safely):\n  ${r.adminToken}\n`,
        ),
      );
    });
}
