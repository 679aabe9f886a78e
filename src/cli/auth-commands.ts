// `gantry login` and `gantry whoami`: check a server and token, save them to the config file, and show
// who the CLI is acting as and where its server and token came from.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, emit } from './api-command.js';
import { ApiClient } from './client.js';
import { configPath, readConfig, resolveConnection, writeConfig } from './config.js';
import { CliError, EXIT } from './output.js';

interface WhoAmI {
  tenant: { id: string; name: string };
  user: { id: string; username: string };
  roles: string[];
  isPlatformAdmin: boolean;
}

function describe(w: WhoAmI): string {
  return `${w.user.username} in tenant ${w.tenant.name} (roles: ${w.roles.join(', ') || 'none'}${w.isPlatformAdmin ? '; platform admin' : ''})`;
}

export function registerAuthCommands(program: Command): void {
  apiCommand(program, 'login', 'Check a server URL and API token, then save both to the config file (mode 0600)', [
    'gantry login --server https://gantry.example.com --token gnt_…',
    'GANTRY_TOKEN=gnt_… gantry login --server http://127.0.0.1:8080',
  ]).action(async (opts: ApiOpts) => {
    const file = configPath();
    // The saved config is not an input here: login is how it gets replaced.
    const conn = resolveConnection(opts, process.env, {}, process.cwd(), file);
    if (!conn.token) throw new CliError('a token is needed: pass --token or set GANTRY_TOKEN', EXIT.invalid);
    const me = await new ApiClient(conn).get<WhoAmI>('/whoami');
    writeConfig(file, { server: conn.server, token: conn.token });
    emit(opts, { ...me, server: conn.server, configFile: file }, () =>
      process.stdout.write(`logged in to ${conn.server} as ${describe(me)}\nsaved to ${file}\n`),
    );
  });

  apiCommand(program, 'whoami', 'Show the user, tenant and roles of the current token, and where server and token come from', [
    'gantry whoami',
    'gantry whoami --json',
  ]).action(async (opts: ApiOpts) => {
    const file = configPath();
    const conn = resolveConnection(opts, process.env, readConfig(file), process.cwd(), file);
    const me = await new ApiClient(conn).get<WhoAmI>('/whoami');
    emit(opts, { ...me, server: conn.server, serverSource: conn.serverSource, tokenSource: conn.tokenSource }, () =>
      process.stdout.write(`${describe(me)}\nserver: ${conn.server} (from ${conn.serverSource})\ntoken: from ${conn.tokenSource}\n`),
    );
  });
}
