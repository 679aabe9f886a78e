// `gantry integration …`: configured connections to registries, scanners, secret stores and notifiers.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, defined, deleted, emit, parseJsonObject, requireChanges } from './api-command.js';
import { ref } from './client.js';
import { printRecord, printTable } from './output.js';

interface Integration {
  id: string;
  name: string;
  typeId: string;
  config: Record<string, unknown>;
  credentialRef: string | null;
  healthStatus: string;
  healthMessage?: string | null;
  lastCheckedAt?: string | null;
  createdAt: string;
  updatedAt: string;
}

interface IntegrationOpts extends ApiOpts {
  type?: string;
  config?: string;
  /** A reference, or false for --no-credential-ref. */
  credentialRef?: string | false;
}

function printIntegration(i: Integration): void {
  printRecord({
    name: i.name,
    type: i.typeId,
    health: i.healthStatus,
    healthMessage: i.healthMessage,
    lastCheckedAt: i.lastCheckedAt,
    config: i.config,
    credentialRef: i.credentialRef,
    id: i.id,
    createdAt: i.createdAt,
    updatedAt: i.updatedAt,
  });
}

function credentialRefOf(opts: IntegrationOpts): string | null | undefined {
  return opts.credentialRef === false ? null : opts.credentialRef;
}

export function registerIntegrationCommands(program: Command): void {
  const integration = program
    .command('integration')
    .description('Integrations: registries, scanners, secret stores and notification channels');

  apiCommand(integration, 'list', 'List integrations with their health', ['gantry integration list']).action(async (opts: ApiOpts) => {
    const items = await clientFor(opts).listAll<Integration>('/integrations');
    emit(opts, items, (rows) =>
      printTable(rows, [
        ['NAME', (i) => i.name],
        ['TYPE', (i) => i.typeId],
        ['HEALTH', (i) => i.healthStatus],
        ['CREDENTIAL REF', (i) => i.credentialRef],
      ]),
    );
  });

  apiCommand(integration, 'get <name>', 'Show one integration (by name or id)', ['gantry integration get local-registry']).action(
    async (name: string, opts: ApiOpts) => {
      emit(opts, await clientFor(opts).get<Integration>(`/integrations/${ref(name)}`), printIntegration);
    },
  );

  apiCommand(integration, 'create <name>', 'Configure an integration', [
    'gantry integration create local-registry --type oci_registry --config \'{"url":"http://127.0.0.1:5000","insecure":true}\'',
    'gantry integration create hub --type oci_registry --config @hub.json --credential-ref env:HUB_CREDENTIALS',
  ])
    .requiredOption(
      '--type <type>',
      "integration type: oci_registry, secret_store_vault, notification_webhook, scanner_webhook, policy_webhook (or a plugin's type)",
    )
    .option('--config <json>', 'configuration JSON object (or @file.json); secrets go in the credential ref, not here')
    .option(
      '--credential-ref <ref>',
      'where the secret lives: secret:<name> (gantry secret set), vault:<integration>/<path>#<key>, or env:NAME / file:/path where the operator allows them',
    )
    .action(async (name: string, opts: IntegrationOpts) => {
      const i = await clientFor(opts).post<Integration>(
        '/integrations',
        defined({
          name,
          typeId: opts.type,
          config: opts.config === undefined ? undefined : parseJsonObject(opts.config, '--config'),
          credentialRef: credentialRefOf(opts),
        }),
      );
      emit(opts, i, () => process.stdout.write(`created integration ${i.name} (${i.typeId}), id ${i.id}, health ${i.healthStatus}\n`));
    });

  apiCommand(integration, 'update <name>', 'Change an integration; only the options given are changed', [
    'gantry integration update hub --config @hub.json',
    'gantry integration update hub --no-credential-ref',
  ])
    .option('--config <json>', 'new configuration JSON object (or @file.json); replaces the current one')
    .option('--credential-ref <ref>', 'new secret-store reference')
    .option('--no-credential-ref', 'remove the credential reference')
    .action(async (name: string, opts: IntegrationOpts) => {
      const b = defined({
        config: opts.config === undefined ? undefined : parseJsonObject(opts.config, '--config'),
        credentialRef: credentialRefOf(opts),
      });
      requireChanges(b, '--config, --credential-ref, --no-credential-ref');
      emit(opts, await clientFor(opts).patch<Integration>(`/integrations/${ref(name)}`, b), printIntegration);
    });

  apiCommand(integration, 'delete <name>', 'Delete an integration (refused while components use it)', [
    'gantry integration delete hub',
  ]).action(async (name: string, opts: ApiOpts) => {
    await clientFor(opts).delete(`/integrations/${ref(name)}`);
    deleted(opts, 'integration', name);
  });
}
