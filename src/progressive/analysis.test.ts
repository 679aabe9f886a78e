// The analysis against a fake Prometheus: a Node HTTP server on 127.0.0.1 answering /prom/api/v1/query with
// canned JSON per query, for the answer shapes a real one gives (one series, none, several, NaN, ±Inf,
// errors). The real Prometheus is in test/e2e/prometheus-analysis.test.ts; the ticker acting on the
// verdicts in progressive.test.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { Outbound, OutboundRefusedError } from '../http/outbound.js';
import { expandQuery, judgeValue, runAnalysis } from './analysis.js';
import { type AnalysisSpec, analysisMetric, analysisSpec } from './analysis-model.js';
import { PrometheusError, queryPrometheus } from './prometheus.js';

interface Canned {
  status?: number;
  body: unknown;
  /** Never answer (for the timeout). */
  hang?: boolean;
}

const vector = (...values: string[]) => ({
  status: 'success',
  data: { resultType: 'vector', result: values.map((v, i) => ({ metric: { instance: `i${i}` }, value: [1767225600, v] })) },
});

/** A stand-in for Prometheus's query API: answers the canned reply for the query, records what it was sent. */
class FakePrometheus {
  readonly answers = new Map<string, Canned>();
  readonly seen: URLSearchParams[] = [];
  private server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://fake');
    if (u.pathname !== '/prom/api/v1/query') {
      res.writeHead(404).end('not found');
      return;
    }
    this.seen.push(u.searchParams);
    const canned = this.answers.get(u.searchParams.get('query') ?? '') ?? { body: vector() };
    if (canned.hang) return;
    res.writeHead(canned.status ?? 200, { 'content-type': 'application/json' });
    res.end(typeof canned.body === 'string' ? canned.body : JSON.stringify(canned.body));
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/prom`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const fake = new FakePrometheus();
const outbound = new Outbound({ allow: ['127.0.0.1/32'] });
const clock = new ManualClock('2026-01-01T00:00:00Z');
const deps = { outbound, clock };
const ctx = { variation: 'b', stable: 'a', route: 'checkout' };

function spec(metrics: unknown[], extra: Record<string, unknown> = {}): AnalysisSpec {
  return analysisSpec.parse({ source: { type: 'prometheus', url: fake.url }, window: '30s', metrics, ...extra });
}

beforeAll(() => fake.start());
afterAll(async () => {
  await fake.stop();
  await outbound.close();
});
beforeEach(() => {
  fake.answers.clear();
  fake.seen.length = 0;
});

describe('the schema', () => {
  it('fills the defaults', () => {
    const s = spec([{ name: 'errors', query: 'sum(x)', max: 1 }], { window: undefined });
    expect(s).toMatchObject({ window: '1m', intervalSeconds: 10, source: { timeoutSeconds: 10 } });
    expect(s.metrics[0]).toMatchObject({ noData: 'inconclusive', relativeToStable: false });
  });

  it('accepts the four templates, compound windows and a path prefix', () => {
    const s = analysisSpec.parse({
      source: { type: 'prometheus', url: 'http://p:9090/prometheus' },
      window: '1h30m',
      metrics: [{ name: 'm', query: 'sum(x{v="${variation}",s="${stable}",r="${route}"}[${window}])', min: 0, max: 1 }],
    });
    expect(s.window).toBe('1h30m');
  });

  it.each([
    [{ name: 'm', query: 'x' }, 'give max, min or both'],
    [{ name: 'm', query: 'x{v="${version}"}', max: 1 }, 'unknown template ${version}'],
    [{ name: 'm', query: 'x{v="${}"}', max: 1 }, 'unknown template ${}'],
    [{ name: 'm', query: 'sum(x)', max: 2, relativeToStable: true }, 'needs ${variation}'],
    [{ name: 'm', query: 'x{v="${variation}"}', max: -1, relativeToStable: true }, 'factor'],
    [{ name: 'm', query: 'x', min: 2, max: 1 }, 'min is greater than max'],
    [{ name: 'Bad Name', query: 'x', max: 1 }, 'lower-case'],
    [{ name: 'm', query: 'x'.repeat(2001), max: 1 }, '2000'],
  ])('refuses metric %j', (m, message) => {
    const r = analysisMetric.safeParse(m);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(message);
  });

  it.each([
    [{ url: 'ftp://prom:9090' }],
    [{ url: 'http://user:pw@prom:9090' }],
    [{ url: 'http://prom:9090/?x=1' }],
    [{ url: 'http://prom:9090/#top' }],
  ])('refuses source %j', (source) => {
    expect(
      analysisSpec.safeParse({ source: { type: 'prometheus', ...source }, metrics: [{ name: 'm', query: 'x', max: 1 }] }).success,
    ).toBe(false);
  });

  it.each(['0s', '1 m', '1m]', '5x', '1m${route}', ''])('refuses window %j', (window) => {
    expect(
      analysisSpec.safeParse({ source: { type: 'prometheus', url: 'http://p:9090' }, window, metrics: [{ name: 'm', query: 'x', max: 1 }] })
        .success,
    ).toBe(false);
  });

  it('refuses duplicate metric names', () => {
    const m = { name: 'm', query: 'x', max: 1 };
    const r = analysisSpec.safeParse({ source: { type: 'prometheus', url: 'http://p:9090' }, metrics: [m, m] });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('metric names are unique');
  });
});

describe('expandQuery', () => {
  it('replaces the known templates and leaves anything else (a spec stored before the schema refused it)', () => {
    expect(
      expandQuery('x{v="${variation}",s="${stable}",r="${route}",o="${other}"}[${window}]', {
        variation: 'b',
        stable: 'a',
        route: 'checkout',
        window: '30s',
      }),
    ).toBe('x{v="b",s="a",r="checkout",o="${other}"}[30s]');
  });
});

describe('judgeValue', () => {
  const metric = (m: Record<string, unknown>) => analysisMetric.parse({ name: 'm', query: 'x{v="${variation}"}', ...m });

  it('a stable value of 0 makes a relative limit 0', () => {
    const m = metric({ max: 2, relativeToStable: true });
    expect(judgeValue(m, 0, 0)).toMatchObject({ verdict: 'pass', threshold: '≤ 2 × stable (0)' });
    expect(judgeValue(m, 0.001, 0)).toMatchObject({ verdict: 'fail', reason: '0.001 is above 0' });
  });

  it('an infinite stable value leaves nothing to compare against: inconclusive', () => {
    const m = metric({ max: 1.5, relativeToStable: true });
    expect(judgeValue(m, 0.1, Number.POSITIVE_INFINITY)).toEqual({
      verdict: 'inconclusive',
      threshold: '≤ 1.5 × stable',
      reason: 'the stable value is +Inf: nothing to compare against',
    });
  });

  it('-Inf is below any min', () => {
    expect(judgeValue(metric({ min: 0 }), Number.NEGATIVE_INFINITY)).toMatchObject({ verdict: 'fail', reason: '-Inf is below 0' });
  });
});

describe('queryPrometheus', () => {
  const source = () => spec([{ name: 'm', query: 'x', max: 1 }]).source;

  it('sends the query at the given time, under the path prefix, and returns the one series value', async () => {
    fake.answers.set('up', { body: vector('0.25') });
    const a = await queryPrometheus(outbound, source(), 'up', new Date('2026-01-01T00:00:00.5Z'));
    expect(a).toEqual({ value: 0.25, series: 1 });
    expect(fake.seen[0]?.get('time')).toBe('1767225600.500');
    expect(fake.seen[0]?.get('timeout')).toBe('10');
  });

  it('reads a scalar', async () => {
    fake.answers.set('scalar(up)', { body: { status: 'success', data: { resultType: 'scalar', result: [1, '3'] } } });
    expect((await queryPrometheus(outbound, source(), 'scalar(up)')).value).toBe(3);
  });

  it('an empty vector and NaN are no data; ±Inf are infinities', async () => {
    fake.answers.set('nan', { body: vector('NaN') });
    fake.answers.set('inf', { body: vector('+Inf') });
    fake.answers.set('-inf', { body: vector('-Inf') });
    expect(await queryPrometheus(outbound, source(), 'empty')).toEqual({ value: null, series: 0 });
    expect(await queryPrometheus(outbound, source(), 'nan')).toEqual({ value: null, series: 1 });
    expect((await queryPrometheus(outbound, source(), 'inf')).value).toBe(Number.POSITIVE_INFINITY);
    expect((await queryPrometheus(outbound, source(), '-inf')).value).toBe(Number.NEGATIVE_INFINITY);
  });

  it('several series: tells the user to aggregate', async () => {
    fake.answers.set('many', { body: vector('1', '2', '3', '4') });
    const err = await queryPrometheus(outbound, source(), 'many').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusError);
    expect((err as PrometheusError).message).toMatch(/returned 4 series \(\{instance="i0"\}.*…\); aggregate it to one number with sum/);
    expect((err as PrometheusError).transient).toBe(false);
  });

  it('a range vector is refused with a hint', async () => {
    fake.answers.set('x[1m]', { body: { status: 'success', data: { resultType: 'matrix', result: [] } } });
    await expect(queryPrometheus(outbound, source(), 'x[1m]')).rejects.toThrow(/returned a matrix, not one number/);
  });

  it('a sample that is not [time, "value"] is a bad result', async () => {
    fake.answers.set('odd', { body: { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: 3 }] } } });
    const err = (await queryPrometheus(outbound, source(), 'odd').catch((e: unknown) => e)) as PrometheusError;
    expect(err.code).toBe('prometheus_bad_result');
    expect(err.transient).toBe(false);
  });

  it('a Prometheus error JSON carries its message; bad_data is the query’s fault', async () => {
    fake.answers.set('sum(', {
      status: 400,
      body: { status: 'error', errorType: 'bad_data', error: '1:5: parse error: unclosed left parenthesis' },
    });
    const err = (await queryPrometheus(outbound, source(), 'sum(').catch((e: unknown) => e)) as PrometheusError;
    expect(err).toBeInstanceOf(PrometheusError);
    expect(err.code).toBe('prometheus_bad_query');
    expect(err.status).toBe(422);
    expect(err.transient).toBe(false);
    expect(err.message).toContain('(bad_data): 1:5: parse error: unclosed left parenthesis');

    fake.answers.set('slow', {
      status: 503,
      body: { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' },
    });
    const slow = (await queryPrometheus(outbound, source(), 'slow').catch((e: unknown) => e)) as PrometheusError;
    expect(slow.transient).toBe(true);
    expect(slow.message).toContain('query timed out');
  });

  it('an HTTP 500 that is not Prometheus JSON is a transient upstream error; a 404 is not', async () => {
    fake.answers.set('boom', { status: 500, body: '<html>upstream exploded</html>' });
    const err = (await queryPrometheus(outbound, source(), 'boom').catch((e: unknown) => e)) as PrometheusError;
    expect(err).toBeInstanceOf(PrometheusError);
    expect(err.message).toMatch(/answered HTTP 500 .*upstream exploded/);
    expect(err.transient).toBe(true);

    const wrong = (await queryPrometheus(outbound, { ...source(), url: fake.url.replace('/prom', '/nope') }, 'up').catch(
      (e: unknown) => e,
    )) as PrometheusError;
    expect(wrong.message).toMatch(/answered HTTP 404 without a Prometheus result: not found/);
    expect(wrong.transient).toBe(false);
  });

  it('an unreachable Prometheus is transient', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = (await queryPrometheus(outbound, { ...source(), url: `http://127.0.0.1:${port}` }, 'up').catch(
      (e: unknown) => e,
    )) as PrometheusError;
    expect(err.code).toBe('prometheus_unavailable');
    expect(err.transient).toBe(true);
  });

  it('a Prometheus that does not answer within timeoutSeconds is transient', async () => {
    fake.answers.set('hang', { body: '', hang: true });
    const err = (await queryPrometheus(outbound, { ...source(), timeoutSeconds: 1 }, 'hang').catch((e: unknown) => e)) as PrometheusError;
    expect(err.code).toBe('prometheus_timeout');
    expect(err.message).toContain('did not answer within 1 s');
    expect(err.transient).toBe(true);
  });

  it('an answer too large to be one aggregated number is refused', async () => {
    fake.answers.set('huge', { body: vector(...Array.from({ length: 5000 }, (_, i) => String(i))) });
    const err = (await queryPrometheus(outbound, source(), 'huge').catch((e: unknown) => e)) as PrometheusError;
    expect(err.code).toBe('prometheus_answer_too_large');
    expect(err.transient).toBe(false);
  });

  it('goes through the outbound door: loopback is refused without an allow rule', async () => {
    const deny = new Outbound();
    try {
      const err = await queryPrometheus(deny, source(), 'up').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutboundRefusedError);
      expect((err as Error).message).toContain('GANTRY_OUTBOUND_ALLOW=');
      expect(fake.seen).toEqual([]);
    } finally {
      await deny.close();
    }
  });
});

describe('runAnalysis', () => {
  const errorRate = 'sum(rate(http_requests_total{variation="${variation}",route="${route}",code=~"5.."}[${window}]))';

  it('expands the templates and sends every query at the clock’s now', async () => {
    const expanded = 'sum(rate(http_requests_total{variation="b",route="checkout",code=~"5.."}[30s]))';
    fake.answers.set(expanded, { body: vector('0.001') });
    const r = await runAnalysis(deps, spec([{ name: 'errors', query: errorRate, max: 0.01 }]), ctx);
    expect(r).toEqual({
      verdict: 'pass',
      source: fake.url,
      measuredAt: '2026-01-01T00:00:00.000Z',
      window: '30s',
      metrics: [{ name: 'errors', query: expanded, value: 0.001, threshold: '≤ 0.01', verdict: 'pass', reason: '0.001 is within ≤ 0.01' }],
    });
    expect(fake.seen.map((p) => p.get('time'))).toEqual(['1767225600.000']);
  });

  it.each([{ variation: 'b"} or vector(1) #' }, { route: 'x"}[1m]) or vector(0) or sum(y{a="' }, { stable: '' }, { variation: 'B' }])(
    'refuses a context %j: its names go into PromQL',
    async (bad) => {
      await expect(runAnalysis(deps, spec([{ name: 'e', query: errorRate, max: 1 }]), { ...ctx, ...bad })).rejects.toThrow(
        /not safe to put into a query/,
      );
      expect(fake.seen).toEqual([]);
    },
  );

  it('accepts a route defaulted from a rollout name with "." or "_"', async () => {
    const r = await runAnalysis(deps, spec([{ name: 'e', query: errorRate, max: 1 }]), { ...ctx, route: 'shop.checkout_v2' });
    expect(r.metrics[0]?.query).toContain('route="shop.checkout_v2"');
  });

  it.each([
    [{ max: 0.01 }, '0.05', 'fail', '≤ 0.01', '0.05 is above 0.01'],
    [{ max: 0.05 }, '0.05', 'pass', '≤ 0.05', '0.05 is within ≤ 0.05'],
    [{ min: 0.99 }, '0.95', 'fail', '≥ 0.99', '0.95 is below 0.99'],
    [{ min: 0.9, max: 1 }, '0.95', 'pass', '≥ 0.9 and ≤ 1', '0.95 is within ≥ 0.9 and ≤ 1'],
    [{ max: 0.5 }, '+Inf', 'fail', '≤ 0.5', '+Inf is above 0.5'],
    [{ min: 0 }, '+Inf', 'pass', '≥ 0', '+Inf is within ≥ 0'],
    [{ max: 0.01 }, '0.0500000001', 'fail', '≤ 0.01', '0.05 is above 0.01'],
  ])('thresholds %j against %s: %s', async (limits, value, verdict, threshold, reason) => {
    fake.answers.set('q', { body: vector(value) });
    const r = await runAnalysis(deps, spec([{ name: 'm', query: 'q', ...limits }]), ctx);
    expect(r.verdict).toBe(verdict);
    expect(r.metrics[0]).toMatchObject({ threshold, verdict, reason });
  });

  it.each([
    ['inconclusive', 'inconclusive'],
    ['pass', 'pass'],
    ['fail', 'fail'],
  ] as const)('no data with noData=%s', async (noData, verdict) => {
    const r = await runAnalysis(deps, spec([{ name: 'm', query: 'empty', max: 1, noData }]), ctx);
    expect(r.verdict).toBe(verdict);
    expect(r.metrics[0]).toMatchObject({ value: null, verdict, reason: `no data for b; noData is "${noData}"` });
  });

  it('NaN is no data', async () => {
    fake.answers.set('q', { body: vector('NaN') });
    const r = await runAnalysis(deps, spec([{ name: 'm', query: 'q', max: 1 }]), ctx);
    expect(r.metrics[0]).toMatchObject({ value: null, verdict: 'inconclusive', reason: 'no data for b; noData is "inconclusive"' });
  });

  it('relativeToStable compares with max × the stable value measured at the same instant', async () => {
    const p95 = 'histogram_quantile(0.95, sum by (le) (rate(d_bucket{variation="${variation}"}[${window}])))';
    const q = (v: string) => p95.replace('${variation}', v).replace('${window}', '30s');
    fake.answers.set(q('a'), { body: vector('0.002') });
    fake.answers.set(q('b'), { body: vector('0.0035') });
    const relative = spec([{ name: 'p95', query: p95, max: 1.5, relativeToStable: true }]);
    const r = await runAnalysis(deps, relative, ctx);
    expect(r.metrics[0]).toEqual({
      name: 'p95',
      query: q('b'),
      value: 0.0035,
      stableQuery: q('a'),
      stableValue: 0.002,
      threshold: '≤ 1.5 × stable (0.002)',
      verdict: 'fail',
      reason: '0.0035 is above 0.003',
    });
    expect(new Set(fake.seen.map((p) => p.get('time')))).toEqual(new Set(['1767225600.000']));

    fake.answers.set(q('b'), { body: vector('0.0025') });
    const ok = await runAnalysis(deps, relative, ctx);
    expect(ok.metrics[0]).toMatchObject({ verdict: 'pass', reason: '0.0025 is within ≤ 1.5 × stable (0.002)' });

    fake.answers.delete(q('a'));
    const none = await runAnalysis(deps, relative, ctx);
    expect(none.metrics[0]).toMatchObject({
      verdict: 'inconclusive',
      stableValue: null,
      threshold: '≤ 1.5 × stable',
      reason: 'no data for the stable a; noData is "inconclusive"',
    });

    fake.answers.set(q('a'), { body: vector('+Inf') });
    const inf = await runAnalysis(deps, relative, ctx);
    expect(inf.metrics[0]).toMatchObject({
      verdict: 'inconclusive',
      value: 0.0025,
      stableValue: null,
      reason: 'the stable value is +Inf: nothing to compare against',
    });
  });

  it('a failing stable query is judged like the candidate’s: transient inconclusive, permanent fail', async () => {
    const query = 'x{variation="${variation}"}';
    fake.answers.set('x{variation="b"}', { body: vector('1') });
    fake.answers.set('x{variation="a"}', { status: 503, body: 'Service Unavailable' });
    const relative = spec([{ name: 'm', query, max: 2, relativeToStable: true }]);
    const down = await runAnalysis(deps, relative, ctx);
    expect(down.metrics[0]).toMatchObject({ verdict: 'inconclusive', value: 1, stableValue: null, threshold: '≤ 2 × stable' });
    expect(down.metrics[0]?.reason).toMatch(/^the stable \(a\) query failed: .*HTTP 503/);

    fake.answers.set('x{variation="a"}', { body: vector('1', '2') });
    const many = await runAnalysis(deps, relative, ctx);
    expect(many.verdict).toBe('fail');
    expect(many.metrics[0]?.reason).toMatch(/^the stable \(a\) query failed: .*returned 2 series/);
  });

  it('a bad query fails the analysis; an unavailable Prometheus makes it inconclusive; a failure outweighs both', async () => {
    fake.answers.set('many', { body: vector('1', '2') });
    fake.answers.set('down', { status: 503, body: 'Service Unavailable' });
    fake.answers.set('fine', { body: vector('0') });
    fake.answers.set('sum(', { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error' } });
    const r = await runAnalysis(
      deps,
      spec([
        { name: 'many', query: 'many', max: 1 },
        { name: 'down', query: 'down', max: 1 },
        { name: 'fine', query: 'fine', max: 1 },
        { name: 'unparsable', query: 'sum(', max: 1 },
      ]),
      ctx,
    );
    expect(r.verdict).toBe('fail');
    expect(r.metrics.map((m) => m.verdict)).toEqual(['fail', 'inconclusive', 'pass', 'fail']);
    expect(r.metrics[0]?.reason).toMatch(/^the b query failed: .*aggregate/);
    expect(r.metrics[3]?.reason).toMatch(/^the b query failed: .*refused the query \(bad_data\): parse error/);
    expect(r.metrics[0]).toMatchObject({ value: null, threshold: '≤ 1' });
    const down = await runAnalysis(deps, spec([{ name: 'down', query: 'down', max: 1 }]), ctx);
    expect(down.verdict).toBe('inconclusive');
  });

  it('an address the outbound policy refuses fails the analysis (it would be refused again)', async () => {
    const deny = new Outbound();
    try {
      const r = await runAnalysis({ outbound: deny, clock }, spec([{ name: 'm', query: 'q', max: 1 }]), ctx);
      expect(r.verdict).toBe('fail');
      expect(r.metrics[0]?.reason).toMatch(/^the b query failed: Refused to connect .*GANTRY_OUTBOUND_ALLOW=/);
    } finally {
      await deny.close();
    }
  });

  it('the result is plain JSON: ±Inf recorded as null with the reason naming it, the source without credentials', async () => {
    fake.answers.set('q', { body: vector('+Inf') });
    const r = await runAnalysis(deps, spec([{ name: 'm', query: 'q', max: 1 }]), ctx);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(r.metrics[0]).toMatchObject({ value: null, verdict: 'fail', reason: '+Inf is above 1' });

    // A spec stored before the schema refused credentials in the URL: never repeated in the result.
    const stored = { ...spec([{ name: 'm', query: 'q', max: 1 }]) };
    stored.source = { ...stored.source, url: fake.url.replace('http://', 'http://user:hunter2@') };
    const old = await runAnalysis(deps, stored, ctx);
    expect(old.source).toBe(fake.url);
    expect(JSON.stringify(old)).not.toContain('hunter2');
    expect(old.verdict).toBe('fail');
  });
});
