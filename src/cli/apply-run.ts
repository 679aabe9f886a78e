// Carrying out a plan of `gantry apply` through the API: one request per resource, in the plan's order.
// An error the API reports for a field is named at the line of the file that declared it.
import type { Kind } from './apply-format.js';
import { ConfigFileError, type DeclaredResource, fieldName } from './apply-load.js';
import { type PlanItem, withDefaults } from './apply-plan.js';
import type { ServerState } from './apply-state.js';
import { type ApiClient, ApiError, ref } from './client.js';
import { CliError, EXIT } from './output.js';

type Body = Record<string, unknown>;

const COLLECTION: Record<Kind, string> = {
  WorkflowTemplate: '/workflow-templates',
  Integration: '/integrations',
  NotificationChannel: '/integrations',
  Environment: '/environments',
  Target: '/targets',
  Component: '/components',
};

function idOf(ids: Map<string, string>, name: string, what: string, r: DeclaredResource, field: string): string {
  const id = ids.get(name);
  if (!id) throw new CliError(`${r.at(['spec', field])}: spec.${field}: no ${what} "${name}" in the files or on the server`, EXIT.invalid);
  return id;
}

/**
 * Names of other resources must exist in the files or on the server: checked before the plan is shown, so a
 * typo fails with its line instead of halfway through an apply.
 */
export function checkReferences(declared: DeclaredResource[], state: ServerState): void {
  const envs = new Set([...state.environmentIds.keys(), ...declared.filter((r) => r.kind === 'Environment').map((r) => r.name)]);
  const integrations = new Set([
    ...state.integrationIds.keys(),
    ...declared.filter((r) => r.kind === 'Integration' || r.kind === 'NotificationChannel').map((r) => r.name),
  ]);
  const problems: string[] = [];
  for (const r of declared) {
    const env = r.kind === 'Target' ? (r.spec.environment as string) : undefined;
    if (env !== undefined && !envs.has(env)) {
      problems.push(`${r.at(['spec', 'environment'])}: spec.environment: no environment "${env}" in the files or on the server`);
    }
    const registry = r.kind === 'Component' ? (r.spec.registry as string | null | undefined) : undefined;
    if (registry && !integrations.has(registry)) {
      problems.push(`${r.at(['spec', 'registry'])}: spec.registry: no integration "${registry}" in the files or on the server`);
    }
  }
  if (problems.length) throw new ConfigFileError(problems);
}

/** The API body for a resource: the spec with names of other resources turned into their ids. */
function bodyOf(r: DeclaredResource, state: ServerState): Body {
  const s = withDefaults(r);
  switch (r.kind) {
    case 'Target': {
      const { environment, ...rest } = s;
      return { ...rest, environmentId: idOf(state.environmentIds, environment as string, 'environment', r, 'environment') };
    }
    case 'Component': {
      const { registry, ...rest } = s;
      return {
        ...rest,
        registryIntegrationId: registry ? idOf(state.integrationIds, registry as string, 'integration', r, 'registry') : null,
      };
    }
    case 'NotificationChannel': {
      const { credentialRef, ...config } = s;
      return { typeId: 'notification_webhook', config, credentialRef };
    }
    default:
      return s;
  }
}

/** The API's name of a spec field (references go by id in the API). */
const API_FIELD: Record<string, string> = { environment: 'environmentId', registry: 'registryIntegrationId' };

/** The body of a change: only the top-level fields that differ (each given whole). */
function changeBody(item: PlanItem, full: Body): Body {
  const top = new Set(item.changes.map((c) => c.field.split('.')[0]!));
  const out: Body = {};
  for (const f of top) {
    const apiField = item.kind === 'NotificationChannel' && f !== 'credentialRef' ? 'config' : (API_FIELD[f] ?? f);
    out[apiField] = full[apiField];
  }
  if (out.credentialRef === undefined && 'credentialRef' in out) out.credentialRef = null;
  return out;
}

/** A field of the API's problem document (`body.connection.dockerHost`) as the path of the spec field. */
function specPath(kind: Kind, apiPath: string): string[] {
  const p = apiPath
    .replace(/^body\.?/, '')
    .split('.')
    .filter(Boolean);
  if (p[0] === 'environmentId') p[0] = 'environment';
  if (p[0] === 'registryIntegrationId') p[0] = 'registry';
  if (kind === 'NotificationChannel' && p[0] === 'config') p.shift();
  return ['spec', ...p];
}

function located(err: unknown, r: DeclaredResource, done: number): unknown {
  if (!(err instanceof ApiError)) return err;
  const lines = err.fields.length
    ? err.fields.map((f) => {
        const p = specPath(r.kind, f.path).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
        return `${r.at(p)}: ${fieldName(p)}: ${f.message}`;
      })
    : [`${r.source}: ${r.kind} ${r.name}`];
  return new CliError(
    `${r.kind} ${r.name}: ${err.message}${done ? ` (${done} earlier ${done === 1 ? 'change was' : 'changes were'} applied; fix the file and apply again)` : ''}`,
    err.exitCode,
    lines,
  );
}

/** Applies the plan in order; returns how many changes were made. Stops at the first failure. */
export async function runPlan(client: ApiClient, plan: PlanItem[], declared: DeclaredResource[], state: ServerState): Promise<number> {
  const byKey = new Map(declared.map((r) => [`${r.kind}/${r.name}`, r]));
  let done = 0;
  for (const item of plan) {
    if (item.action === 'keep') continue;
    const path = COLLECTION[item.kind];
    if (item.action === 'delete') {
      await client.delete(`${path}/${ref(item.name)}`);
      done++;
      continue;
    }
    const r = byKey.get(`${item.kind}/${item.name}`)!;
    try {
      const body = bodyOf(r, state);
      if (item.action === 'create') {
        if (body.credentialRef === null) delete body.credentialRef;
        const made = await client.post<{ id: string; name: string }>(path, { name: r.name, ...body });
        if (item.kind === 'Environment') state.environmentIds.set(made.name, made.id);
        if (item.kind === 'Integration' || item.kind === 'NotificationChannel') state.integrationIds.set(made.name, made.id);
      } else if (item.kind === 'WorkflowTemplate') {
        await client.post(`${path}/${ref(item.name)}/versions`, body);
      } else {
        await client.patch(`${path}/${ref(item.name)}`, changeBody(item, body));
      }
    } catch (err) {
      throw located(err, r, done);
    }
    done++;
  }
  return done;
}
