// Runs a stage's analysis: each metric's PromQL with its templates expanded for the candidate (and, when
// relative, for the stable variation), asked of Prometheus at one instant, against the thresholds; the
// result is plain JSON for the evidence (expanded queries, numbers, thresholds, reasons; the source URL
// without credentials). Verdicts:
// - a value beyond a threshold fails; ±Inf (e.g. a histogram_quantile in the +Inf bucket) compares as
//   such and is recorded as null with the reason saying +Inf or -Inf; a stable value of ±Inf is inconclusive;
// - no data (no series, NaN) is the metric's noData (inconclusive by default);
// - a failed query is inconclusive when asking again may help (Prometheus unreachable, timed out, busy),
//   and fails the analysis at once when it will not: a query Prometheus rejects as invalid, a result of
//   several series or not a number, an answer that is not Prometheus's API, an address the outbound policy
//   refuses. Never a pass.
// The context (variation, stable, route) is checked again before it goes into PromQL.
import type { Clock } from '../core/clock.js';
import { GantryError, ValidationError } from '../core/errors.js';
import type { Outbound } from '../http/outbound.js';
import {
  type AnalysisContext,
  type AnalysisMetric,
  type AnalysisResult,
  type AnalysisSpec,
  analysisContext,
  type MetricResult,
  type QueryTemplate,
  TEMPLATE,
  type Verdict,
} from './analysis-model.js';
import { PrometheusError, queryPrometheus } from './prometheus.js';

export type { AnalysisContext } from './analysis-model.js';

/** Replaces ${variation}, ${stable}, ${route} and ${window}; any other ${…} (refused by the schema) is left as is. */
export function expandQuery(query: string, vars: Record<QueryTemplate, string>): string {
  return query.replace(TEMPLATE, (whole, name: string) => (Object.hasOwn(vars, name) ? vars[name as QueryTemplate] : whole));
}

/** Short and exact enough for a reader: 0.0500000001 → 0.05; infinities as Prometheus writes them. */
function fmt(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  return String(Number(n.toPrecision(6)));
}

type Judged = { verdict: Verdict; threshold: string; reason: string };

/** The threshold as text: absolute ("≤ 0.01"), relative with the stable value ("≤ 1.5 × stable (0.002)") or without. */
function thresholdText(m: AnalysisMetric, stableValue: number | undefined): string {
  const bound = (k: number) =>
    m.relativeToStable ? `${fmt(k)} × stable${stableValue === undefined ? '' : ` (${fmt(stableValue)})`}` : fmt(k);
  return [m.min !== undefined ? `≥ ${bound(m.min)}` : '', m.max !== undefined ? `≤ ${bound(m.max)}` : ''].filter(Boolean).join(' and ');
}

/**
 * The verdict of one value against a metric's thresholds (with relativeToStable, factors of stableValue).
 * null is no data (the metric's noData); `who` names the variations in the reasons.
 */
export function judgeValue(
  m: AnalysisMetric,
  value: number | null,
  stableValue?: number | null,
  who: { variation: string; stable: string } = { variation: 'the candidate', stable: 'stable' },
): Judged {
  const stable = m.relativeToStable && typeof stableValue === 'number' && Number.isFinite(stableValue) ? stableValue : undefined;
  const threshold = thresholdText(m, stable);
  const noData = (what: string): Judged => ({ verdict: m.noData, threshold, reason: `${what}; noData is "${m.noData}"` });
  if (value === null) return noData(`no data for ${who.variation}`);
  if (m.relativeToStable) {
    if (stableValue === null || stableValue === undefined) return noData(`no data for the stable ${who.stable}`);
    if (stable === undefined)
      return { verdict: 'inconclusive', threshold, reason: `the stable value is ${fmt(stableValue)}: nothing to compare against` };
  }
  const scale = stable ?? 1;
  const max = m.max === undefined ? undefined : m.max * scale;
  const min = m.min === undefined ? undefined : m.min * scale;
  if (max !== undefined && value > max) return { verdict: 'fail', threshold, reason: `${fmt(value)} is above ${fmt(max)}` };
  if (min !== undefined && value < min) return { verdict: 'fail', threshold, reason: `${fmt(value)} is below ${fmt(min)}` };
  return { verdict: 'pass', threshold, reason: `${fmt(value)} is within ${threshold}` };
}

type Measured = { value: number | null } | { error: Error };

async function ask(outbound: Outbound, spec: AnalysisSpec, query: string, at: Date): Promise<Measured> {
  try {
    return { value: (await queryPrometheus(outbound, spec.source, query, at)).value };
  } catch (err) {
    return { error: err instanceof Error ? err : new Error(String(err)) };
  }
}

/**
 * A query that failed: waiting may help when Prometheus was unreachable or busy (inconclusive); a bad
 * query, a result of several series or a refused address will fail the same way next time (fail).
 */
function failed(err: Error, which: string): { verdict: Verdict; reason: string } {
  const transient = err instanceof PrometheusError ? err.transient : !(err instanceof GantryError);
  return { verdict: transient ? 'inconclusive' : 'fail', reason: `the ${which} query failed: ${err.message}` };
}

/** A number the evidence can hold: ±Inf and NaN are recorded as null (the reason names them). */
const recorded = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

async function measure(outbound: Outbound, spec: AnalysisSpec, m: AnalysisMetric, ctx: AnalysisContext, at: Date): Promise<MetricResult> {
  const vars = { variation: ctx.variation, stable: ctx.stable, route: ctx.route, window: spec.window };
  const query = expandQuery(m.query, vars);
  const stableQuery = m.relativeToStable ? expandQuery(m.query, { ...vars, variation: ctx.stable }) : undefined;
  const [own, stable] = await Promise.all([
    ask(outbound, spec, query, at),
    stableQuery === undefined ? undefined : ask(outbound, spec, stableQuery, at),
  ]);
  const value = 'value' in own ? own.value : null;
  const stableValue = stable && 'value' in stable ? stable.value : null;
  const base = {
    name: m.name,
    query,
    value: recorded(value),
    ...(stableQuery === undefined ? {} : { stableQuery, stableValue: recorded(stableValue) }),
  };
  if ('error' in own) return { ...base, threshold: thresholdText(m, undefined), ...failed(own.error, ctx.variation) };
  if (stable && 'error' in stable)
    return { ...base, threshold: thresholdText(m, undefined), ...failed(stable.error, `stable (${ctx.stable})`) };
  return { ...base, ...judgeValue(m, value, stableValue, { variation: ctx.variation, stable: ctx.stable }) };
}

/** Measures every metric now: fail if any fails, else inconclusive if any is, else pass. */
export async function runAnalysis(
  deps: { outbound: Outbound; clock: Clock },
  spec: AnalysisSpec,
  ctx: AnalysisContext,
): Promise<AnalysisResult> {
  const checked = analysisContext.safeParse(ctx);
  if (!checked.success) {
    throw new ValidationError(
      'The analysis context names are not safe to put into a query.',
      checked.error.issues.map((i) => ({ path: `ctx.${i.path.join('.')}`, message: i.message })),
    );
  }
  const at = deps.clock.now();
  const metrics = await Promise.all(spec.metrics.map((m) => measure(deps.outbound, spec, m, checked.data, at)));
  const verdict: Verdict = metrics.some((m) => m.verdict === 'fail')
    ? 'fail'
    : metrics.some((m) => m.verdict === 'inconclusive')
      ? 'inconclusive'
      : 'pass';
  const source = new URL(spec.source.url);
  source.username = '';
  source.password = '';
  source.search = '';
  source.hash = '';
  return { verdict, source: source.toString(), window: spec.window, measuredAt: at.toISOString(), metrics };
}
