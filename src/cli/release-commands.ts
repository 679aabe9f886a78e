// `gantry release …`: releases (component selections pinned to digests when made ready), and their diffs.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, collect, defined, emit, requireChanges } from './api-command.js';
import { ref } from './client.js';
import { CliError, clip, EXIT, printRecord, printTable } from './output.js';

interface ReleaseComponent {
  component: string;
  selector: { by: string; value: string };
  tag: string | null;
  semver: string | null;
  channel: string | null;
  digest: string | null;
}

interface Release {
  id: string;
  name: string;
  displayName: string;
  status: string;
  components: ReleaseComponent[];
  sourceRef: Record<string, string> | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

interface DiffEntry {
  component: string;
  change: string;
  fields: string[];
  from: { tag: string | null; semver: string | null; digest: string | null } | null;
  to: { tag: string | null; semver: string | null; digest: string | null } | null;
}

interface ReleaseOpts extends ApiOpts {
  component?: string[];
  displayName?: string;
  name?: string;
  repository?: string;
  commit?: string;
  branch?: string;
  ciRun?: string;
  status?: string;
}

/**
 * `--component api` (default channel), `api=1.2.0` (tag), `api@stable` (latest of a channel) or
 * `api@sha256:…` (digest).
 */
export function parseSelection(spec: string): Record<string, string> {
  const m = /^([^=@]+)(?:=(.+)|@(sha256:[0-9a-f]{64})|@(.+))?$/.exec(spec);
  if (!m?.[1]) {
    throw new CliError(`--component must be NAME, NAME=TAG, NAME@CHANNEL or NAME@sha256:DIGEST, got "${spec}"`, EXIT.invalid);
  }
  return defined({ component: m[1], tag: m[2], digest: m[3], channel: m[4] }) as Record<string, string>;
}

function sourceRefOf(opts: ReleaseOpts): Record<string, string> | undefined {
  const s = defined({ repository: opts.repository, commitSha: opts.commit, branch: opts.branch, ciRunUrl: opts.ciRun });
  return Object.keys(s).length > 0 ? (s as Record<string, string>) : undefined;
}

const short = (d: string | null) => (d ? `${d.slice(0, 19)}…` : '-');

function printRelease(r: Release): void {
  printRecord({
    name: r.name,
    status: r.status,
    displayName: r.displayName,
    sourceRef: r.sourceRef,
    createdBy: r.createdBy,
    id: r.id,
    createdAt: r.createdAt,
  });
  process.stdout.write('\n');
  printTable(r.components, [
    ['COMPONENT', (c) => c.component],
    ['SELECTOR', (c) => `${c.selector.by}:${c.selector.value}`],
    ['TAG', (c) => c.tag],
    ['SEMVER', (c) => c.semver],
    ['CHANNEL', (c) => c.channel],
    ['DIGEST', (c) => c.digest],
  ]);
}

function withSourceOptions(cmd: Command): Command {
  return cmd
    .option('--display-name <text>', 'human-friendly name')
    .option('--repository <url>', 'source repository the images were built from')
    .option('--commit <sha>', 'source commit id')
    .option('--branch <name>', 'source branch')
    .option('--ci-run <url>', 'URL of the CI run that built the images');
}

export function registerReleaseCommands(program: Command): void {
  const release = program.command('release').description('Releases: components pinned to image digests');

  apiCommand(release, 'list', 'List releases, newest first', ['gantry release list', 'gantry release list --status ready'])
    .option('--status <status>', 'only releases in this status: draft, ready, deployed, deprecated')
    .action(async (opts: ReleaseOpts) => {
      const items = await clientFor(opts).listAll<Release>('/releases', defined({ status: opts.status }));
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['NAME', (r) => r.name],
          ['STATUS', (r) => r.status],
          ['COMPONENTS', (r) => clip(r.components.map((c) => `${c.component}:${c.tag ?? short(c.digest)}`).join(' '))],
          ['CREATED', (r) => r.createdAt],
        ]),
      );
    });

  apiCommand(release, 'get <release>', 'Show one release (by name or id) with its components and digests', [
    'gantry release get 2026.01.1',
  ]).action(async (name: string, opts: ApiOpts) => {
    emit(opts, await clientFor(opts).get<Release>(`/releases/${ref(name)}`), printRelease);
  });

  withSourceOptions(
    apiCommand(release, 'create <release>', 'Create a draft release', [
      'gantry release create 2026.01.1 --component api@stable --component web=2.3.0',
      'gantry release create hotfix-7 --component api@sha256:<64 hex> --commit 3f2a9c1 --branch main',
    ]),
  )
    .requiredOption('--component <selection>', 'NAME (default channel), NAME=TAG, NAME@CHANNEL or NAME@sha256:DIGEST; repeatable', collect)
    .action(async (name: string, opts: ReleaseOpts) => {
      const r = await clientFor(opts).post<Release>(
        '/releases',
        defined({
          name,
          displayName: opts.displayName,
          components: (opts.component ?? []).map(parseSelection),
          sourceRef: sourceRefOf(opts),
        }),
      );
      emit(opts, r, () => process.stdout.write(`created draft release ${r.name} with ${r.components.length} component(s), id ${r.id}\n`));
    });

  withSourceOptions(
    apiCommand(release, 'update <release>', 'Change a draft release; only the options given change (--component replaces all)', [
      'gantry release update 2026.01.1 --component api=1.1.0 --component web@stable',
    ]),
  )
    .option('--name <name>', 'rename the release')
    .option('--component <selection>', 'NAME, NAME=TAG, NAME@CHANNEL or NAME@sha256:DIGEST; repeatable; replaces every component', collect)
    .action(async (name: string, opts: ReleaseOpts) => {
      const body = defined({
        name: opts.name,
        displayName: opts.displayName,
        components: opts.component?.map(parseSelection),
        sourceRef: sourceRefOf(opts),
      });
      requireChanges(body, '--name, --display-name, --component, --repository, --commit, --branch, --ci-run');
      emit(opts, await clientFor(opts).patch<Release>(`/releases/${ref(name)}`, body), printRelease);
    });

  apiCommand(release, 'ready <release>', 'Resolve and pin every digest; the release becomes immutable', [
    'gantry release ready 2026.01.1',
  ]).action(async (name: string, opts: ApiOpts) => {
    const r = await clientFor(opts).post<Release>(`/releases/${ref(name)}/ready`, {});
    emit(opts, r, (v) => {
      process.stdout.write(`release ${v.name} is ready; pinned:\n`);
      for (const c of v.components) process.stdout.write(`  ${c.component}  ${c.tag ?? '-'}  ${c.digest}\n`);
    });
  });

  apiCommand(release, 'deprecate <release>', 'Deprecate a release so it can no longer be promoted', [
    'gantry release deprecate 2025.12.3',
  ]).action(async (name: string, opts: ApiOpts) => {
    const r = await clientFor(opts).post<Release>(`/releases/${ref(name)}/deprecate`, {});
    emit(opts, r, (v) => process.stdout.write(`release ${v.name} is ${v.status}\n`));
  });

  apiCommand(release, 'diff <from> <to>', 'Show what changed per component between two releases (tag, semver, digest)', [
    'gantry release diff 2026.01.1 2026.01.2',
  ]).action(async (from: string, to: string, opts: ApiOpts) => {
    const d = await clientFor(opts).get<{ components: DiffEntry[] }>(`/releases/${ref(from)}/diff/${ref(to)}`);
    emit(opts, d, (v) =>
      printTable(v.components, [
        ['COMPONENT', (c) => c.component],
        ['CHANGE', (c) => (c.change === 'changed' ? `changed (${c.fields.join(', ')})` : c.change)],
        ['FROM', (c) => (c.from ? `${c.from.tag ?? '-'} ${short(c.from.digest)}` : '-')],
        ['TO', (c) => (c.to ? `${c.to.tag ?? '-'} ${short(c.to.digest)}` : '-')],
      ]),
    );
  });
}
