// Metric-driven canaries end to end: a real Gantry server and agent (the router target's agent applies
// the traffic changes), a real HAProxy in front of two variations (its runtime API shifts the weights,
// its Prometheus exporter counts each server's answers), and a real Prometheus scraping HAProxy every
// second; keep-alive clients request through HAProxy the whole time. A candidate that answers 5 % errors
// is rolled back at its first analysis, with the query, its value and the threshold in the signed
// `ab_promotion` packet; a healthy one goes 5 → 25 → 50 → 100 % without a failed request and is
// promoted, the stable variation retired from the route.

import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trafficRouterFor } from '../../src/agent/traffic/index.js';
import { createTestDb } from '../helpers.js';
import { prometheusMissing, startPrometheus, type TestPrometheus } from '../support/prometheus.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';
import { HAPROXY, keepAliveLoad, prepareHaproxy, type TestHaproxy, tally, toolMissing } from './traffic-support.js';

const skip = toolMissing([HAPROXY], 'apt-get install -y haproxy') ?? prometheusMissing();
const ROUTE = 'checkout';

/** A variation's service: answers its name; with failEvery, every n-th request is a 500. */
async function service(name: string, failEvery = 0): Promise<{ port: number; close(): void }> {
  let n = 0;
  const server = http.createServer((_req, res) => {
    n++;
    if (failEvery && n % failEvery === 0) {
      res.statusCode = 500;
      res.end(`${name} failed\n`);
    } else res.end(`${name}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

const ERROR_RATE =
  'sum(rate(haproxy_server_http_responses_total{proxy="gantry_${route}",server=~"${variation}_[0-9]+",code="5xx"}[${window}]))' +
  ' / sum(rate(haproxy_server_http_responses_total{proxy="gantry_${route}",server=~"${variation}_[0-9]+"}[${window}]))';

describe.skipIf(skip)('metric-driven canary through HAProxy, judged by Prometheus', () => {
  let h: TestHaproxy;
  let prom: TestPrometheus;
  let server: GantryProcess;
  let agent: GantryProcess;
  let base = '';
  const token = `gty_${randomBytes(32).toString('base64url')}`;
  let stable: { port: number; close(): void };
  const closers: (() => void)[] = [];
  // any: the tests read arbitrary JSON
  const call = (method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> => api(base, method, url, token, body);
  let router: Record<string, unknown>;

  beforeAll(async () => {
    stable = await service('a');
    closers.push(stable.close);
    const statsPort = await freePort();
    h = await prepareHaproxy(
      ROUTE,
      `frontend stats\n  bind 127.0.0.1:${statsPort}\n  http-request use-service prometheus-exporter if { path /metrics }\n`,
    );
    const cfg = { type: 'haproxy', route: ROUTE, path: h.routeFile, socket: h.socket, validateCommand: h.validateCommand };
    // The operator's starting point: the route serves the stable variation only.
    await trafficRouterFor(cfg).configure({
      variations: [{ name: 'a', servers: [{ host: '127.0.0.1', port: stable.port }], weight: 100 }],
    });
    await h.start();
    router = {
      type: 'haproxy',
      path: h.routeFile,
      socket: h.socket,
      validateCommand: h.validateCommand,
      reloadCommand: ['kill', '-USR2', String(h.master())],
    };
    prom = await startPrometheus({ scrapeTargets: [`127.0.0.1:${statsPort}`], scrapeIntervalSeconds: 1 });

    const tdb = await createTestDb();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawnGantry(
      ['server'],
      childEnv({
        DATABASE_URL: tdb.url,
        GANTRY_BOOTSTRAP_TOKEN: token,
        GANTRY_PORT: String(port),
        GANTRY_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-canary-')),
        GANTRY_AGENT_HEARTBEAT_SECONDS: '1',
        GANTRY_AGENT_POLL_SECONDS: '0.3',
        GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
        GANTRY_OUTBOUND_ALLOW: '127.0.0.1',
      }),
    );
    await waitReady(server, base);
    const env = await call('POST', '/api/v1/environments', { name: 'prod' });
    expect(env.status).toBe(201);
    expect(
      (
        await call('POST', '/api/v1/targets', {
          name: 'edge-1',
          environmentId: env.body.id,
          targetType: 'docker_host',
          connection: { dockerHost: 'unix:///var/run/docker.sock' },
        })
      ).status,
    ).toBe(201);
    expect((await call('POST', '/api/v1/components', { name: 'checkout', imageRepository: 'registry.example.com/checkout' })).status).toBe(
      201,
    );
    for (const [name, d] of [
      ['1.0.0', 'a'],
      ['1.1.0', 'b'],
    ] as const) {
      const r = await call('POST', '/api/v1/releases', { name, components: [{ component: 'checkout', digest: `sha256:${d.repeat(64)}` }] });
      expect(r.status).toBe(201);
      expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    }
    const env2 = childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token });
    const join = await runGantry(['agent', 'token', 'create', '--json'], env2);
    expect(join.code, join.stderr).toBe(0);
    const agentDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-canary-'));
    // The router target's agent: it deploys nothing here (noop), it applies the traffic changes.
    agent = spawnGantry(
      [
        'agent',
        'run',
        '--server',
        base,
        '--state-dir',
        agentDir,
        '--name',
        'edge-1',
        '--executor',
        'docker_host',
        '--noop',
        '--join-token',
        JSON.parse(join.stdout).token,
      ],
      childEnv({}),
    );
  }, 120_000);

  afterAll(async () => {
    if (agent) await stopGantry(agent);
    if (server) await stopGantry(server);
    await killAll();
    await prom?.stop();
    await h?.stop();
    for (const c of closers) c();
  });

  function canary(candidatePort: number, holdSeconds: number) {
    return {
      name: 'checkout-canary',
      router: { ...router, route: ROUTE },
      kind: 'canary',
      environment: 'prod',
      routerTarget: 'edge-1',

      variations: [
        { name: 'a', release: '1.0.0', servers: [{ host: '127.0.0.1', port: stable.port }] },
        { name: 'b', release: '1.1.0', servers: [{ host: '127.0.0.1', port: candidatePort }] },
      ],
      stages: [5, 25, 50, 100].map((weight) => ({ weight, holdSeconds })),
      analysis: {
        source: { type: 'prometheus', url: prom.url },
        window: `${holdSeconds}s`,
        intervalSeconds: 2,
        metrics: [{ name: 'error-rate', query: ERROR_RATE, max: 0.01 }],
      },
      reason: 'checkout 1.1.0',
    };
  }

  // any: the rollout as the API returns it
  async function until(id: string, done: (r: any) => boolean, timeoutMs: number, each?: (r: any) => void): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await call('GET', `/api/v1/rollouts/${id}`);
      each?.(r.body);
      if (done(r.body)) return r.body;
      if (Date.now() > deadline)
        throw new Error(`rollout still ${r.body.status} (${r.body.statusReason}): ${JSON.stringify(r.body.steps)}\n${agent.stderr()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  it('rolls back a candidate answering 5 % errors at its first analysis, with the query, value and threshold in the evidence', async () => {
    const bad = await service('b', 20);
    closers.push(bad.close);
    const load = keepAliveLoad(h.url, 6);
    try {
      const c = await call('POST', '/api/v1/rollouts', canary(bad.port, 8));
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      const r = await until(c.body.id, (x) => ['rolled_back', 'promoted', 'failed', 'paused'].includes(x.status), 90_000);
      expect(r.status, r.statusReason).toBe('rolled_back');
      expect(r.steps.map((s: { action: string }) => s.action)).toEqual(['start', 'rollback', 'applied']);
      expect(r.statusReason).toMatch(/^analysis of stage 1 \(5%\) failed: error-rate = /);
      expect(r.traffic.distribution).toEqual({ a: 100 });

      const ev = await call('GET', '/api/v1/evidence?type=ab_promotion&limit=20');
      const packet = ev.body.items.find((p: any) => p.content.rollout.id === c.body.id && p.content.action === 'rollback');
      expect(packet.content.actor).toEqual({ system: 'analysis' });
      const m = packet.content.analysis.metrics[0];
      expect(m.query).toContain('server=~"b_[0-9]+"');
      expect(m.query).toContain(`proxy="gantry_${ROUTE}"`);
      expect(m.query).toContain('[8s]');
      expect(m.value).toBeGreaterThan(0.02);
      expect(m.value).toBeLessThan(0.1);
      expect(m.threshold).toBe('≤ 0.01');
      expect(m.verdict).toBe('fail');
      const verify = await call('GET', `/api/v1/evidence/${packet.id}`);
      expect(verify.status).toBe(200);
      // The candidate is out of the route: every request goes to the stable variation again.
      expect(await tally(h.url, 200)).toEqual({ a: 200 });
    } finally {
      await load.stop();
    }
  }, 120_000);

  it('takes a healthy candidate through 5 → 25 → 50 → 100 % without a failed request, then promotes it and retires the stable one', async () => {
    const good = await service('b');
    closers.push(good.close);
    const load = keepAliveLoad(h.url, 6);
    let failuresAtStart = -1;
    let failuresAtFull = -1;
    const seenWeights = new Set<number>();
    let result: { requests: number; failures: string[] } | undefined;
    try {
      const c = await call('POST', '/api/v1/rollouts', canary(good.port, 5));
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      const snap = () => load.failureCount();
      const r = await until(
        c.body.id,
        (x) => ['rolled_back', 'promoted', 'failed', 'paused'].includes(x.status),
        150_000,
        (x) => {
          if (x.status === 'running' && x.traffic?.status === 'applied') {
            seenWeights.add(x.weight);
            if (failuresAtStart < 0) failuresAtStart = snap();
            if (x.weight === 100) failuresAtFull = snap();
          }
        },
      );
      expect(r.status, r.statusReason).toBe('promoted');
      expect(r.steps.map((s: { action: string }) => s.action)).toEqual(['start', 'advance', 'advance', 'advance', 'promote', 'applied']);
      expect(r.steps.filter((s: { analysis: { verdict: string } | null }) => s.analysis?.verdict === 'pass').length).toBe(4);
      expect(r.traffic.distribution).toEqual({ b: 100 });
      expect([...seenWeights].sort((x, y) => x - y)).toEqual([5, 25, 50, 100]);
      expect(await tally(h.url, 200)).toEqual({ b: 200 });
    } finally {
      result = await load.stop();
    }
    // No request failed while the stages moved the split (runtime API, no reload).
    expect(failuresAtStart).toBeGreaterThanOrEqual(0);
    expect(failuresAtFull).toBe(failuresAtStart);
    expect(result.requests).toBeGreaterThan(500);
  }, 180_000);
});
