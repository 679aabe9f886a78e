// The gantry command line: parses arguments and dispatches to command modules.
import { Command } from 'commander';
import { registerCommands } from './commands.js';
import { exitWithError } from './output.js';

const program = new Command();
program
  .name('gantry')
  .description('Gantry — digest-pinned releases, gated promotions and signed evidence for Docker and Compose estates.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .configureHelp({ sortSubcommands: true });
registerCommands(program);

program.parseAsync(process.argv).catch(exitWithError);
