// `gantry platform …`: who may administer the platform, over the API with a platform admin's platform
// token. The printers are shared with `gantry admin …`, which does the same on the server host.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit } from './api-command.js';
import { ref } from './client.js';
import { printTable } from './output.js';

export interface PlatformAdmin {
  id: string;
  username: string;
  displayName: string;
  homeTenant: string | null;
  createdAt: string;
}
export interface Granted {
  admin: PlatformAdmin;
  token: string | null;
  tenant: string | null;
}

export const printAdmins = (rows: PlatformAdmin[]) =>
  printTable(rows, [
    ['USERNAME', (a) => a.username],
    ['HOME TENANT', (a) => a.homeTenant],
    ['DISPLAY NAME', (a) => a.displayName],
    ['ID', (a) => a.id],
  ]);

export const printGranted = (r: Granted) =>
  process.stdout.write(
    `${r.admin.username} is a platform admin\n` +
      (r.token
        ? `platform token in tenant ${r.tenant} (shown only now; store it safely, hand it to ${r.admin.username}):\n  ${r.token}\n`
        : `no token minted: ${r.admin.username} is a member of no tenant\n`),
  );

export function registerPlatformCommands(program: Command): void {
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
