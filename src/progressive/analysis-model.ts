// The metric analysis that judges a progressive rollout's stage: where the metrics come from
// (Prometheus), which PromQL queries, and the thresholds; and the result recorded in the evidence (the
// query actually sent, the value, the threshold, the verdict).
import { z } from 'zod';

export const metricsSource = z.strictObject({
  type: z.literal('prometheus').describe('The metrics source; Prometheus (or any server with its HTTP query API).'),
  url: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .describe('Base URL of the query API, e.g. http://prometheus:9090 (fetched through the outbound policy).'),
  timeoutSeconds: z.number().min(1).max(60).default(10).describe('Seconds one query may take.'),
});

const duration = z
  .string()
  .regex(/^[1-9][0-9]{0,5}(ms|s|m|h)$/, 'a Prometheus duration such as 30s, 2m or 1h')
  .describe('A Prometheus range duration.');

export const analysisMetric = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,39}$/)
      .describe('Metric name for reports, e.g. error-rate.'),
    query: z
      .string()
      .min(1)
      .max(2000)
      .describe(
        'PromQL returning one number. ${variation} (the candidate), ${stable}, ${route} and ${window} are replaced before it is sent.',
      ),
    max: z.number().optional().describe('Fails when the value is above this (with relativeToStable: above max × the stable value).'),
    min: z.number().optional().describe('Fails when the value is below this (with relativeToStable: below min × the stable value).'),
    relativeToStable: z
      .boolean()
      .default(false)
      .describe('Run the query for the stable variation too and compare the candidate with it (thresholds are ratios).'),
    noData: z
      .enum(['fail', 'pass', 'inconclusive'])
      .default('inconclusive')
      .describe('What an empty answer means (e.g. no request reached the variation yet).'),
  })
  .refine((m) => m.max !== undefined || m.min !== undefined, { message: 'give max, min or both' });
export type AnalysisMetric = z.infer<typeof analysisMetric>;

export const analysisSpec = z.strictObject({
  source: metricsSource,
  window: duration.default('1m').describe('The range ${window} stands for; keep each stage at least this long (holdSeconds).'),
  metrics: z.array(analysisMetric).min(1).max(20),
  intervalSeconds: z.number().int().min(1).max(3600).default(10).describe('Seconds before an inconclusive analysis is measured again.'),
});
export type AnalysisSpec = z.infer<typeof analysisSpec>;

export const VERDICTS = ['pass', 'fail', 'inconclusive'] as const;
export type Verdict = (typeof VERDICTS)[number];

export const metricResult = z.object({
  name: z.string(),
  query: z.string().describe('The PromQL sent (templates expanded).'),
  value: z.number().nullable().describe('What it answered (null: no data).'),
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
  measuredAt: z.string(),
  metrics: z.array(metricResult),
});
export type AnalysisResult = z.infer<typeof analysisResult>;
