// Canary analysis against a real Prometheus: four small Node HTTP services (routes "checkout" and "search",
// each with a stable variation a and a canary b) count their requests and latencies in the Prometheus text
// format; a driver keeps requests flowing while Prometheus scrapes them every second. On checkout, b answers
// every 20th request with a 500 and takes 30 ms more; on search, b is as healthy as a. The analysis, through
// Gantry's outbound door, must fail checkout's canary (error rate ≈ 0.05 > 0.01, p95 > 1.5 × stable) and
// pass search's.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { Outbound } from '../../src/http/outbound.js';
import { runAnalysis } from '../../src/progressive/analysis.js';
import { analysisSpec } from '../../src/progressive/analysis-model.js';
import { prometheusMissing, startPrometheus, type TestPrometheus } from '../support/prometheus.js';

const skip = prometheusMissing();

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

interface Service {
  route: string;
  variation: string;
  port: number;
  requests: number;
  server: http.Server;
}

/**
 * A service exposing http_requests_total{route,variation,code} and the http_request_duration_seconds
 * histogram on /metrics. Both codes are exported from the start (at 0): a series that appears only with
 * the first error would leave a healthy variation with no error series, and its error rate with no data.
 */
async function service(route: string, variation: string, behaviour: { errorEvery?: number; delayMs?: number }): Promise<Service> {
  const codes = new Map<string, number>([
    ['200', 0],
    ['500', 0],
  ]);
  const buckets = BUCKETS.map(() => 0);
  let count = 0;
  let sum = 0;
  const labels = `route="${route}",variation="${variation}"`;
  const svc: Service = { route, variation, port: 0, requests: 0, server: http.createServer() };
  svc.server.on('request', (req, res) => {
    if (req.url === '/metrics') {
      const lines = ['# TYPE http_requests_total counter'];
      for (const [code, n] of codes) lines.push(`http_requests_total{${labels},code="${code}"} ${n}`);
      lines.push('# TYPE http_request_duration_seconds histogram');
      BUCKETS.forEach((le, i) => {
        lines.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${buckets[i]}`);
      });
      lines.push(`http_request_duration_seconds_bucket{${labels},le="+Inf"} ${count}`);
      lines.push(`http_request_duration_seconds_sum{${labels}} ${sum}`, `http_request_duration_seconds_count{${labels}} ${count}`);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`);
      return;
    }
    const started = process.hrtime.bigint();
    const n = ++svc.requests;
    const code = behaviour.errorEvery && n % behaviour.errorEvery === 0 ? '500' : '200';
    const answer = () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      BUCKETS.forEach((le, i) => {
        if (seconds <= le) buckets[i]! += 1;
      });
      count += 1;
      sum += seconds;
      res.writeHead(Number(code)).end(`${variation}\n`);
    };
    if (behaviour.delayMs) setTimeout(answer, behaviour.delayMs);
    else answer();
  });
  await new Promise<void>((r) => svc.server.listen(0, '127.0.0.1', r));
  svc.port = (svc.server.address() as AddressInfo).port;
  return svc;
}

/** Keeps `loops` keep-alive clients requesting from each service (with a short pause) until stopped. */
function drive(services: Service[], loops = 2): () => Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let running = true;
  const one = (port: number) =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
    });
  const all = services.flatMap((s) =>
    Array.from({ length: loops }, async () => {
      while (running) {
        await one(s.port);
        await new Promise((r) => setTimeout(r, 5));
      }
    }),
  );
  return async () => {
    running = false;
    await Promise.all(all);
    agent.destroy();
  };
}

const ERROR_RATE =
  'sum(rate(http_requests_total{route="${route}",variation="${variation}",code=~"5.."}[${window}])) / sum(rate(http_requests_total{route="${route}",variation="${variation}"}[${window}]))';
const P95 =
  'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{route="${route}",variation="${variation}"}[${window}])))';

describe.skipIf(skip)('canary analysis against a real Prometheus', () => {
  let services: Service[] = [];
  let stopDriving: (() => Promise<void>) | undefined;
  let prom: TestPrometheus | undefined;
  const outbound = new Outbound({ allow: ['127.0.0.1/32'] });
  const deps = { outbound, clock: systemClock };
  const spec = () =>
    analysisSpec.parse({
      source: { type: 'prometheus', url: prom!.url, timeoutSeconds: 5 },
      window: '15s',
      metrics: [
        { name: 'error-rate', query: ERROR_RATE, max: 0.01 },
        { name: 'p95-latency', query: P95, max: 1.5, relativeToStable: true },
      ],
    });

  beforeAll(async () => {
    services = await Promise.all([
      service('checkout', 'a', {}),
      service('checkout', 'b', { errorEvery: 20, delayMs: 30 }),
      service('search', 'a', {}),
      service('search', 'b', {}),
    ]);
    stopDriving = drive(services);
    prom = await startPrometheus({ scrapeTargets: services.map((s) => `127.0.0.1:${s.port}`), scrapeIntervalSeconds: 1 });
    // A 15 s rate needs the window filled: 13 scrapes of every series inside it (1 s apart).
    await prom.waitForSamples('http_requests_total', 13, { window: '15s', timeoutMs: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await stopDriving?.();
    await prom?.stop();
    await Promise.all(services.map((s) => new Promise((r) => s.server.close(r))));
    await outbound.close();
  });

  it('fails the checkout canary: about 5% errors against max 0.01, and p95 above 1.5 × stable', async () => {
    const r = await runAnalysis(deps, spec(), { variation: 'b', stable: 'a', route: 'checkout' });
    process.stderr.write(`checkout b: ${JSON.stringify(r)}\n`);
    expect(r.verdict).toBe('fail');
    expect(r).toMatchObject({ source: `${prom!.url}/`, window: '15s' });
    const [errors, p95] = r.metrics;
    expect(errors).toMatchObject({ name: 'error-rate', verdict: 'fail', threshold: '≤ 0.01' });
    expect(errors!.query).toContain('{route="checkout",variation="b",code=~"5.."}[15s]');
    expect(errors!.value).toBeGreaterThan(0.03);
    expect(errors!.value).toBeLessThan(0.07);
    expect(p95).toMatchObject({ name: 'p95-latency', verdict: 'fail' });
    expect(p95!.stableQuery).toContain('variation="a"');
    // b's 30 ms delay puts its p95 in the 25–50 ms bucket; a answers within the first (≤ 5 ms).
    expect(p95!.value).toBeGreaterThan(0.025);
    expect(p95!.stableValue).toBeLessThanOrEqual(0.005);
    expect(p95!.threshold).toMatch(/^≤ 1\.5 × stable \(0\.00\d+\)$/);
  });

  it('passes the search canary: no errors, and the same latency as stable', async () => {
    const r = await runAnalysis(deps, spec(), { variation: 'b', stable: 'a', route: 'search' });
    process.stderr.write(`search b: ${JSON.stringify(r)}\n`);
    expect(r.metrics.map((m) => [m.name, m.verdict])).toEqual([
      ['error-rate', 'pass'],
      ['p95-latency', 'pass'],
    ]);
    expect(r.verdict).toBe('pass');
    expect(r.metrics[0]!.value).toBe(0);
    expect(r.metrics[1]!.value).toBeLessThanOrEqual(0.005);
  });

  it('the stable variation itself passes the absolute error rate', async () => {
    const r = await runAnalysis(deps, spec(), { variation: 'a', stable: 'a', route: 'checkout' });
    expect(r.metrics[0]).toMatchObject({ value: 0, verdict: 'pass' });
  });

  it('a route without traffic has no data: inconclusive', async () => {
    const r = await runAnalysis(deps, spec(), { variation: 'b', stable: 'a', route: 'cart' });
    expect(r.verdict).toBe('inconclusive');
    expect(r.metrics.map((m) => m.reason)).toEqual(['no data for b; noData is "inconclusive"', 'no data for b; noData is "inconclusive"']);
  });

  it("Prometheus's own errors reach the result: several series, and a query it cannot parse", async () => {
    const r = await runAnalysis(
      deps,
      analysisSpec.parse({
        source: { type: 'prometheus', url: prom!.url },
        window: '15s',
        metrics: [
          { name: 'unaggregated', query: 'rate(http_requests_total{route="${route}",variation="${variation}"}[${window}])', max: 1 },
          { name: 'unparsable', query: 'sum(rate(http_requests_total[${window}])', max: 1 },
        ],
      }),
      { variation: 'b', stable: 'a', route: 'checkout' },
    );
    // Neither would answer differently next time: the analysis fails at once instead of waiting.
    expect(r.metrics.map((m) => m.verdict)).toEqual(['fail', 'fail']);
    expect(r.verdict).toBe('fail');
    expect(r.metrics[0]!.reason).toMatch(/returned 2 series .*code="200".*aggregate it to one number/);
    expect(r.metrics[1]!.reason).toMatch(/refused the query \(bad_data\): .*parse error/);
  });
});
