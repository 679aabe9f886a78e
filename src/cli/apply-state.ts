// What the server holds, in the file format of `gantry apply`: read through the API (the same lists the
// `list` commands use), with ids turned into names. `gantry export` writes it as files; the plan diffs it.
import { stringify } from 'yaml';
import { API_VERSION, KINDS, type Kind } from './apply-format.js';
import type { Resource } from './apply-load.js';
import { canonical, withDefaults } from './apply-plan.js';
import type { ApiClient } from './client.js';

interface Named {
  id: string;
  name: string;
}
interface EnvironmentItem extends Named {
  displayName: string;
  orderIndex: number;
  config: Record<string, unknown>;
  freezeWindows: unknown[];
  requiredApprovals: number;
  requireSod: boolean;
}
interface TargetItem extends Named {
  environmentName: string;
  targetType: string;
  connection: Record<string, unknown>;
  labels: Record<string, string>;
}
interface ComponentItem extends Named {
  displayName: string;
  imageRepository: string;
  registryIntegrationId: string | null;
  versioningStrategy: Record<string, unknown>;
  defaultChannel: string;
}
interface IntegrationItem extends Named {
  typeId: string;
  config: Record<string, unknown>;
  credentialRef: string | null;
}
interface TemplateItem extends Named {
  isBuiltin: boolean;
  nodes: unknown[];
  edges: unknown[];
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

export interface ServerState {
  resources: Resource[];
  /** Ids of environments and integrations by name, for the references of request bodies. */
  environmentIds: Map<string, string>;
  integrationIds: Map<string, string>;
}

export async function readServerState(client: ApiClient): Promise<ServerState> {
  const [envs, targets, components, integrations, templates] = await Promise.all([
    client.listAll<EnvironmentItem>('/environments'),
    client.listAll<TargetItem>('/targets'),
    client.listAll<ComponentItem>('/components'),
    client.listAll<IntegrationItem>('/integrations'),
    client.listAll<TemplateItem>('/workflow-templates'),
  ]);
  const integrationNames = new Map(integrations.map((i) => [i.id, i.name]));
  const resources: Resource[] = [
    ...templates
      .filter((t) => !t.isBuiltin)
      .map((t) => ({
        kind: 'WorkflowTemplate' as const,
        name: t.name,
        spec: { nodes: t.nodes, edges: t.edges, inputs: t.inputs, outputs: t.outputs },
      })),
    ...integrations.map((i): Resource => {
      if (i.typeId === 'notification_webhook') {
        const { url, format, events } = i.config;
        return { kind: 'NotificationChannel', name: i.name, spec: { url, format, events, credentialRef: i.credentialRef } };
      }
      return { kind: 'Integration', name: i.name, spec: { typeId: i.typeId, config: i.config, credentialRef: i.credentialRef } };
    }),
    ...envs.map((e) => ({
      kind: 'Environment' as const,
      name: e.name,
      spec: {
        displayName: e.displayName,
        orderIndex: e.orderIndex,
        requiredApprovals: e.requiredApprovals,
        requireSod: e.requireSod,
        config: e.config,
        freezeWindows: e.freezeWindows,
      },
    })),
    ...targets.map((t) => ({
      kind: 'Target' as const,
      name: t.name,
      spec: { environment: t.environmentName, targetType: t.targetType, connection: t.connection, labels: t.labels },
    })),
    ...components.map((c) => ({
      kind: 'Component' as const,
      name: c.name,
      spec: {
        displayName: c.displayName,
        imageRepository: c.imageRepository,
        registry: c.registryIntegrationId ? (integrationNames.get(c.registryIntegrationId) ?? c.registryIntegrationId) : null,
        versioningStrategy: c.versioningStrategy,
        defaultChannel: c.defaultChannel,
      },
    })),
  ];
  return {
    resources: resources.map((r) => ({ ...r, spec: dropUndefined(r.spec) })),
    environmentIds: new Map(envs.map((e) => [e.name, e.id])),
    integrationIds: new Map(integrations.map((i) => [i.name, i.id])),
  };
}

const dropUndefined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** The spec without the fields that hold their default, so exported files say only what was chosen. */
function trimmed(r: Resource): Record<string, unknown> {
  const defaults = withDefaults({ kind: r.kind, name: r.name, spec: {} });
  return Object.fromEntries(
    Object.entries(r.spec).filter(([k, v]) => k === 'orderIndex' || !(k in defaults) || canonical(defaults[k]) !== canonical(v)),
  );
}

const FILE_OF: Record<Kind, string> = {
  WorkflowTemplate: 'workflow-templates.yaml',
  Integration: 'integrations.yaml',
  NotificationChannel: 'notification-channels.yaml',
  Environment: 'environments.yaml',
  Target: 'targets.yaml',
  Component: 'components.yaml',
};

/**
 * The resources as configuration files, one per kind (in dependency order), each a stream of documents.
 * `schemaRef` is the JSON Schema the editor line points at. Secrets cannot appear: the API returns
 * references only.
 */
export function exportFiles(resources: Resource[], schemaRef: string): { name: string; text: string }[] {
  const files: { name: string; text: string }[] = [];
  for (const kind of KINDS) {
    const docs = resources
      .filter((r) => r.kind === kind)
      .sort((a, b) =>
        kind === 'Environment'
          ? (a.spec.orderIndex as number) - (b.spec.orderIndex as number) || a.name.localeCompare(b.name)
          : a.name.localeCompare(b.name),
      )
      .map((r) => stringify({ apiVersion: API_VERSION, kind: r.kind, metadata: { name: r.name }, spec: trimmed(r) }, { lineWidth: 0 }));
    if (docs.length) files.push({ name: FILE_OF[kind], text: `# yaml-language-server: $schema=${schemaRef}\n${docs.join('---\n')}` });
  }
  return files;
}
