// A Prometheus instant query through the server's outbound door: GET <url>/api/v1/query, bounded in time
// and size, answered as one number (or null for no data). A query that returns several series is refused
// with the fix (aggregate it), since a threshold compares one value.
import { GantryError } from '../core/errors.js';
import { type Outbound, readCapped } from '../http/outbound.js';

export class MetricsQueryError extends GantryError {
  constructor(message: string) {
    super('metrics_query_failed', 502, message);
  }
}

const MAX_BYTES = 256 * 1024;

interface PromAnswer {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

/** The number of a PromQL value pair [time, "value"] (NaN and ±Inf are no data). */
function numberOf(pair: unknown): number | null {
  if (!Array.isArray(pair) || typeof pair[1] !== 'string') return null;
  const v = Number(pair[1]);
  return Number.isFinite(v) ? v : null;
}

export async function queryPrometheus(
  outbound: Outbound,
  source: { url: string; timeoutSeconds: number },
  promql: string,
  at: Date,
): Promise<{ value: number | null; series: number }> {
  const url = new URL('api/v1/query', source.url.endsWith('/') ? source.url : `${source.url}/`);
  url.searchParams.set('query', promql);
  url.searchParams.set('time', (at.getTime() / 1000).toFixed(3));
  let res: Response;
  try {
    res = await outbound.fetch(url.toString(), { method: 'GET', timeoutMs: source.timeoutSeconds * 1000, maxBytes: MAX_BYTES });
  } catch (err) {
    if (err instanceof GantryError) throw err; // refused by the outbound policy: its message says which setting allows it
    throw new MetricsQueryError(`Prometheus at ${url.origin} did not answer: ${(err as Error).message}`);
  }
  const { text } = await readCapped(res, MAX_BYTES);
  let body: PromAnswer;
  try {
    body = JSON.parse(text) as PromAnswer;
  } catch {
    throw new MetricsQueryError(
      `Prometheus at ${url.origin} answered HTTP ${res.status} with something that is not its JSON API: ${text.slice(0, 200)}`,
    );
  }
  if (body.status !== 'success') {
    throw new MetricsQueryError(
      `Prometheus refused the query (HTTP ${res.status}, ${body.errorType ?? 'error'}): ${body.error ?? text.slice(0, 200)}`,
    );
  }
  const result = body.data?.result;
  if (body.data?.resultType === 'scalar') return { value: numberOf(result), series: 1 };
  if (body.data?.resultType !== 'vector' || !Array.isArray(result)) {
    throw new MetricsQueryError(
      `the query returned a ${body.data?.resultType ?? 'missing'} result; it must return one number (an instant vector of one series or a scalar)`,
    );
  }
  if (result.length === 0) return { value: null, series: 0 };
  if (result.length > 1) {
    throw new MetricsQueryError(`the query returned ${result.length} series; aggregate it to one number (e.g. sum(…) or max(…))`);
  }
  return { value: numberOf((result[0] as { value?: unknown }).value), series: 1 };
}
