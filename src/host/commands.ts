// Registers the commands that run on the server host against its own database: `gantry server`,
// `gantry db migrate`, `gantry admin …`. They load server modules lazily, so API-client commands stay fast.
import type { Command } from 'commander';
import { registerAdminCommands } from './admin-commands.js';
import { registerSecretKeyCommands } from './secret-key-commands.js';
import { registerServerCommands } from './server-commands.js';

export function registerHostCommands(program: Command): void {
  registerServerCommands(program);
  registerAdminCommands(program);
  registerSecretKeyCommands(program);
}
