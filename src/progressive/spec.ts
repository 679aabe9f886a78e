// The checks of a rollout spec that its schema cannot say alone (pure): a canary needs its analysis,
// stages only move forward, the variations differ, and the rollout is either behind a router
// (routerTarget, router, the variations' servers) or target groups (targets), each with what it needs.
import { ValidationError } from '../core/errors.js';
import type { RolloutCreate, Stage } from './model.js';

const BOTH_MODELS =
  'A rollout runs either behind a router ("routerTarget" and "router", each variation with its "servers") or as target groups ("targets"), not both.';

export function checkSpec(body: RolloutCreate, stages: Stage[]): void {
  if (body.kind === 'canary' && !body.analysis) {
    throw new ValidationError(
      'A canary is judged by its analysis: give "analysis" (a Prometheus source and the metrics with their thresholds).',
      [{ path: 'body.analysis', message: 'required for kind canary' }],
    );
  }
  for (const [i, s] of stages.entries()) {
    if (i > 0 && s.weight < stages[i - 1]!.weight) {
      throw new ValidationError(
        `Stage ${i + 1} gives the candidate less traffic (${s.weight}%) than stage ${i} (${stages[i - 1]!.weight}%); stages only move forward.`,
        [{ path: `body.stages.${i}.weight`, message: 'must not decrease' }],
      );
    }
  }
  if (body.variations[0]!.name === body.variations[1]!.name) {
    throw new ValidationError('The two variations need different names.', [{ path: 'body.variations', message: 'duplicate name' }]);
  }
  if (body.targets) checkTargetGroups(body);
  else checkRouter(body);
}

function checkTargetGroups(body: RolloutCreate): void {
  const routerFields = (['routerTarget', 'router', 'header', 'sticky'] as const).filter((k) => body[k] !== undefined);
  if (routerFields.length > 0) {
    throw new ValidationError(
      `${BOTH_MODELS} Target groups have no router: leave out ${routerFields.map((k) => `"${k}"`).join(', ')}.`,
      routerFields.map((k) => ({ path: `body.${k}`, message: 'not with targets' })),
    );
  }
  const withServers = body.variations.flatMap((v, i) => (v.servers ? [i] : []));
  if (withServers.length > 0) {
    throw new ValidationError(
      `${BOTH_MODELS} Target groups run each variation on its own targets: leave out the variations' "servers".`,
      withServers.map((i) => ({ path: `body.variations.${i}.servers`, message: 'not with targets' })),
    );
  }
}

function checkRouter(body: RolloutCreate): void {
  const missing = (['routerTarget', 'router'] as const).filter((k) => body[k] === undefined);
  if (missing.length > 0) {
    throw new ValidationError(
      `${BOTH_MODELS} Give ${missing.map((k) => `"${k}"`).join(' and ')}, or "targets" (a label selector) for target groups.`,
      missing.map((k) => ({ path: `body.${k}`, message: 'required without targets' })),
    );
  }
  const noServers = body.variations.flatMap((v, i) => (v.servers ? [] : [i]));
  if (noServers.length > 0) {
    throw new ValidationError(
      `Behind a router each variation needs its "servers" (where the router reaches its containers); missing for ${noServers.map((i) => `"${body.variations[i]!.name}"`).join(' and ')}.`,
      noServers.map((i) => ({ path: `body.variations.${i}.servers`, message: 'required behind a router' })),
    );
  }
  if (body.header && !body.variations.some((v) => v.name === body.header!.variation)) {
    throw new ValidationError(`header.variation "${body.header.variation}" is not one of the variations.`, [
      { path: 'body.header.variation', message: 'unknown variation' },
    ]);
  }
}
