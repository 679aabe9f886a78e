// Registers every CLI command group.
import type { Command } from 'commander';
import { registerServerCommands } from './server-commands.js';

export function registerCommands(program: Command): void {
  registerServerCommands(program);
}
