// A Prometheus instant query (GET <url>/api/v1/query) through the server's outbound door, bounded in time
// and size, reduced to the one number a threshold compares (or null for no data). Every way it can go
// wrong becomes a PrometheusError carrying Prometheus's own message and whether asking again may help:
// unreachable, timed out, overloaded or a 5xx is transient; a query Prometheus rejects (bad_data), a result
// that is not one number (several series, a range vector) or an answer that is not its API is not. A
// refusal by the outbound policy is left as it is (OutboundRefusedError, which names the setting).
import { GantryError } from '../core/errors.js';
import { type Outbound, OutboundTooLargeError, readCapped } from '../http/outbound.js';

/** An aggregated query answers a few hundred bytes; more means it was not aggregated. */
const MAX_ANSWER = 256 * 1024;
/** Series labels shown when a query returned several. */
const SHOWN_SERIES = 3;

/**
 * A query that failed. `transient`: whether asking again may help (Prometheus unreachable, busy, timed
 * out) or not (a bad query, a result that is not one number); the analysis waits on the first and fails on
 * the second.
 */
export class PrometheusError extends GantryError {
  readonly transient: boolean;
  constructor(message: string, opts: { code: string; status?: number; transient: boolean }) {
    super(opts.code, opts.status ?? 502, message);
    this.transient = opts.transient;
  }
}

export interface PrometheusAnswer {
  /** The one series' value; null when there is no data (no series, or NaN). ±Infinity is kept. */
  value: number | null;
  /** Series in the result (0 or 1; several is an error). */
  series: number;
}

interface PromBody {
  status?: unknown;
  errorType?: unknown;
  error?: unknown;
  data?: { resultType?: unknown; result?: unknown };
}

/** The endpoint under the source's base URL, keeping a path prefix (…/prometheus/api/v1/query). */
function endpoint(base: string): URL {
  const u = new URL(base);
  u.search = '';
  u.hash = '';
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return new URL('api/v1/query', u);
}

/** Prometheus writes sample values as strings: "0.05", "NaN", "+Inf". */
function sampleValue(v: unknown): number | null {
  if (!Array.isArray(v) || typeof v[1] !== 'string') throw new Error('a sample is not [time, "value"]');
  // JavaScript's Number() reads "+Inf" as NaN: Prometheus's infinities are spelled out here.
  if (v[1] === '+Inf' || v[1] === 'Inf') return Number.POSITIVE_INFINITY;
  if (v[1] === '-Inf') return Number.NEGATIVE_INFINITY;
  const n = Number(v[1]);
  return Number.isNaN(n) ? null : n;
}

function labels(metric: unknown): string {
  const entries = Object.entries((metric ?? {}) as Record<string, unknown>);
  return `{${entries.map(([k, v]) => `${k}="${String(v)}"`).join(', ')}}`;
}

/** Runs `promql` as an instant query at `at` (default: Prometheus's now) and returns its one number. */
export async function queryPrometheus(
  outbound: Outbound,
  source: { url: string; timeoutSeconds: number },
  promql: string,
  at?: Date,
): Promise<PrometheusAnswer> {
  const url = endpoint(source.url);
  url.searchParams.set('query', promql);
  if (at) url.searchParams.set('time', (at.getTime() / 1000).toFixed(3));
  // Prometheus stops evaluating at the same bound instead of working on after we gave up (seconds, as a number).
  url.searchParams.set('timeout', String(source.timeoutSeconds));
  const where = `Prometheus at ${url.origin}${url.pathname.replace(/api\/v1\/query$/, '')}`;

  let status: number;
  let text: string;
  try {
    const res = await outbound.fetch(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      timeoutMs: source.timeoutSeconds * 1000,
      maxBytes: MAX_ANSWER,
    });
    status = res.status;
    text = (await readCapped(res, MAX_ANSWER)).text;
  } catch (err) {
    if (err instanceof OutboundTooLargeError)
      throw new PrometheusError(`${where} answered more than ${MAX_ANSWER} bytes; aggregate the query to one number (sum, avg).`, {
        code: 'prometheus_answer_too_large',
        transient: false,
      });
    // A refusal by the outbound policy is already typed and says which setting allows the address.
    if (err instanceof GantryError) throw err;
    const e = err as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
      throw new PrometheusError(`${where} did not answer within ${source.timeoutSeconds} s.`, {
        code: 'prometheus_timeout',
        status: 504,
        transient: true,
      });
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw new PrometheusError(`${where} could not be reached: ${cause ?? e.message}`, { code: 'prometheus_unavailable', transient: true });
  }

  let body: PromBody | undefined;
  try {
    body = JSON.parse(text) as PromBody;
  } catch {
    // not JSON: a proxy's error page, or not a Prometheus at all
  }
  if (body?.status === 'error') {
    // bad_data is the query's fault (HTTP 400); timeout, canceled, execution, unavailable are Prometheus's.
    const bad = body.errorType === 'bad_data';
    throw new PrometheusError(`${where} refused the query (${String(body.errorType)}): ${String(body.error)}`, {
      code: bad ? 'prometheus_bad_query' : 'prometheus_query_failed',
      status: bad ? 422 : 502,
      transient: !bad,
    });
  }
  if (status < 200 || status > 299 || body?.status !== 'success') {
    const snippet = text.slice(0, 200).replace(/\s+/g, ' ').trim();
    throw new PrometheusError(`${where} answered HTTP ${status} without a Prometheus result${snippet ? `: ${snippet}` : ''}`, {
      code: 'prometheus_unavailable',
      // Overloaded or restarting may pass; a wrong URL (404), missing rights (401/403) or not Prometheus will not.
      transient: status >= 500 || status === 429,
    });
  }

  const data = body.data ?? {};
  const shape = (msg: string) =>
    new PrometheusError(`${where}: ${msg} (query: ${promql})`, { code: 'prometheus_bad_result', status: 422, transient: false });
  try {
    if (data.resultType === 'scalar') return { value: sampleValue(data.result), series: 1 };
    if (data.resultType !== 'vector' || !Array.isArray(data.result))
      throw shape(`the query returned a ${String(data.resultType)}, not one number; write an instant query such as sum(rate(x[5m]))`);
    const result = data.result as { metric?: unknown; value?: unknown }[];
    if (result.length === 0) return { value: null, series: 0 };
    if (result.length > 1) {
      const shown = result.slice(0, SHOWN_SERIES).map((s) => labels(s.metric));
      throw shape(
        `the query returned ${result.length} series (${shown.join(', ')}${result.length > SHOWN_SERIES ? ', …' : ''}); aggregate it to one number with sum(…) or avg(…)`,
      );
    }
    return { value: sampleValue(result[0]!.value), series: 1 };
  } catch (err) {
    if (err instanceof PrometheusError) throw err;
    throw shape(`unexpected answer: ${(err as Error).message}`);
  }
}
