// `gantry target …`: the Docker, Compose and SSH hosts of an environment that deployments land on.
import type { Command } from 'commander';
import {
  type ApiOpts,
  apiCommand,
  applyLabels,
  clientFor,
  collect,
  defined,
  deleted,
  emit,
  parseIntOption,
  parseJsonObject,
  requireChanges,
} from './api-command.js';
import { type ApiClient, ref } from './client.js';
import { CliError, clip, EXIT, printRecord, printTable } from './output.js';

const TARGET_TYPES = ['docker_host', 'compose_host', 'ssh_host'] as const;

interface Target {
  id: string;
  name: string;
  environmentId: string;
  environmentName: string;
  targetType: string;
  connection: Record<string, unknown>;
  labels: Record<string, string>;
  healthStatus: string;
  currentDigest: string | null;
  createdAt: string;
  updatedAt: string;
}

interface TargetOpts extends ApiOpts {
  env?: string;
  type?: string;
  connection?: string;
  label?: string[];
  dockerHost?: string;
  projectDir?: string;
  composeCommand?: string;
  sshHost?: string;
  sshPort?: string;
  sshUser?: string;
  credentialRef?: string;
  projectName?: string;
  hostKeyFingerprint?: string;
}

/** The convenience flags as connection fields; they are laid over --connection (or the current connection on update). */
function connectionFlags(opts: TargetOpts): Record<string, unknown> {
  return defined({
    dockerHost: opts.dockerHost,
    projectDir: opts.projectDir,
    composeCommand: opts.composeCommand,
    projectName: opts.projectName,
    host: opts.sshHost,
    port: opts.sshPort === undefined ? undefined : parseIntOption(opts.sshPort, '--ssh-port'),
    user: opts.sshUser,
    credentialRef: opts.credentialRef,
    hostKeyFingerprint: opts.hostKeyFingerprint,
  });
}

function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--connection <json>', 'connection JSON (or @file.json); the flags below are merged into it')
    .option('--docker-host <url>', 'Docker Engine API endpoint, e.g. unix:///var/run/docker.sock or tcp://host:2376')
    .option('--project-dir <dir>', 'compose_host: directory holding the compose project on the host')
    .option('--compose-command <cmd>', 'compose_host: compose command, e.g. "docker compose" (default) or "docker-compose"')
    .option('--project-name <name>', 'compose_host: compose project name')
    .option('--ssh-host <host>', 'ssh_host: host name or address')
    .option('--ssh-port <port>', 'ssh_host: port (default 22)')
    .option('--ssh-user <user>', 'ssh_host: login user')
    .option(
      '--credential-ref <ref>',
      'ssh_host: the private key as a secret reference (env:NAME, file:/path, vault:<integration>/<path>#<key>)',
    )
    .option('--host-key-fingerprint <fp>', 'ssh_host: pin the host key, e.g. SHA256:…')
    .option('--label <key=value>', 'label, repeatable; on update "key-" removes a label', collect);
}

async function environmentId(client: ApiClient, env: string): Promise<string> {
  return (await client.get<{ id: string }>(`/environments/${ref(env)}`)).id;
}

function printTarget(t: Target): void {
  printRecord({
    name: t.name,
    environment: t.environmentName,
    type: t.targetType,
    health: t.healthStatus,
    currentDigest: t.currentDigest,
    connection: t.connection,
    labels: t.labels,
    id: t.id,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  });
}

function labelText(labels: Record<string, string>): string {
  return (
    Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-'
  );
}

export function registerTargetCommands(program: Command): void {
  const target = program.command('target').description('Targets: Docker, Compose and SSH hosts that releases are deployed to');

  apiCommand(target, 'list', 'List targets, optionally of one environment', ['gantry target list', 'gantry target list --env prod --json'])
    .option('--env <env>', 'only targets of this environment (name or id)')
    .action(async (opts: TargetOpts) => {
      const items = await clientFor(opts).listAll<Target>('/targets', { environment: opts.env });
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['NAME', (t) => t.name],
          ['ENVIRONMENT', (t) => t.environmentName],
          ['TYPE', (t) => t.targetType],
          ['HEALTH', (t) => t.healthStatus],
          ['LABELS', (t) => clip(labelText(t.labels), 40)],
          ['DIGEST', (t) => (t.currentDigest ? clip(t.currentDigest, 19) : '-')],
        ]),
      );
    });

  apiCommand(target, 'get <name>', 'Show one target (by name or id)', ['gantry target get web-1']).action(
    async (name: string, opts: ApiOpts) => {
      emit(opts, await clientFor(opts).get<Target>(`/targets/${ref(name)}`), printTarget);
    },
  );

  withConnectionOptions(
    apiCommand(target, 'create <name>', 'Register a target in an environment', [
      'gantry target create web-1 --env prod --type docker_host --docker-host unix:///var/run/docker.sock --label role=web',
      'gantry target create app-1 --env staging --type compose_host --docker-host unix:///var/run/docker.sock --project-dir /srv/app',
      'gantry target create db-1 --env prod --type ssh_host --ssh-host 10.0.0.5 --ssh-user deploy --credential-ref file:/etc/gantry/deploy_ed25519',
      'gantry target create web-2 --env prod --type docker_host --connection \'{"dockerHost":"tcp://10.0.0.6:2376"}\'',
    ]),
  )
    .requiredOption('--env <env>', 'environment (name or id)')
    .requiredOption('--type <type>', `target type: ${TARGET_TYPES.join(', ')}`)
    .action(async (name: string, opts: TargetOpts) => {
      if (!(TARGET_TYPES as readonly string[]).includes(opts.type ?? '')) {
        throw new CliError(`--type must be one of ${TARGET_TYPES.join(', ')}, got "${opts.type}"`, EXIT.invalid);
      }
      const connection = { ...(opts.connection ? parseJsonObject(opts.connection, '--connection') : {}), ...connectionFlags(opts) };
      const labels = applyLabels({}, opts.label ?? []);
      const client = clientFor(opts);
      const t = await client.post<Target>('/targets', {
        name,
        environmentId: await environmentId(client, opts.env!),
        targetType: opts.type,
        connection,
        labels,
      });
      emit(opts, t, () => process.stdout.write(`created target ${t.name} (${t.targetType}) in ${t.environmentName}, id ${t.id}\n`));
    });

  withConnectionOptions(
    apiCommand(target, 'update <name>', 'Change a target; connection flags and labels are merged into the current values', [
      'gantry target update web-1 --docker-host tcp://10.0.0.7:2376',
      'gantry target update web-1 --label tier=frontend --label old-',
      'gantry target update web-1 --env staging',
    ]),
  )
    .option('--env <env>', 'move the target to this environment (name or id)')
    .action(async (name: string, opts: TargetOpts) => {
      const client = clientFor(opts);
      const flags = connectionFlags(opts);
      const needCurrent = Object.keys(flags).length > 0 || (opts.label?.length ?? 0) > 0;
      const current = needCurrent ? await client.get<Target>(`/targets/${ref(name)}`) : undefined;
      const base = opts.connection ? parseJsonObject(opts.connection, '--connection') : current?.connection;
      const b = defined({
        connection: opts.connection || Object.keys(flags).length ? { ...base, ...flags } : undefined,
        labels: opts.label?.length ? applyLabels(current?.labels ?? {}, opts.label) : undefined,
        environmentId: opts.env ? await environmentId(client, opts.env) : undefined,
      });
      requireChanges(b, '--connection (or a connection flag), --label, --env');
      emit(opts, await client.patch<Target>(`/targets/${ref(name)}`, b), printTarget);
    });

  apiCommand(target, 'delete <name>', 'Delete a target', ['gantry target delete web-1']).action(async (name: string, opts: ApiOpts) => {
    await clientFor(opts).delete(`/targets/${ref(name)}`);
    deleted(opts, 'target', name);
  });
}
