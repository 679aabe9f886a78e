// The splits a rollout asks for (pure): behind a router, a stage's split between the stable and the
// candidate variation and the final splits once one variation is promoted and the other retired; as target
// groups, which of the group's targets run the candidate at a stage.
import type { TrafficSplit } from '../protocol/traffic.js';
import type { Stage } from './model.js';

export interface VariationRow {
  name: string;
  release: { id: string; name: string };
  /** Behind a router: where it serves; empty for target groups. */
  servers: { host: string; port: number }[];
}

export interface SplitOptions {
  header?: TrafficSplit['header'] | undefined;
  sticky?: TrafficSplit['sticky'] | undefined;
}

/** Both variations, the candidate at `weight` percent (header and sticky cookie as configured). */
export function stageSplit(variations: VariationRow[], weight: number, o: SplitOptions): TrafficSplit {
  const [stable, candidate] = variations as [VariationRow, VariationRow];
  return {
    variations: [
      { name: stable.name, servers: stable.servers, weight: 100 - weight },
      { name: candidate.name, servers: candidate.servers, weight },
    ],
    ...(o.header ? { header: o.header } : {}),
    ...(o.sticky ? { sticky: o.sticky } : {}),
  };
}

/** Only the variation that stays: the other is retired from the route (no header, no stickiness to it). */
export function finalSplit(keep: VariationRow): TrafficSplit {
  return { variations: [{ name: keep.name, servers: keep.servers, weight: 100 }] };
}

/** The default stages of a kind: a canary's traffic steps, or an A/B release's approved stages. */
export function defaultStages(kind: 'ab' | 'canary'): Stage[] {
  return kind === 'canary'
    ? [5, 25, 50, 100].map((weight) => ({ weight, holdSeconds: 60, approval: false }))
    : [10, 50, 100].map((weight) => ({ weight, holdSeconds: 60, approval: true }));
}

/** Whether the stage is judged by the analysis when its hold ends. */
export function stageAnalysed(s: Stage, hasAnalysis: boolean): boolean {
  return s.analysis ?? hasAnalysis;
}

/** Target groups: the first ceil(weight% × N) of the group (kept in name order) run the candidate. */
export function candidateTargets<T>(group: readonly T[], weight: number): T[] {
  return group.slice(0, Math.floor((weight * group.length + 99) / 100));
}
