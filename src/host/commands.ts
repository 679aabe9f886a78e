// The commands that run a Gantry process on this host instead of calling the API: the server and its
// database administration (`gantry server`, `gantry db migrate`, `gantry admin …`), and the agent
// (`gantry agent run|rotate`). They load server or agent modules lazily, so API-client commands stay fast.
import type { Command } from 'commander';
import { registerAdminCommands } from './admin-commands.js';
import { registerAgentProcessCommands } from './agent-commands.js';
import { registerSecretKeyCommands } from './secret-key-commands.js';
import { registerServerCommands } from './server-commands.js';

/** The server host's commands; registered before the API commands, so `gantry admin` is defined here. */
export function registerServerHostCommands(program: Command): void {
  registerServerCommands(program);
  registerAdminCommands(program);
  registerSecretKeyCommands(program);
}

/** The agent process's commands, added to the API commands' `gantry agent` group. */
export function registerAgentHostCommands(program: Command): void {
  registerAgentProcessCommands(program);
}
