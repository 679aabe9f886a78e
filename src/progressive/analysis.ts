// Runs a stage's analysis: each metric's PromQL with its templates expanded, against the thresholds
// (absolute, or relative to the stable variation's value), into a plain result for the evidence. A query
// that fails (Prometheus unreachable, refused, several series) is inconclusive, never a pass.
import type { Clock } from '../core/clock.js';
import type { Outbound } from '../http/outbound.js';
import type { AnalysisMetric, AnalysisResult, AnalysisSpec, MetricResult, Verdict } from './analysis-model.js';
import { queryPrometheus } from './prometheus.js';

export interface AnalysisContext {
  /** The candidate variation's name. */
  variation: string;
  stable: string;
  route: string;
}

/** Replaces ${variation}, ${stable}, ${route} and ${window}; the values are validated names and a duration. */
export function expandQuery(query: string, vars: Record<'variation' | 'stable' | 'route' | 'window', string>): string {
  return query.replace(/\$\{(variation|stable|route|window)\}/g, (_, k: keyof typeof vars) => vars[k]);
}

const fmt = (n: number) => String(Number(n.toPrecision(6)));

/** The verdict of one value against a metric's thresholds (scaled by the stable value when relative). */
export function judgeValue(
  m: AnalysisMetric,
  value: number | null,
  stableValue?: number | null,
): { verdict: Verdict; threshold: string; reason: string } {
  const relative = m.relativeToStable;
  const bound = (k: number) =>
    relative ? `${fmt(k)} × stable (${stableValue === null || stableValue === undefined ? 'no data' : fmt(stableValue)})` : fmt(k);
  const threshold = [m.max !== undefined ? `≤ ${bound(m.max)}` : '', m.min !== undefined ? `≥ ${bound(m.min)}` : '']
    .filter(Boolean)
    .join(' and ');
  const noData = (what: string) => ({
    verdict: m.noData,
    threshold,
    reason: `${what} returned no data (noData: ${m.noData})`,
  });
  if (value === null) return noData('the query');
  if (relative && (stableValue === null || stableValue === undefined)) return noData('the stable query');
  const scale = relative ? (stableValue as number) : 1;
  if (m.max !== undefined && value > m.max * scale) return { verdict: 'fail', threshold, reason: `${fmt(value)} is above ${bound(m.max)}` };
  if (m.min !== undefined && value < m.min * scale) return { verdict: 'fail', threshold, reason: `${fmt(value)} is below ${bound(m.min)}` };
  return { verdict: 'pass', threshold, reason: `${fmt(value)} is within ${threshold}` };
}

async function measure(
  deps: { outbound: Outbound },
  spec: AnalysisSpec,
  m: AnalysisMetric,
  ctx: AnalysisContext,
  at: Date,
): Promise<MetricResult> {
  const vars = { variation: ctx.variation, stable: ctx.stable, route: ctx.route, window: spec.window };
  const query = expandQuery(m.query, vars);
  const stableQuery = m.relativeToStable ? expandQuery(m.query, { ...vars, variation: ctx.stable }) : undefined;
  try {
    const value = (await queryPrometheus(deps.outbound, spec.source, query, at)).value;
    const stableValue = stableQuery ? (await queryPrometheus(deps.outbound, spec.source, stableQuery, at)).value : undefined;
    const j = judgeValue(m, value, stableValue);
    return { name: m.name, query, value, ...(stableQuery ? { stableQuery, stableValue: stableValue ?? null } : {}), ...j };
  } catch (err) {
    const j = judgeValue(m, null);
    return {
      name: m.name,
      query,
      value: null,
      ...(stableQuery ? { stableQuery, stableValue: null } : {}),
      threshold: j.threshold,
      verdict: 'inconclusive',
      reason: `query failed: ${(err as Error).message}`,
    };
  }
}

/** Measures every metric now: fail if any fails, else inconclusive if any is, else pass. */
export async function runAnalysis(
  deps: { outbound: Outbound; clock: Clock },
  spec: AnalysisSpec,
  ctx: AnalysisContext,
): Promise<AnalysisResult> {
  const at = deps.clock.now();
  const metrics = await Promise.all(spec.metrics.map((m) => measure(deps, spec, m, ctx, at)));
  const verdict: Verdict = metrics.some((m) => m.verdict === 'fail')
    ? 'fail'
    : metrics.some((m) => m.verdict === 'inconclusive')
      ? 'inconclusive'
      : 'pass';
  const source = new URL(spec.source.url);
  source.username = '';
  source.password = '';
  return { verdict, source: source.toString(), window: spec.window, measuredAt: at.toISOString(), metrics };
}
