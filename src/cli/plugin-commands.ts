// `gantry plugin …`: install a plugin package (a directory or a .tgz), list, show, enable, disable; and
// `gantry plugin instance …` for this tenant's plugin config.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { create as tarCreate } from 'tar';
import { type ApiOpts, apiCommand, clientFor, defined, deleted, emit, parseJsonObject, requireChanges } from './api-command.js';
import { ref } from './client.js';
import { CliError, EXIT, printRecord, printTable } from './output.js';

interface Plugin {
  id: string;
  pluginId: string;
  version: string;
  vendor: string;
  description: string;
  apiVersion: string;
  status: string;
  statusReason: string | null;
  entrypoint: string;
  contributes: Record<string, { name: string; description: string }[]>;
  archiveSha256: string | null;
  installedBy: string | null;
  installedAt: string;
}

interface Instance {
  id: string;
  pluginId: string;
  config: Record<string, unknown>;
  enabled: boolean;
}

const contributed = (p: Plugin) =>
  Object.entries(p.contributes)
    .flatMap(([kind, items]) => items.map((i) => `${kind === 'gates' ? 'gate' : kind === 'stepTypes' ? 'step' : kind}:${i.name}`))
    .join(', ');

function printPlugin(p: Plugin): void {
  printRecord({
    plugin: p.pluginId,
    version: p.version,
    vendor: p.vendor,
    status: p.status,
    reason: p.statusReason,
    contributes: contributed(p),
    gates: p.contributes.gates?.map((g) => `plugin.${p.pluginId}.${g.name}`).join(', '),
    apiVersion: p.apiVersion,
    entrypoint: p.entrypoint,
    archiveSha256: p.archiveSha256,
    installedBy: p.installedBy,
    installedAt: p.installedAt,
  });
}

// Skipped when packing a directory: dependencies are the plugin's to bundle, and VCS data is not code.
const SKIP = /(^|\/)(node_modules|\.git)(\/|$)/;

/** Packs a plugin directory into a .tgz in memory (node-tar, portable headers: no owner names or modes). */
export async function packPlugin(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = tarCreate({ gzip: true, cwd: dir, portable: true, filter: (p) => !SKIP.test(p) }, ['.']);
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A directory is packed; a file is sent as it is (a .tgz from `npm pack` or an earlier pack). */
export async function readPackage(source: string): Promise<Buffer> {
  const s = await stat(source).catch(() => undefined);
  if (!s) throw new CliError(`${source} does not exist; give a plugin directory or a .tgz`, EXIT.invalid);
  if (s.isDirectory()) {
    const manifest = await stat(path.join(source, 'gantry-plugin.json')).catch(() => undefined);
    if (!manifest) throw new CliError(`${source} has no gantry-plugin.json; is it a Gantry plugin?`, EXIT.invalid);
    return packPlugin(source);
  }
  return readFile(source);
}

export function registerPluginCommands(program: Command): void {
  const plugin = program.command('plugin').description('Plugins: gates, step types and notification channels from outside Gantry');

  apiCommand(plugin, 'install <path>', 'Install or upgrade a plugin from a directory or a .tgz (platform admins)', [
    'gantry plugin install ./examples/plugins/change-window --enable',
    'gantry plugin install acme-gantry-change-window-1.0.0.tgz',
  ])
    .option('--enable', 'activate it right away')
    .action(async (source: string, opts: ApiOpts & { enable?: boolean }) => {
      const archive = (await readPackage(source)).toString('base64');
      const p = await clientFor(opts).post<Plugin>('/plugins', { archive, enable: opts.enable === true });
      emit(opts, p, () => {
        process.stdout.write(`installed plugin ${p.pluginId} ${p.version}: ${p.status}${p.statusReason ? ` (${p.statusReason})` : ''}\n`);
        if (p.contributes.gates?.length) {
          process.stdout.write(`gates: ${p.contributes.gates.map((g) => `plugin.${p.pluginId}.${g.name}`).join(', ')}\n`);
        }
      });
      if (p.status === 'failed') process.exitCode = EXIT.invalid;
    });

  apiCommand(plugin, 'list', 'List installed plugins and their status').action(async (opts: ApiOpts) => {
    const items = await clientFor(opts).listAll<Plugin>('/plugins');
    emit(opts, items, (rows) =>
      printTable(rows, [
        ['PLUGIN', (p) => p.pluginId],
        ['VERSION', (p) => p.version],
        ['STATUS', (p) => p.status],
        ['CONTRIBUTES', contributed],
        ['REASON', (p) => p.statusReason],
      ]),
    );
  });

  apiCommand(plugin, 'get <plugin>', 'Show one plugin', ['gantry plugin get acme-window']).action(async (id: string, opts: ApiOpts) => {
    emit(opts, await clientFor(opts).get<Plugin>(`/plugins/${ref(id)}`), printPlugin);
  });

  for (const verb of ['enable', 'disable'] as const) {
    apiCommand(
      plugin,
      `${verb} <plugin>`,
      verb === 'enable' ? 'Activate a plugin (platform admins)' : 'Disable a plugin everywhere (platform admins)',
    ).action(async (id: string, opts: ApiOpts) => {
      const p = await clientFor(opts).post<Plugin>(`/plugins/${ref(id)}/${verb}`, {});
      emit(opts, p, () => process.stdout.write(`plugin ${p.pluginId}: ${p.status}${p.statusReason ? ` (${p.statusReason})` : ''}\n`));
      if (verb === 'enable' && p.status === 'failed') process.exitCode = EXIT.invalid;
    });
  }

  const instance = plugin.command('instance').description("This tenant's plugin instances (config and enabled)");
  const printInstance = (i: Instance) => printRecord({ plugin: i.pluginId, enabled: i.enabled, config: i.config, id: i.id });

  apiCommand(instance, 'list', "This tenant's plugin instances").action(async (opts: ApiOpts) => {
    const items = await clientFor(opts).listAll<Instance>('/plugin-instances');
    emit(opts, items, (rows) =>
      printTable(rows, [
        ['PLUGIN', (i) => i.pluginId],
        ['ENABLED', (i) => String(i.enabled)],
        ['CONFIG', (i) => JSON.stringify(i.config)],
      ]),
    );
  });

  apiCommand(instance, 'create <plugin>', 'Set a plugin up for this tenant (tenant admins)', [
    'gantry plugin instance create acme-window --config \'{"timeZone":"Europe/Berlin"}\'',
  ])
    .option('--config <json>', "config JSON object (or @file.json), checked against the plugin's configSchema")
    .option('--disabled', 'create it disabled')
    .action(async (id: string, opts: ApiOpts & { config?: string; disabled?: boolean }) => {
      const body = { pluginId: id, config: opts.config ? parseJsonObject(opts.config, '--config') : {}, enabled: !opts.disabled };
      emit(opts, await clientFor(opts).post<Instance>('/plugin-instances', body), printInstance);
    });

  apiCommand(instance, 'update <plugin>', "Change this tenant's plugin config or enable/disable it")
    .option('--config <json>', 'new config JSON object (or @file.json)')
    .option('--enable', 'enable it')
    .option('--disable', 'disable it')
    .action(async (id: string, opts: ApiOpts & { config?: string; enable?: boolean; disable?: boolean }) => {
      if (opts.enable && opts.disable) throw new CliError('--enable and --disable contradict each other', EXIT.invalid);
      const body = defined({
        config: opts.config ? parseJsonObject(opts.config, '--config') : undefined,
        enabled: opts.enable ? true : opts.disable ? false : undefined,
      });
      requireChanges(body, '--config, --enable, --disable');
      emit(opts, await clientFor(opts).patch<Instance>(`/plugin-instances/${ref(id)}`, body), printInstance);
    });

  apiCommand(instance, 'delete <plugin>', "Remove this tenant's instance of a plugin").action(async (id: string, opts: ApiOpts) => {
    await clientFor(opts).delete(`/plugin-instances/${ref(id)}`);
    deleted(opts, 'plugin instance', id);
  });
}
