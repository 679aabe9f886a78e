// Progressive delivery on containers, under the rollout load generator: a real registry, dockerd, server
// and agent deploy two releases of a busybox web image as containers; the same agent serves the router
// target and applies the rollout's traffic changes.
// - A/B through nginx (gantry-split.js): at the 10 % stage, 2,000 requests land within ±3 points of 10 %
//   on the candidate's container; then, while autocannon offers keep-alive requests and slow 1 s
//   requests without retries, the stages advance to 50 % and 100 % and the candidate is promoted: not
//   one request fails.
// - A canary through HAProxy judged by a real Prometheus scraping HAProxy's exporter: the candidate's
//   container answers every 20th request with a 500; it is rolled back at its first analysis, with the
//   query, its value and the threshold in the evidence.
// - An A/B release as target groups (no router) on four docker_host targets: 25 % → 50 % → 100 % of the
//   targets run the candidate's container, stage by stage, each stage one deployment job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trafficRouterFor } from '../../src/agent/traffic/index.js';
import { pushHttpdImage, runningDigest } from '../support/docker.js';
import { prometheusMissing, startPrometheus, type TestPrometheus } from '../support/prometheus.js';
import { formatCounts, loadToolsMissing, type RolloutStack, startRolloutStack, underLoad } from './load-support.js';
import { freePort } from './support.js';
import {
  HAPROXY,
  keepAliveLoad,
  prepareHaproxy,
  runSplitNginx,
  type SplitNginx,
  startSplitNginx,
  type TestHaproxy,
  tally,
  toolMissing,
} from './traffic-support.js';

const skip = loadToolsMissing() ?? toolMissing([HAPROXY], 'apt-get install -y haproxy') ?? prometheusMissing();
const T = 300_000;
const versionOf = (body: string) => body.trim();

describe.skipIf(skip)(
  'progressive delivery on containers: A/B through nginx under load, a canary through HAProxy judged by Prometheus',
  () => {
    let s: RolloutStack;
    let nginx: SplitNginx | undefined;
    let haproxy: TestHaproxy | undefined;
    let prom: TestPrometheus | undefined;
    const digests: Record<string, string> = {};
    const ports: Record<string, number> = {};

    /** An environment of docker_host targets, each running component web on its own port. */
    const environment = async (name: string, ...targets: string[]) => {
      const env = await s.call('POST', '/api/v1/environments', {
        name,
        config: {
          deployment: {
            services: {
              web: {
                command: ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:${label.port.web}', '-h', '/www'],
                port: '${label.port.web}',
              },
            },
            healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 20, interval: 0.3 },
            stopGraceSeconds: 1,
          },
        },
      });
      expect(env.status, JSON.stringify(env.body)).toBe(201);
      for (const target of targets) {
        ports[target] = await freePort();
        const t = await s.call('POST', '/api/v1/targets', {
          name: target,
          environmentId: env.body.id,
          targetType: 'docker_host',
          connection: { dockerHost: s.dk.host },
          labels: { 'port.web': String(ports[target]), group: 'canary-fleet' },
        });
        expect(t.status, JSON.stringify(t.body)).toBe(201);
      }
    };
    const deploy = async (release: string, env: string) => {
      const created = await s.call('POST', '/api/v1/deployments', { releaseId: release, environmentId: env });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const job = await s.waitJob(created.body.id);
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
    };
    const server = (target: string) => [{ host: '127.0.0.1', port: ports[target]! }];
    // any: the rollout as the API returns it
    const until = async (id: string, done: (r: any) => boolean, timeoutMs = 120_000): Promise<any> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await s.call('GET', `/api/v1/rollouts/${id}`);
        if (done(r.body)) return r.body;
        if (Date.now() > deadline)
          throw new Error(`rollout still ${r.body.status} (${r.body.statusReason}): ${JSON.stringify(r.body.steps)}`);
        await new Promise((res) => setTimeout(res, 150));
      }
    };
    // any: the rollout as the API returns it
    const waitingAt = (weight: number) => (r: any) => r.status === 'awaiting_approval' && r.weight === weight;

    beforeAll(async () => {
      s = await startRolloutStack({ GANTRY_OUTBOUND_ALLOW: '127.0.0.1' });
      digests.v1 = await pushHttpdImage(s.reg, 'demo/web', '1.0');
      digests.v2 = await pushHttpdImage(s.reg, 'demo/web', '2.0');
      digests.flaky = await pushHttpdImage(s.reg, 'demo/web', '2.1-flaky', { failEvery: 20 });
      expect((await s.gantry('component', 'create', 'web', '--image', `${s.reg.host}/demo/web`)).code).toBe(0);
      for (const [name, d] of [
        ['web-1.0', 'v1'],
        ['web-2.0', 'v2'],
        ['web-2.1', 'flaky'],
      ] as const) {
        await s.release(name, { web: digests[d]! });
      }
      // The router host: its agent (the stack's) applies the splits; nothing is deployed to it.
      await environment('edge', 'edge-1');
      await environment('shop', 'web-a');
      await environment('shop-next', 'web-b');
      await environment('shop-flaky', 'web-c');
      await environment('fleet', 'f1', 'f2', 'f3', 'f4');
      await deploy('web-1.0', 'shop');
      await deploy('web-2.0', 'shop-next');
      await deploy('web-2.1', 'shop-flaky');
      await deploy('web-1.0', 'fleet');
    }, T);

    afterAll(async () => {
      await nginx?.stop();
      await haproxy?.stop();
      await prom?.stop();
      await s?.stop();
    }, T);

    it(
      'A/B through nginx: 90/10 over 2,000 requests within ±3 points; advancing 10 → 50 → 100 % and promoting under load fails no request',
      async () => {
        nginx = await startSplitNginx();
        await trafficRouterFor({ type: 'nginx', route: 'web', path: nginx.splitFile }).configure({
          variations: [{ name: 'a', servers: server('web-a'), weight: 100 }],
        });
        await runSplitNginx(nginx);
        const c = await s.call('POST', '/api/v1/rollouts', {
          name: 'web-ab',
          kind: 'ab',
          environment: 'shop',
          routerTarget: 'edge-1',
          router: { type: 'nginx', route: 'web', path: nginx.splitFile, validateCommand: nginx.validateCommand },
          variations: [
            { name: 'a', release: 'web-1.0', servers: server('web-a') },
            { name: 'b', release: 'web-2.0', servers: server('web-b') },
          ],
          stages: [10, 50, 100].map((weight) => ({ weight, holdSeconds: 0, approval: true })),
          reason: 'web 2.0 for a tenth of the traffic first',
        });
        expect(c.status, JSON.stringify(c.body)).toBe(201);
        const id = c.body.id as string;
        await until(id, waitingAt(10));

        const seen = await tally(`${nginx.url}VERSION`, 2000);
        const b = seen['demo/web:2.0'] ?? 0;
        expect((seen['demo/web:1.0'] ?? 0) + b, JSON.stringify(seen)).toBe(2000);
        process.stdout.write(`[progressive] nginx 90/10 on containers: ${b} of 2000 to the candidate (${(b / 20).toFixed(1)} %)\n`);
        expect(Math.abs(b / 2000 - 0.1)).toBeLessThanOrEqual(0.03);

        const { counts } = await underLoad(nginx.url.replace(/\/$/, ''), { release: versionOf }, async () => {
          expect((await s.call('POST', `/api/v1/rollouts/${id}/advance`, { reason: 'no complaints' })).status).toBe(200);
          await until(id, waitingAt(50));
          expect((await s.call('POST', `/api/v1/rollouts/${id}/advance`, { reason: 'still fine' })).status).toBe(200);
          await until(id, waitingAt(100));
          expect((await s.call('POST', `/api/v1/rollouts/${id}/promote`, { reason: 'ship it' })).status).toBe(200);
          return until(id, (r) => r.status === 'promoted');
        });
        process.stdout.write(`${formatCounts('A/B 10 → 50 → 100 % and promote through nginx', 1, counts, 0)}\n`);
        expect(counts.failed, JSON.stringify(counts)).toBe(0);
        expect(counts.non2xx).toBe(0);
        expect(counts.byRelease['demo/web:1.0']).toBeGreaterThan(0);
        expect(counts.byRelease['demo/web:2.0']).toBeGreaterThan(0);
        expect(counts.slowRequests).toBeGreaterThan(8);
        expect(await tally(`${nginx.url}VERSION`, 200)).toEqual({ 'demo/web:2.0': 200 });
      },
      T,
    );

    it(
      'a canary whose container answers every 20th request with a 500 is rolled back by its first analysis with data, with the evidence',
      async () => {
        const statsPort = await freePort();
        haproxy = await prepareHaproxy(
          'shop',
          `frontend stats\n  bind 127.0.0.1:${statsPort}\n  http-request use-service prometheus-exporter if { path /metrics }\n`,
        );
        const cfg = {
          type: 'haproxy',
          route: 'shop',
          path: haproxy.routeFile,
          socket: haproxy.socket,
          validateCommand: haproxy.validateCommand,
        };
        await trafficRouterFor(cfg).configure({ variations: [{ name: 'a', servers: server('web-a'), weight: 100 }] });
        await haproxy.start();
        prom = await startPrometheus({ scrapeTargets: [`127.0.0.1:${statsPort}`], scrapeIntervalSeconds: 1 });
        const load = keepAliveLoad(`${haproxy.url}cgi-bin/app`, 6);
        try {
          const c = await s.call('POST', '/api/v1/rollouts', {
            name: 'shop-canary',
            kind: 'canary',
            environment: 'shop',
            routerTarget: 'edge-1',
            router: { ...cfg, reloadCommand: ['kill', '-USR2', String(haproxy.master())] },
            variations: [
              { name: 'a', release: 'web-1.0', servers: server('web-a') },
              { name: 'b', release: 'web-2.1', servers: server('web-c') },
            ],
            stages: [10, 50, 100].map((weight) => ({ weight, holdSeconds: 10 })),
            analysis: {
              source: { type: 'prometheus', url: prom.url },
              window: '10s',
              intervalSeconds: 2,
              metrics: [
                {
                  name: 'error-rate',
                  query:
                    'sum(rate(haproxy_server_http_responses_total{proxy="gantry_${route}",server=~"${variation}_[0-9]+",code="5xx"}[${window}]))' +
                    ' / sum(rate(haproxy_server_http_responses_total{proxy="gantry_${route}",server=~"${variation}_[0-9]+"}[${window}]))',
                  max: 0.01,
                },
              ],
            },
          });
          expect(c.status, JSON.stringify(c.body)).toBe(201);
          const r = await until(c.body.id, (x) => ['rolled_back', 'promoted', 'failed', 'paused'].includes(x.status));
          expect(r.status, r.statusReason).toBe('rolled_back');
          // The first analysis with data decides. Before Prometheus holds two scrapes of the candidate's
          // responses in the window (seconds on a loaded machine) an analysis is inconclusive and measures
          // again; those steps say so, and none of them may be a pass.
          const steps = r.steps as { action: string; reason: string }[];
          const early = steps.filter((x) => x.action === 'analysis');
          for (const x of early) expect(x.reason).toMatch(/^inconclusive/);
          expect(steps.filter((x) => x.action !== 'analysis').map((x) => x.action)).toEqual(['start', 'rollback', 'applied']);
          expect(steps.find((x) => x.action === 'rollback')!.reason).toMatch(/analysis of stage 1 \(10%\) failed: error-rate = /);
          const ev = await s.call('GET', '/api/v1/evidence?type=ab_promotion&limit=50');
          const packet = ev.body.items.find((p: any) => p.content.rollout.id === c.body.id && p.content.action === 'rollback');
          const m = packet.content.analysis.metrics[0];
          process.stdout.write(`[progressive] canary on containers: error rate ${m.value} (${m.threshold}) → ${m.verdict}\n`);
          expect(m.value).toBeGreaterThan(0.02);
          expect(m.value).toBeLessThan(0.1);
          expect(m.threshold).toBe('≤ 0.01');
          expect(m.query).toContain('server=~"b_[0-9]+"');
          expect(packet.content.variations[1].release.name).toBe('web-2.1');
          expect(await tally(`${haproxy.url}VERSION`, 100)).toEqual({ 'demo/web:1.0': 100 });
        } finally {
          await load.stop();
        }
      },
      T,
    );

    it(
      'target groups: 25 % → 50 % → 100 % of four docker_host targets run the candidate, one deployment job per stage',
      async () => {
        const repo = `${s.reg.host}/demo/web`;
        const running = async () => {
          const out: Record<string, string> = {};
          for (const t of ['f1', 'f2', 'f3', 'f4']) {
            const d = await runningDigest(s.dk.docker, `gantry-${t}-web`, repo);
            out[t] = d === digests.v1 ? '1.0' : d === digests.v2 ? '2.0' : String(d);
          }
          return out;
        };
        const c = await s.call('POST', '/api/v1/rollouts', {
          name: 'fleet-ab',
          kind: 'ab',
          environment: 'fleet',
          targets: { selector: { group: 'canary-fleet' } },
          variations: [
            { name: 'a', release: 'web-1.0' },
            { name: 'b', release: 'web-2.0' },
          ],
          stages: [25, 50, 100].map((weight) => ({ weight, holdSeconds: 0, approval: true })),
        });
        expect(c.status, JSON.stringify(c.body)).toBe(201);
        const id = c.body.id as string;
        await until(id, waitingAt(25));
        expect(await running()).toEqual({ f1: '2.0', f2: '1.0', f3: '1.0', f4: '1.0' });
        expect((await s.call('POST', `/api/v1/rollouts/${id}/advance`, { reason: 'half' })).status).toBe(200);
        await until(id, waitingAt(50));
        expect(await running()).toEqual({ f1: '2.0', f2: '2.0', f3: '1.0', f4: '1.0' });
        expect((await s.call('POST', `/api/v1/rollouts/${id}/promote`, { reason: 'all' })).status).toBe(200);
        const done = await until(id, (r) => ['promoted', 'failed', 'paused'].includes(r.status));
        expect(done.status, done.statusReason).toBe('promoted');
        expect(await running()).toEqual({ f1: '2.0', f2: '2.0', f3: '2.0', f4: '2.0' });
        const jobs: string[] = done.steps.filter((x: { jobId: string | null }) => x.jobId).map((x: { jobId: string }) => x.jobId);
        expect(jobs).toHaveLength(3);
        const moved = [['f1'], ['f2'], ['f3', 'f4']];
        for (const [i, job] of jobs.entries()) {
          const j = await s.call('GET', `/api/v1/deployments/${job}`);
          expect(j.body.status).toBe('succeeded');
          expect(j.body.tasks.map((t: { targetName: string }) => t.targetName).sort()).toEqual(moved[i]);
        }
      },
      T,
    );
  },
);
