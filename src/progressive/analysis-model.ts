// The metric analysis that judges a progressive rollout's stage: where the metrics come from
// (Prometheus), which PromQL queries, and the thresholds; and the result recorded in the evidence (the
// query actually sent, the value, the threshold, the verdict). The schemas refuse what could only fail
// later or mean nothing: an unknown ${…} template, min above max, two metrics of one name, a relative
// threshold without ${variation}, a source URL carrying credentials, a query or a fragment.
import { z } from 'zod';

/** The names a query may use as ${name}; each is replaced by a checked name or a duration before sending. */
export const QUERY_TEMPLATES = ['variation', 'stable', 'route', 'window'] as const;
export type QueryTemplate = (typeof QUERY_TEMPLATES)[number];
/** Any ${…} in a query; the schema accepts only QUERY_TEMPLATES. */
export const TEMPLATE = /\$\{([^}]*)\}/g;

export const metricsSource = z.strictObject({
  type: z.literal('prometheus').describe('The metrics source; Prometheus (or any server with its HTTP query API).'),
  url: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .refine((u) => {
      const url = new URL(u);
      return !url.username && !url.password && !url.search && !url.hash;
    }, 'a base URL without user:password, query or fragment')
    .describe(
      'Base URL of the query API, e.g. http://prometheus:9090 (a path prefix is kept: …/prometheus); fetched through the outbound policy.',
    ),
  timeoutSeconds: z.number().min(1).max(60).default(10).describe('Seconds one query may take (Prometheus is told the same bound).'),
});
export type MetricsSource = z.infer<typeof metricsSource>;

/** A Prometheus duration ("30s", "2m", "1h30m"): digits and units only, so it is safe inside a query. */
export const promDuration = z
  .string()
  .regex(/^([0-9]{1,6}(ms|s|m|h|d|w|y)){1,4}$/, 'a Prometheus duration such as 30s, 2m or 1h30m')
  .refine((d) => /[1-9]/.test(d), 'a duration longer than zero')
  .describe('A Prometheus range duration.');

export const analysisMetric = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, starting with a letter (at most 40)')
      .describe('Metric name for reports, e.g. error-rate (unique within the analysis).'),
    query: z
      .string()
      .min(1)
      .max(2000)
      .describe(
        'PromQL returning one number (aggregate with sum, avg…). ${variation} (the candidate), ${stable}, ${route} and ${window} are replaced before it is sent; no other ${…} is accepted.',
      ),
    max: z.number().optional().describe('Fails when the value is above this (with relativeToStable: above max × the stable value).'),
    min: z.number().optional().describe('Fails when the value is below this (with relativeToStable: below min × the stable value).'),
    relativeToStable: z
      .boolean()
      .default(false)
      .describe(
        'Run the query for the stable variation too, at the same instant, and compare the candidate with it: max and min are factors (0 or more) of the stable value; a stable value of 0 makes the limit 0, no stable data is noData.',
      ),
    noData: z
      .enum(['fail', 'pass', 'inconclusive'])
      .default('inconclusive')
      .describe('What an empty answer (no series, or NaN) means, e.g. no request reached the variation yet.'),
  })
  .superRefine((m, ctx) => {
    if (m.max === undefined && m.min === undefined) ctx.addIssue({ code: 'custom', message: 'give max, min or both', path: ['max'] });
    if (m.max !== undefined && m.min !== undefined && m.min > m.max)
      ctx.addIssue({ code: 'custom', message: 'min is greater than max: no value could pass', path: ['min'] });
    for (const [, name] of m.query.matchAll(TEMPLATE)) {
      if (!(QUERY_TEMPLATES as readonly string[]).includes(name ?? ''))
        ctx.addIssue({ code: 'custom', message: `unknown template \${${name}}; known: ${QUERY_TEMPLATES.join(', ')}`, path: ['query'] });
    }
    if (m.relativeToStable) {
      // Without ${variation} both queries would be the same and the comparison meaningless.
      if (!m.query.includes('${variation}'))
        ctx.addIssue({ code: 'custom', message: 'relativeToStable needs ${variation} in the query', path: ['query'] });
      for (const k of ['max', 'min'] as const) {
        const v = m[k];
        if (v !== undefined && v < 0)
          ctx.addIssue({ code: 'custom', message: `${k} is a factor of the stable value: 0 or more`, path: [k] });
      }
    }
  });
export type AnalysisMetric = z.infer<typeof analysisMetric>;

export const analysisSpec = z
  .strictObject({
    source: metricsSource,
    window: promDuration.default('1m').describe('The range ${window} stands for; keep each stage at least this long (holdSeconds).'),
    metrics: z.array(analysisMetric).min(1).max(20),
    intervalSeconds: z.number().int().min(1).max(3600).default(10).describe('Seconds before an inconclusive analysis is measured again.'),
  })
  .refine((s) => new Set(s.metrics.map((m) => m.name)).size === s.metrics.length, {
    message: 'metric names are unique',
    path: ['metrics'],
  });
export type AnalysisSpec = z.infer<typeof analysisSpec>;

/**
 * What a measurement compares and the route they serve. These go into PromQL (often inside "…" or a
 * regular expression), so they are checked again before substitution: lower-case letters, digits, ".", "_"
 * and "-" only (variation names and routes are slugs; a route defaulted from the rollout name may hold "."
 * or "_"), nothing that could close a string or a selector.
 */
const queryName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" or "-" (at most 63)');
export const analysisContext = z.strictObject({
  variation: queryName.describe('The candidate variation judged, e.g. "b".'),
  stable: queryName.describe('The stable variation, e.g. "a".'),
  route: queryName,
});
export type AnalysisContext = z.infer<typeof analysisContext>;

export const VERDICTS = ['pass', 'fail', 'inconclusive'] as const;
export type Verdict = (typeof VERDICTS)[number];

export const metricResult = z.object({
  name: z.string(),
  query: z.string().describe('The PromQL sent (templates expanded).'),
  value: z
    .number()
    .nullable()
    .describe('What it answered (null: no data, not a finite number, or the query failed; the reason says which).'),
  stableQuery: z.string().optional(),
  stableValue: z.number().nullable().optional(),
  threshold: z.string().describe('The threshold as applied, e.g. "≤ 0.01" or "≤ 1.5 × stable (0.2)".'),
  verdict: z.enum(VERDICTS),
  reason: z.string(),
});
export type MetricResult = z.infer<typeof metricResult>;

export const analysisResult = z.object({
  verdict: z.enum(VERDICTS),
  source: z.string().describe('The metrics source URL (no credentials).'),
  window: z.string(),
  measuredAt: z.string().describe('When the queries were evaluated (all of them, the stable ones included).'),
  metrics: z.array(metricResult),
});
export type AnalysisResult = z.infer<typeof analysisResult>;
