// `gantry component …`: deployable components, each an image repository with a versioning strategy.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, defined, deleted, emit, requireChanges } from './api-command.js';
import { type ApiClient, ref } from './client.js';
import { CliError, EXIT, printRecord, printTable } from './output.js';

const STRATEGIES = ['semver', 'date', 'sequential', 'manual'] as const;

interface VersioningStrategy {
  type: string;
  tagPattern?: string;
  semverExtract?: string;
}

interface Component {
  id: string;
  name: string;
  displayName: string;
  imageRepository: string;
  registryIntegrationId: string | null;
  versioningStrategy: VersioningStrategy;
  defaultChannel: string;
  createdAt: string;
  updatedAt: string;
}

interface SyncResult {
  component: string;
  registry: string;
  repository: string;
  tags: number;
  added: number;
  moved: number;
  removed: number;
  unchanged: number;
  skipped: { tag: string; reason: string }[];
}

interface VersionMap {
  tag: string;
  digest: string;
  semver: string | null;
  channel: string | null;
  current: boolean;
  supersededAt: string | null;
}

interface ComponentOpts extends ApiOpts {
  image?: string;
  /** A name, or false for --no-registry. */
  registry?: string | false;
  strategy?: string;
  tagPattern?: string;
  semverExtract?: string;
  defaultChannel?: string;
  displayName?: string;
}

function withBodyOptions(cmd: Command): Command {
  return cmd
    .option('--display-name <text>', 'human-friendly name')
    .option('--registry <integration>', 'registry integration (name or id) used to resolve tags to digests')
    .option('--strategy <type>', `versioning strategy: ${STRATEGIES.join(', ')} (default semver)`)
    .option('--tag-pattern <regex>', 'only tags matching this regular expression are versions')
    .option('--semver-extract <regex>', 'regular expression whose first group extracts the version from a tag')
    .option('--default-channel <channel>', 'channel new versions land in (default stable)');
}

async function integrationId(client: ApiClient, registry: string | false | undefined): Promise<string | null | undefined> {
  if (registry === undefined) return undefined;
  if (registry === false) return null;
  return (await client.get<{ id: string }>(`/integrations/${ref(registry)}`)).id;
}

function strategyOf(opts: ComponentOpts, current?: VersioningStrategy): VersioningStrategy | undefined {
  if (opts.strategy === undefined && opts.tagPattern === undefined && opts.semverExtract === undefined) return undefined;
  if (opts.strategy !== undefined && !(STRATEGIES as readonly string[]).includes(opts.strategy)) {
    throw new CliError(`--strategy must be one of ${STRATEGIES.join(', ')}, got "${opts.strategy}"`, EXIT.invalid);
  }
  // Changing only the tag pattern keeps the current strategy type and its other settings.
  const type = opts.strategy ?? current?.type ?? 'semver';
  const keep = current && current.type === type ? current : { type };
  return defined({ ...keep, type, tagPattern: opts.tagPattern, semverExtract: opts.semverExtract }) as VersioningStrategy;
}

function printComponent(c: Component): void {
  printRecord({
    name: c.name,
    displayName: c.displayName,
    image: c.imageRepository,
    registryIntegrationId: c.registryIntegrationId,
    versioning: c.versioningStrategy,
    defaultChannel: c.defaultChannel,
    id: c.id,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  });
}

export function registerComponentCommands(program: Command): void {
  const component = program.command('component').description('Components: deployable images and how their versions are read');

  apiCommand(component, 'list', 'List components', ['gantry component list']).action(async (opts: ApiOpts) => {
    const items = await clientFor(opts).listAll<Component>('/components');
    emit(opts, items, (rows) =>
      printTable(rows, [
        ['NAME', (c) => c.name],
        ['IMAGE', (c) => c.imageRepository],
        ['STRATEGY', (c) => c.versioningStrategy.type],
        ['CHANNEL', (c) => c.defaultChannel],
        ['REGISTRY', (c) => (c.registryIntegrationId ? 'yes' : '-')],
      ]),
    );
  });

  apiCommand(component, 'get <name>', 'Show one component (by name or id)', ['gantry component get api']).action(
    async (name: string, opts: ApiOpts) => {
      emit(opts, await clientFor(opts).get<Component>(`/components/${ref(name)}`), printComponent);
    },
  );

  withBodyOptions(
    apiCommand(component, 'create <name>', 'Create a component', [
      'gantry component create api --image registry.example.com/shop/api',
      'gantry component create web --image 127.0.0.1:5000/demo/web --registry local-registry --strategy semver --tag-pattern "^v?\\d+\\.\\d+\\.\\d+$"',
    ]),
  )
    .requiredOption('--image <repository>', 'image repository, e.g. registry.example.com/team/app (no tag)')
    .action(async (name: string, opts: ComponentOpts) => {
      const client = clientFor(opts);
      const c = await client.post<Component>(
        '/components',
        defined({
          name,
          displayName: opts.displayName,
          imageRepository: opts.image,
          registryIntegrationId: await integrationId(client, opts.registry),
          versioningStrategy: strategyOf(opts),
          defaultChannel: opts.defaultChannel,
        }),
      );
      emit(opts, c, () => process.stdout.write(`created component ${c.name} (${c.imageRepository}), id ${c.id}\n`));
    });

  withBodyOptions(
    apiCommand(component, 'update <name>', 'Change a component; only the options given are changed', [
      'gantry component update api --image registry.example.com/shop/api-v2',
      'gantry component update api --strategy date --tag-pattern "^\\d{8}$"',
      'gantry component update api --no-registry',
    ]),
  )
    .option('--image <repository>', 'new image repository')
    .option('--no-registry', 'detach the registry integration')
    .action(async (name: string, opts: ComponentOpts) => {
      const client = clientFor(opts);
      const needsCurrent = opts.strategy === undefined && (opts.tagPattern !== undefined || opts.semverExtract !== undefined);
      const current = needsCurrent ? await client.get<Component>(`/components/${ref(name)}`) : undefined;
      const b = defined({
        displayName: opts.displayName,
        imageRepository: opts.image,
        registryIntegrationId: await integrationId(client, opts.registry),
        versioningStrategy: strategyOf(opts, current?.versioningStrategy),
        defaultChannel: opts.defaultChannel,
      });
      requireChanges(
        b,
        '--display-name, --image, --registry/--no-registry, --strategy, --tag-pattern, --semver-extract, --default-channel',
      );
      emit(opts, await client.patch<Component>(`/components/${ref(name)}`, b), printComponent);
    });

  apiCommand(component, 'sync <name>', "Sync the component's version map from its registry now", ['gantry component sync api']).action(
    async (name: string, opts: ApiOpts) => {
      const r = await clientFor(opts).post<SyncResult>(`/components/${ref(name)}/sync-versions`, {});
      emit(opts, r, (v) => {
        process.stdout.write(
          `synced ${v.component} from ${v.registry} (${v.repository}): ${v.tags} tag(s); ${v.added} added, ${v.moved} moved, ${v.removed} removed, ${v.unchanged} unchanged\n`,
        );
        for (const s of v.skipped) process.stdout.write(`  skipped ${s.tag}: ${s.reason}\n`);
      });
    },
  );

  apiCommand(component, 'versions <name>', 'List the versions (tag → digest) of a component, newest first', [
    'gantry component versions api',
    'gantry component versions api --channel stable',
    'gantry component versions api --history',
  ])
    .option('--channel <channel>', 'only this channel')
    .option('--history', 'include superseded mappings (tags that moved or were removed)')
    .action(async (name: string, opts: ApiOpts & { channel?: string; history?: boolean }) => {
      const items = await clientFor(opts).listAll<VersionMap>(
        `/components/${ref(name)}/versions`,
        defined({ channel: opts.channel, history: opts.history ? 'true' : undefined }),
      );
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['TAG', (v) => v.tag],
          ['SEMVER', (v) => v.semver],
          ['CHANNEL', (v) => v.channel],
          ['DIGEST', (v) => v.digest],
          ['CURRENT', (v) => (v.current ? 'yes' : `no (until ${v.supersededAt})`)],
        ]),
      );
    });

  apiCommand(component, 'delete <name>', 'Delete a component', ['gantry component delete api']).action(
    async (name: string, opts: ApiOpts) => {
      await clientFor(opts).delete(`/components/${ref(name)}`);
      deleted(opts, 'component', name);
    },
  );
}
