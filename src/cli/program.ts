// The gantry command line: the program (name, help, usage-error exit code) and how it runs. Command
// groups are registered by the entry point (src/main.ts).
import { Command, CommanderError } from 'commander';
import { EXIT, exitWithError } from './output.js';

export function createProgram(): Command {
  return (
    new Command()
      .name('gantry')
      .description('Gantry — digest-pinned releases, gated promotions and signed evidence for Docker and Compose estates.')
      .version('0.1.0')
      .showHelpAfterError('(run with --help for usage)')
      .configureHelp({ sortSubcommands: true })
      // Set before registering commands so every subcommand inherits it: usage errors (unknown option,
      // missing argument) exit with the "invalid input" code instead of commander's generic 1.
      .exitOverride()
  );
}

/** Parses the process's arguments and runs the command; errors become a message and an exit code. */
export function runProgram(program: Command): void {
  program.parseAsync(process.argv).catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.invalid);
    exitWithError(err);
  });
}
