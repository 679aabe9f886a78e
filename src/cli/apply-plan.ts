// The plan of `gantry apply`: what the files declare against what the server holds, field by field.
// A spec field the file leaves out means the server's default (so deleting a line resets the field),
// except the few fields with no fixed default (an environment's orderIndex), which are then left alone.
import { KINDS, type Kind } from './apply-format.js';
import type { Resource } from './apply-load.js';

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

export type PlanAction = 'create' | 'change' | 'delete' | 'keep';

export interface PlanItem {
  action: PlanAction;
  kind: Kind;
  name: string;
  /** For change: each differing field (dotted path into the spec), old and new value. */
  changes: FieldChange[];
  /** For keep: why it is not deleted. */
  reason?: string;
}

type Spec = Record<string, unknown>;
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields left as they are on the server when a file does not give them. */
const UNMANAGED_WHEN_ABSENT: Partial<Record<Kind, string[]>> = { Environment: ['orderIndex'] };

const RETRY_DEFAULTS = { maxAttempts: 1 };
const BACKOFF_DEFAULTS = { initialSeconds: 1, factor: 2, maxSeconds: 300 };

/** The spec with the server's defaults filled in, so a file that leaves a default out matches the server. */
export function withDefaults(r: Resource): Spec {
  const s = r.spec;
  switch (r.kind) {
    case 'Environment':
      return { displayName: '', requiredApprovals: 0, requireSod: false, config: {}, freezeWindows: [], ...s };
    case 'Target': {
      const conn = (s.connection ?? {}) as Spec;
      const connDefaults: Spec =
        s.targetType === 'compose_host' ? { composeCommand: 'docker compose' } : s.targetType === 'ssh_host' ? { port: 22 } : {};
      return { labels: {}, ...s, connection: { ...connDefaults, ...conn } };
    }
    case 'Component':
      return { displayName: '', registry: null, versioningStrategy: { type: 'semver' }, defaultChannel: 'stable', ...s };
    case 'Integration': {
      const typeDefaults: Spec = s.typeId === 'secret_store_vault' ? { mount: 'secret' } : {};
      return { credentialRef: null, ...s, config: { ...typeDefaults, ...((s.config ?? {}) as Spec) } };
    }
    case 'NotificationChannel':
      return { format: 'generic', credentialRef: null, ...s };
    case 'WorkflowTemplate': {
      const nodes = ((s.nodes ?? []) as Spec[]).map((n) =>
        isPlain(n.retry)
          ? {
              ...n,
              retry: {
                ...RETRY_DEFAULTS,
                ...n.retry,
                ...(isPlain(n.retry.backoff) ? { backoff: { ...BACKOFF_DEFAULTS, ...n.retry.backoff } } : {}),
              },
            }
          : n,
      );
      return { edges: [], inputs: {}, outputs: {}, ...s, nodes };
    }
  }
}

/** JSON with object keys sorted and undefined dropped: equal values give equal text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonical(x))).join(',')}]`;
  if (isPlain(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function diffValue(field: string, from: unknown, to: unknown, out: FieldChange[]): void {
  if (canonical(from) === canonical(to)) return;
  // Objects are compared key by key so the plan names the field that changed; lists and values as a whole.
  if (isPlain(from) && isPlain(to)) {
    for (const k of [...new Set([...Object.keys(from), ...Object.keys(to)])].sort()) diffValue(`${field}.${k}`, from[k], to[k], out);
    return;
  }
  out.push({ field, from, to });
}

/** Field-by-field differences between what the server holds and what the file declares (defaults filled). */
export function diffSpec(kind: Kind, current: Spec, desired: Spec): FieldChange[] {
  const out: FieldChange[] = [];
  const unmanaged = UNMANAGED_WHEN_ABSENT[kind] ?? [];
  const keys = [...new Set([...Object.keys(desired), ...Object.keys(current)])];
  for (const k of keys) {
    if (desired[k] === undefined && unmanaged.includes(k)) continue;
    diffValue(k, current[k], desired[k], out);
  }
  return out;
}

const keyOf = (r: { kind: Kind; name: string }) => `${r.kind}/${r.name}`;
const rank = (k: Kind) => KINDS.indexOf(k);

/**
 * The plan: creates and changes in dependency order (KINDS), then deletes in the reverse order. Resources
 * on the server but not in the files are deleted only with `prune`, and otherwise listed as kept.
 * Workflow templates are versioned and never deleted.
 */
export function planChanges(desired: Resource[], current: Resource[], prune: boolean): PlanItem[] {
  const have = new Map(current.map((r) => [keyOf(r), r]));
  const want = new Set(desired.map(keyOf));
  const ups: PlanItem[] = [];
  for (const d of [...desired].sort((a, b) => rank(a.kind) - rank(b.kind))) {
    const c = have.get(keyOf(d));
    if (!c) {
      ups.push({ action: 'create', kind: d.kind, name: d.name, changes: [] });
      continue;
    }
    const changes = diffSpec(d.kind, c.spec, withDefaults(d));
    if (changes.length) ups.push({ action: 'change', kind: d.kind, name: d.name, changes });
  }
  const downs: PlanItem[] = [];
  for (const c of [...current].sort((a, b) => rank(b.kind) - rank(a.kind))) {
    if (want.has(keyOf(c))) continue;
    if (c.kind === 'WorkflowTemplate') {
      downs.push({
        action: 'keep',
        kind: c.kind,
        name: c.name,
        changes: [],
        reason: 'not in files (templates are versioned and never deleted)',
      });
    } else if (prune) downs.push({ action: 'delete', kind: c.kind, name: c.name, changes: [] });
    else downs.push({ action: 'keep', kind: c.kind, name: c.name, changes: [], reason: 'not in files (kept; use --prune to delete)' });
  }
  return [...ups, ...downs];
}

/** True when applying the plan would change nothing. */
export const isNoop = (plan: PlanItem[]) => plan.every((p) => p.action === 'keep');

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
const LABEL: Record<Kind, string> = {
  WorkflowTemplate: 'workflow template',
  Integration: 'integration',
  NotificationChannel: 'notification channel',
  Environment: 'environment',
  Target: 'target',
  Component: 'component',
};

/** The plan as lines for a terminal: `+ create`, `~ change` with `field: old → new`, `- delete`. */
export function formatPlan(plan: PlanItem[]): string {
  const lines: string[] = [];
  for (const p of plan) {
    const what = `${LABEL[p.kind]} ${p.name}`;
    if (p.action === 'create') lines.push(`+ ${what}`);
    else if (p.action === 'delete') lines.push(`- ${what}`);
    else if (p.action === 'keep') lines.push(`  ${what}: ${p.reason}`);
    else {
      lines.push(`~ ${what}`);
      for (const c of p.changes) lines.push(`    ${c.field}: ${show(c.from)} → ${show(c.to)}`);
    }
  }
  const n = (a: PlanAction) => plan.filter((p) => p.action === a).length;
  lines.push(
    isNoop(plan)
      ? 'No changes: the server matches the files.'
      : `Plan: ${n('create')} to create, ${n('change')} to change, ${n('delete')} to delete.`,
  );
  return `${lines.join('\n')}\n`;
}
