// `gantry completion bash|zsh`: prints a completion script generated from every command this gantry has.
import type { Command } from 'commander';
import { bashCompletion, zshCompletion } from './completion.js';
import { CliError, EXIT } from './output.js';

export function registerCompletionCommands(program: Command): void {
  program
    .command('completion')
    .description('Print a shell completion script (bash or zsh) for every gantry command and option')
    .argument('<shell>', 'bash or zsh')
    .addHelpText(
      'after',
      '\nExamples:\n  source <(gantry completion bash)                          # this shell; add the line to ~/.bashrc to keep it\n  gantry completion bash > /etc/bash_completion.d/gantry\n  gantry completion zsh > "${fpath[1]}/_gantry"             # then restart zsh (compinit)\n',
    )
    .action((shell: string) => {
      // The root program: every command group is registered for this command (CommandGroup.all).
      let root = program;
      while (root.parent) root = root.parent;
      if (shell === 'bash') process.stdout.write(bashCompletion(root));
      else if (shell === 'zsh') process.stdout.write(zshCompletion(root));
      else throw new CliError(`completion scripts are for bash and zsh, not "${shell}"`, EXIT.invalid);
    });
}
