// The deployment protocol's plain functions (no schema library): stickers, canonical JSON, container names,
// labels and templates. The agent imports these from here, so a noop agent never loads zod; deployment.ts
// re-exports them beside the schemas.
import { createHash } from 'node:crypto';

/** The fields of a leased task (AgentTask in deployment.ts) these functions read. */
export interface TaskFields {
  jobId: string;
  target: { id: string; name: string; labels: Record<string, string> };
  release: { id: string; name: string };
  promotionId: string | null;
  environment: { id: string; name: string };
  components: { name: string; image: string; digest: string }[];
  config: ConfigFields;
}

/** The parts of a strategy config that say how a component runs apart from its image. */
interface ConfigFields {
  services?: Record<string, unknown> | undefined;
  healthCheck?: unknown;
}

/** Canonical JSON: object keys sorted, no whitespace (RFC 8785 for the values stickers hold). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export const sha256Of = (s: string | Buffer): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/**
 * The digest a target records for a release: the image digest when the release has one component,
 * otherwise the SHA-256 of the sorted "name@digest" lines, so one value says what runs there.
 */
export function bundleDigest(components: { name: string; digest: string }[]): string {
  if (components.length === 1) return components[0]!.digest;
  const lines = components.map((c) => `${c.name}@${c.digest}\n`).sort();
  return sha256Of(lines.join(''));
}

/**
 * The identity of how one component is run, apart from its image: its command, environment, port and
 * health check as the strategy config gives them (templates unexpanded). The server's plan and the
 * agent's `gantry.config-hash` label use it, so a change of settings shows as a recreation in both.
 */
export function componentConfigHash(config: ConfigFields, component: string): string {
  return sha256Of(canonicalJson({ service: config.services?.[component] ?? {}, healthCheck: config.healthCheck ?? null }));
}

/** Deterministic container name per target and component, so a retried task replaces instead of duplicating. */
export function containerName(targetName: string, component: string, color?: string): string {
  return `gantry-${targetName}-${component}${color ? `-${color}` : ''}`;
}

/** The version sticker an executor writes on the target after a task (DESIGN §5). */
export function stickerFor(task: TaskFields, writtenAt: Date): { content: Record<string, unknown>; contentHash: string } {
  const content = {
    schema: 'gantry.version/v1',
    release: task.release,
    promotion: task.promotionId,
    environment: task.environment,
    target: { id: task.target.id, name: task.target.name },
    job: task.jobId,
    components: task.components.map((c) => ({ name: c.name, image: c.image, digest: c.digest })),
    digest: bundleDigest(task.components),
    writtenAt: writtenAt.toISOString(),
  };
  return { content, contentHash: sha256Of(canonicalJson(content)) };
}

/** The gantry.* labels every managed container carries. */
export function containerLabels(
  task: TaskFields,
  component: { name: string; digest: string },
  stickerHash: string,
  writtenAt: string,
): Record<string, string> {
  return {
    'gantry.managed': 'true',
    'gantry.target': task.target.id,
    'gantry.component': component.name,
    'gantry.digest': component.digest,
    'gantry.release': task.release.name,
    'gantry.release-id': task.release.id,
    'gantry.promotion': task.promotionId ?? '',
    'gantry.environment': task.environment.name,
    'gantry.job': task.jobId,
    'gantry.written-at': writtenAt,
    'gantry.sticker-hash': stickerHash,
    'gantry.config-hash': componentConfigHash(task.config, component.name),
  };
}

/**
 * Expands ${target.name}, ${target.id}, ${component}, ${color}, ${release.name} and ${label.KEY} in a
 * string. ${color} expands first, so a label key may contain it (e.g. ${label.port.web.${color}}).
 */
export function expandTemplate(
  s: string,
  vars: { task: Pick<TaskFields, 'target' | 'release'>; component?: string; color?: string },
): string {
  const first = s.replace(/\$\{color\}/g, vars.color ?? '');
  return first.replace(/\$\{([a-zA-Z]+)(?:\.([a-z0-9._/-]+))?\}/g, (whole, head: string, rest: string | undefined) => {
    if (head === 'target' && rest === 'name') return vars.task.target.name;
    if (head === 'target' && rest === 'id') return vars.task.target.id;
    if (head === 'release' && rest === 'name') return vars.task.release.name;
    if (head === 'component' && !rest) return vars.component ?? '';
    if (head === 'label' && rest) {
      const v = vars.task.target.labels[rest];
      if (v === undefined) throw new Error(`template ${whole}: target ${vars.task.target.name} has no label "${rest}"`);
      return v;
    }
    throw new Error(`template ${whole} is not one Gantry knows (target.name, target.id, component, color, release.name, label.KEY)`);
  });
}
