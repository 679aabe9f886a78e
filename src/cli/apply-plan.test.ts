// The plan of `gantry apply`: field-by-field differences, defaults for fields a file leaves out, dependency
// order, and what happens to resources the files do not declare.
import { describe, expect, it } from 'vitest';
import type { Resource } from './apply-load.js';
import { formatPlan, isNoop, planChanges } from './apply-plan.js';

const env = (name: string, spec: Record<string, unknown>): Resource => ({ kind: 'Environment', name, spec });
const onServer = (name: string, spec: Record<string, unknown> = {}): Resource =>
  env(name, { displayName: '', orderIndex: 0, requiredApprovals: 0, requireSod: false, config: {}, freezeWindows: [], ...spec });

describe('planChanges', () => {
  it('is empty when the server matches, with left-out fields at their defaults and orderIndex left alone', () => {
    const plan = planChanges([env('dev', {})], [onServer('dev', { orderIndex: 4 })], false);
    expect(plan).toEqual([]);
    expect(isNoop(plan)).toBe(true);
    expect(formatPlan(plan)).toBe('No changes: the server matches the files.\n');
  });

  it('names each changed field, nested ones by their path, and resets a removed field to its default', () => {
    const current = onServer('prod', {
      requiredApprovals: 2,
      requireSod: true,
      config: { autoRollback: true, targetSelector: { tier: 'a' } },
    });
    const desired = env('prod', { requiredApprovals: 3, config: { autoRollback: false, targetSelector: { tier: 'a' } } });
    const [item] = planChanges([desired], [current], false);
    expect(item).toEqual({
      action: 'change',
      kind: 'Environment',
      name: 'prod',
      changes: [
        { field: 'requiredApprovals', from: 2, to: 3 },
        { field: 'requireSod', from: true, to: false },
        { field: 'config.autoRollback', from: true, to: false },
      ],
    });
    expect(formatPlan([item!])).toBe(
      '~ environment prod\n    requiredApprovals: 2 → 3\n    requireSod: true → false\n    config.autoRollback: true → false\nPlan: 0 to create, 1 to change, 0 to delete.\n',
    );
  });

  it('compares lists as a whole and ignores key order', () => {
    const w = { kind: 'one_off', name: 'launch', start: '2026-12-01T08:00:00Z', end: '2026-12-02T08:00:00Z' };
    const same = planChanges(
      [env('a', { freezeWindows: [{ ...w }] })],
      [onServer('a', { freezeWindows: [{ end: w.end, start: w.start, name: w.name, kind: w.kind }] })],
      false,
    );
    expect(same).toEqual([]);
    const [changed] = planChanges([env('a', { freezeWindows: [] })], [onServer('a', { freezeWindows: [w] })], false);
    expect(changed!.changes).toEqual([{ field: 'freezeWindows', from: [w], to: [] }]);
  });

  it('creates in dependency order, deletes in reverse only with prune, and never deletes workflow templates', () => {
    const desired: Resource[] = [
      { kind: 'Component', name: 'api', spec: { imageRepository: 'r.example.com/api' } },
      { kind: 'Target', name: 't1', spec: { environment: 'dev', targetType: 'docker_host', connection: { dockerHost: 'unix:///d.sock' } } },
      env('dev', {}),
    ];
    const current: Resource[] = [
      onServer('old'),
      { kind: 'Target', name: 'old-1', spec: {} },
      { kind: 'WorkflowTemplate', name: 'flow', spec: {} },
    ];
    const order = (prune: boolean) => planChanges(desired, current, prune).map((p) => `${p.action} ${p.kind} ${p.name}`);
    expect(order(false)).toEqual([
      'create Environment dev',
      'create Target t1',
      'create Component api',
      'keep Target old-1',
      'keep Environment old',
      'keep WorkflowTemplate flow',
    ]);
    expect(order(true)).toEqual([
      'create Environment dev',
      'create Target t1',
      'create Component api',
      'delete Target old-1',
      'delete Environment old',
      'keep WorkflowTemplate flow',
    ]);
    expect(formatPlan(planChanges(desired, current, false))).toContain('  environment old: not in files (kept; use --prune to delete)\n');
  });
});
