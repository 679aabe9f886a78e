// What `gantry rollout show` prints for each model (pure): the router and what it reports, or the target
// groups with the targets that run each variation and the stage's deployment.
import { describe, expect, it } from 'vitest';
import { type Rollout, rolloutRecord } from './rollout-commands.js';

const base: Rollout = {
  id: '0190a0a0-0000-7000-8000-000000000001',
  name: 'web',
  kind: 'ab',
  status: 'awaiting_approval',
  statusReason: null,
  environment: { name: 'prod' },
  routerTarget: null,
  variations: [
    { name: 'stable', release: { name: 'r1' }, weight: 50 },
    { name: 'candidate', release: { name: 'r2' }, weight: 50 },
  ],
  stages: [{ weight: 10 }, { weight: 50 }, { weight: 100 }],
  currentStage: 1,
  weight: 50,
};

describe('rollout show', () => {
  it('prints the targets of each variation and the deployment for target groups', () => {
    const r = rolloutRecord({
      ...base,
      mode: 'targets',
      targetSelector: { tier: 'web' },
      variations: [
        { ...base.variations[0]!, targets: ['web-03', 'web-04'] },
        { ...base.variations[1]!, targets: ['web-01', 'web-02'] },
      ],
      job: { id: 'j1', status: 'succeeded', error: null },
    });
    expect(r).toMatchObject({
      targets: 'target groups ({"tier":"web"})',
      targets_stable: '2: web-03, web-04',
      targets_candidate: '2: web-01, web-02',
      deployment: 'j1 succeeded',
      stage: '2 of 3 (10% → 50% → 100%)',
    });
    expect(r).not.toHaveProperty('router');
  });

  it('prints the router and its report behind a router', () => {
    const r = rolloutRecord({
      ...base,
      mode: 'router',
      routerTarget: { name: 'edge-1' },
      traffic: { status: 'applied', distribution: { stable: 50, candidate: 50 }, error: null },
    });
    expect(r).toMatchObject({ router: 'edge-1', router_reports: 'applied: stable 50%, candidate 50%' });
    expect(r).not.toHaveProperty('targets');
  });
});
