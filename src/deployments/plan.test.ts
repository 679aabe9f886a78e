// The plan of a deployment from its basis (pure): what each target and component goes through, per
// target type and change-over mode, and that the hash follows what decides the actions.
import { describe, expect, it } from 'vitest';
import { strategyConfig } from '../protocol/deployment.js';
import { type PlanBasis, planOf, type TargetRow } from './plan.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const release = {
  id: '00000000-0000-7000-8000-000000000001',
  name: '2.0',
  status: 'ready',
  components: [
    { component: 'web', imageRepository: 'r/web', digest: d('b') },
    { component: 'api', imageRepository: 'r/api', digest: d('c') },
  ],
};
const target = (name: string, type: string, current: [string, string][], extra: Partial<TargetRow> = {}): TargetRow => ({
  id: `00000000-0000-7000-8000-${name.padStart(12, '0')}`,
  name,
  target_type: type,
  labels: {},
  current_digest: null,
  current_components: current.map(([n, dig]) => ({ name: n, image: `r/${n}`, digest: dig })),
  current_release_id: null,
  drift_detected: false,
  drift: [],
  ...extra,
});
const basis = (targets: TargetRow[], cfg: Record<string, unknown> = {}, more: Partial<PlanBasis> = {}): PlanBasis => ({
  release,
  environment: { id: '00000000-0000-7000-8000-0000000000e1', name: 'prod' },
  strategy: 'all_at_once',
  config: strategyConfig.parse(cfg),
  targets,
  batches: targets.map(() => 0),
  batchCount: 1,
  skipped: [],
  lastConfig: new Map(targets.map((t) => [t.id, strategyConfig.parse(cfg)])),
  ...more,
});
const actions = (p: ReturnType<typeof planOf>) =>
  p.targets.map((t) => [t.name, t.action, t.mode, t.components.map((c) => `${c.name}:${c.action}`).join(' ')]);

describe('planOf', () => {
  it('compose in place recreates only what changes and removes a service the release dropped; docker_host keeps it and replaces the rest', () => {
    const p = planOf(
      basis([
        target('c1', 'compose_host', [
          ['web', d('a')],
          ['api', d('c')],
          ['old', d('f')],
        ]),
        target('d1', 'docker_host', [
          ['web', d('a')],
          ['api', d('c')],
          ['old', d('f')],
        ]),
        target('n1', 'compose_host', []),
      ]),
    );
    expect(actions(p)).toEqual([
      ['c1', 'deploy', 'in_place', 'web:recreate api:unchanged old:remove'],
      ['d1', 'deploy', 'in_place', 'web:recreate api:recreate old:keep'],
      ['n1', 'deploy', 'in_place', 'web:create api:create'],
    ]);
    expect(p.summary).toMatchObject({ deploy: 3, create: 2, recreate: 3, removeComponents: 1 });
  });

  it('a target that already runs the release with the same settings is only verified; new settings recreate; drift recreates what drifted', () => {
    const same = target('s1', 'compose_host', [
      ['web', d('b')],
      ['api', d('c')],
    ]);
    expect(actions(planOf(basis([same])))).toEqual([['s1', 'unchanged', null, 'web:unchanged api:unchanged']]);
    const settings = basis(
      [same],
      { services: { api: { env: { A: '1' } } } },
      { lastConfig: new Map([[same.id, strategyConfig.parse({})]]) },
    );
    expect(actions(planOf(settings))).toEqual([['s1', 'deploy', 'in_place', 'web:unchanged api:recreate']]);
    expect(planOf(settings).targets[0]!.components[1]!.why).toBe('new settings');
    const drifted = { ...same, drift_detected: true, drift: [{ component: 'web', field: 'digest', expected: d('b'), actual: d('e') }] };
    const p = planOf(basis([drifted]));
    expect(actions(p)).toEqual([['s1', 'deploy', 'in_place', 'web:recreate api:unchanged']]);
    expect(p.targets[0]!.components[0]!.why).toMatch(/^drift: digest is sha256:e+/);
  });

  it('with a router and per-colour ports every component starts in the new colour; a rollback of a first deployment removes', () => {
    const cfg = {
      router: { type: 'nginx', path: '/etc/nginx/gantry' },
      services: { web: { port: '${label.port.web.${color}}' }, api: { port: '${label.port.api.${color}}' } },
    };
    const t = target('c1', 'compose_host', [
      ['web', d('a')],
      ['api', d('c')],
    ]);
    expect(actions(planOf(basis([t], cfg)))).toEqual([['c1', 'deploy', 'new_colour', 'web:recreate api:recreate']]);
    const removal = planOf(basis([t], {}, { removeFrom: new Set([t.id]) }));
    expect(actions(removal)).toEqual([['c1', 'remove', null, 'web:remove api:remove']]);
  });

  it('has a hash that changes with what decides the actions and not otherwise', () => {
    const t = target('c1', 'compose_host', [['web', d('a')]]);
    const a = planOf(basis([t]));
    expect(planOf(basis([t])).hash).toBe(a.hash);
    expect(planOf(basis([t, target('c2', 'compose_host', [])])).hash).not.toBe(a.hash);
    expect(planOf(basis([{ ...t, current_components: [{ name: 'web', image: 'r/web', digest: d('e') }] }])).hash).not.toBe(a.hash);
    expect(planOf(basis([t], { stopGraceSeconds: 3 })).hash).not.toBe(a.hash);
  });
});
