// `gantry env …`: environments in promotion order, with their approval rules and freeze windows.
import type { Command } from 'commander';
import {
  type ApiOpts,
  apiCommand,
  clientFor,
  defined,
  deleted,
  emit,
  parseIntOption,
  parseJson,
  parseJsonObject,
  requireChanges,
} from './api-command.js';
import { ref } from './client.js';
import { printRecord, printTable } from './output.js';

interface Environment {
  id: string;
  name: string;
  displayName: string;
  orderIndex: number;
  config: Record<string, unknown>;
  freezeWindows: { name: string }[];
  requiredApprovals: number;
  requireSod: boolean;
  createdAt: string;
  updatedAt: string;
}

interface EnvOpts extends ApiOpts {
  displayName?: string;
  order?: string;
  requiredApprovals?: string;
  requireSod?: boolean;
  config?: string;
  freezeWindows?: string;
}

function body(opts: EnvOpts) {
  return defined({
    displayName: opts.displayName,
    orderIndex: opts.order === undefined ? undefined : parseIntOption(opts.order, '--order'),
    requiredApprovals: opts.requiredApprovals === undefined ? undefined : parseIntOption(opts.requiredApprovals, '--required-approvals'),
    requireSod: opts.requireSod,
    config: opts.config === undefined ? undefined : parseJsonObject(opts.config, '--config'),
    freezeWindows: opts.freezeWindows === undefined ? undefined : parseJson(opts.freezeWindows, '--freeze-windows'),
  });
}

function withBodyOptions(cmd: Command, update: boolean): Command {
  cmd
    .option('--display-name <text>', 'human-friendly name shown in the UI')
    .option('--order <n>', 'position in the promotion order (0 = first); default: after the last')
    .option('--required-approvals <n>', 'distinct approvals a promotion into this environment needs')
    .option('--require-sod', 'separation of duties: requester, release creator and approvers must differ');
  if (update) cmd.option('--no-require-sod', 'turn separation of duties off');
  return cmd
    .option('--config <json>', 'environment config JSON, e.g. \'{"autoRollback":true}\' (or @file.json)')
    .option('--freeze-windows <json>', 'freeze windows as a JSON array, or @file.json (replaces all windows)');
}

function printEnvironment(e: Environment): void {
  printRecord({
    name: e.name,
    displayName: e.displayName,
    order: e.orderIndex,
    requiredApprovals: e.requiredApprovals,
    requireSod: e.requireSod,
    config: e.config,
    freezeWindows: e.freezeWindows,
    id: e.id,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  });
}

export function registerEnvCommands(program: Command): void {
  const env = program.command('env').description('Environments: the ordered stages a release is promoted through');

  apiCommand(env, 'list', 'List environments in promotion order', ['gantry env list', 'gantry env list --json']).action(
    async (opts: ApiOpts) => {
      const items = await clientFor(opts).listAll<Environment>('/environments');
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['ORDER', (e) => e.orderIndex],
          ['NAME', (e) => e.name],
          ['DISPLAY NAME', (e) => e.displayName],
          ['APPROVALS', (e) => e.requiredApprovals],
          ['SOD', (e) => (e.requireSod ? 'yes' : 'no')],
          ['FREEZE WINDOWS', (e) => e.freezeWindows.map((w) => w.name).join(', ') || '-'],
        ]),
      );
    },
  );

  apiCommand(env, 'get <name>', 'Show one environment (by name or id)', ['gantry env get prod']).action(
    async (name: string, opts: ApiOpts) => {
      const e = await clientFor(opts).get<Environment>(`/environments/${ref(name)}`);
      emit(opts, e, printEnvironment);
    },
  );

  withBodyOptions(
    apiCommand(env, 'create <name>', 'Create an environment', [
      'gantry env create dev',
      'gantry env create prod --display-name Production --required-approvals 2 --require-sod',
      'gantry env create prod --freeze-windows \'[{"kind":"recurring","name":"weekend","rrule":"FREQ=WEEKLY;BYDAY=FR;BYHOUR=18","timezone":"Europe/Berlin","durationMinutes":3840}]\'',
      'gantry env create prod --freeze-windows @freeze.json',
    ]),
    false,
  ).action(async (name: string, opts: EnvOpts) => {
    const e = await clientFor(opts).post<Environment>('/environments', { name, ...body(opts) });
    emit(opts, e, () => process.stdout.write(`created environment ${e.name} (order ${e.orderIndex}, id ${e.id})\n`));
  });

  withBodyOptions(
    apiCommand(env, 'update <name>', 'Change an environment; only the options given are changed', [
      'gantry env update prod --required-approvals 3',
      'gantry env update prod --no-require-sod',
      "gantry env update prod --freeze-windows '[]'   # remove all freeze windows",
    ]),
    true,
  ).action(async (name: string, opts: EnvOpts) => {
    const b = body(opts);
    requireChanges(b, '--display-name, --order, --required-approvals, --[no-]require-sod, --config, --freeze-windows');
    const e = await clientFor(opts).patch<Environment>(`/environments/${ref(name)}`, b);
    emit(opts, e, printEnvironment);
  });

  apiCommand(env, 'delete <name>', 'Delete an environment (refused while targets or history refer to it)', [
    'gantry env delete scratch',
  ]).action(async (name: string, opts: ApiOpts) => {
    await clientFor(opts).delete(`/environments/${ref(name)}`);
    deleted(opts, 'environment', name);
  });
}
