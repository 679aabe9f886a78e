// The command groups the entry point composes: each declares the top-level commands its module registers
// (so `gantry <name>` loads the right module), and registerGroups loads only what a command line needs.
import { describe, expect, it } from 'vitest';
import { agentHostGroups, serverHostGroups } from '../host/commands.js';
import { cliCommandGroups } from './commands.js';
import { type CommandGroup, createProgram, registerGroups } from './program.js';

const all = [...serverHostGroups, ...cliCommandGroups, ...agentHostGroups];
const argv = (...args: string[]) => ['node', 'gantry', ...args];
const topLevel = (groups: readonly CommandGroup[]) => [...new Set(groups.flatMap((g) => g.names))].sort();

describe('command groups', () => {
  it.each(all.map((g, i) => [g.names.join(' '), i] as const))('%s: names are the commands its module registers', async (_, i) => {
    const program = createProgram();
    (await all[i]!.load())(program);
    expect(program.commands.map((c) => c.name()).sort()).toEqual([...all[i]!.names].sort());
  });

  it('registers only the groups of the command being run, in order', async () => {
    const program = createProgram();
    await registerGroups(program, all, argv('agent', 'run', '--noop'));
    expect(program.commands.map((c) => c.name())).toEqual(['agent']);
    const agent = program.commands[0]!;
    expect(agent.commands.map((c) => c.name())).toEqual(['list', 'get', 'token', 'revoke', 'run', 'rotate', 'install-service']);

    const env = createProgram();
    await registerGroups(env, all, argv('env', 'list', '--json'));
    expect(env.commands.map((c) => c.name())).toEqual(['env']);
  });

  it('registers every group for help, options first and unknown commands (so commander can suggest one)', async () => {
    for (const args of [[], ['--help'], ['-V'], ['help', 'env'], ['evn', 'list']]) {
      const program = createProgram();
      await registerGroups(program, all, argv(...args));
      expect(topLevel([{ names: program.commands.map((c) => c.name()), load: async () => () => {} }])).toEqual(topLevel(all));
    }
  });
});
