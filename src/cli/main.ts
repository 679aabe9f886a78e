// The gantry command line: parses arguments and dispatches to command modules.
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands.js';
import { EXIT, exitWithError } from './output.js';

const program = new Command();
program
  .name('gantry')
  .description('Gantry — digest-pinned releases, gated promotions and signed evidence for Docker and Compose estates.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .configureHelp({ sortSubcommands: true })
  // Set before registering commands so every subcommand inherits it: usage errors (unknown option,
  // missing argument) exit with the "invalid input" code instead of commander's generic 1.
  .exitOverride();
registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.invalid);
  exitWithError(err);
});
