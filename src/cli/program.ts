// The gantry command line: the program (name, help, usage-error exit code), the command groups it is
// composed of, and how it runs. Command groups are listed by the entry point (src/main.ts).
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
      // Options belong to the command they follow, so a subcommand may share an option name with its
      // parent (`gantry server --port` and `gantry server install-service --port`).
      .enablePositionalOptions()
      // Set before registering commands so every subcommand inherits it: usage errors (unknown option,
      // missing argument) exit with the "invalid input" code instead of commander's generic 1.
      .exitOverride()
  );
}

/**
 * Commands registered together from one module, loaded only when needed: `names` are the top-level
 * commands the module defines or adds subcommands to (src/cli/commands.test.ts checks they match).
 */
export interface CommandGroup {
  names: readonly string[];
  /** The module needs every command registered (`gantry completion` describes them all). */
  all?: boolean;
  load(): Promise<(program: Command) => void>;
}

/**
 * Registers, in the order given, the groups this command line needs: for `gantry <name> …` only the groups
 * that define <name>, so a command loads its own module and not every other command's; all of them for
 * anything else (`gantry --help`, `--version`, `help`, an unknown command and commander's suggestion).
 */
export async function registerGroups(
  program: Command,
  groups: readonly CommandGroup[],
  argv: readonly string[] = process.argv,
): Promise<void> {
  const first = argv[2];
  const own = first && !first.startsWith('-') ? groups.filter((g) => g.names.includes(first)) : [];
  const needed = own.length && !own.some((g) => g.all) ? own : groups;
  const registers = await Promise.all(needed.map((g) => g.load()));
  for (const register of registers) register(program);
}

/** Parses the process's arguments and runs the command; errors become a message and an exit code. */
export function runProgram(program: Command): void {
  program.parseAsync(process.argv).catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.invalid);
    exitWithError(err);
  });
}
