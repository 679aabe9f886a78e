// e2e load: rollouts under traffic through a real nginx in front of docker_host targets (real registry,
// dockerd, server and agent). During each rollout autocannon offers 160 keep-alive requests/s plus slow
// 1 s requests, without retries. No request nginx read may fail (no 5xx, no cut response), none may be
// answered by a release that failed its health check, and a rollout without a reload (a release that
// fails before the switch, rolled back) may not lose a single request. Scenarios: a rolling update of 4
// targets behind one upstream, a blue-green switch, and a failing release with automatic rollback.
// Routers switch live by default (format "live": nginx reads the address files on every request, nothing
// is reloaded, so not one request may go unanswered); GANTRY_LOAD_ROUTER=reload measures reload-based
// switching instead, where requests written on idle keep-alive connections as a reload closes them are lost.
// GANTRY_LOAD_RUNS repeats each scenario (default 1); the counts of every run are printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushHttpdImage, runningDigest } from '../support/docker.js';
import {
  badCount,
  formatCounts,
  type LoadCounts,
  loadRouterMode,
  loadRuns,
  loadToolsMissing,
  MIN_RATE,
  type RolloutStack,
  startNginx,
  startRolloutStack,
  type TestNginx,
  underLoad,
} from './load-support.js';
import { freePort } from './support.js';

const skip = loadToolsMissing();
const MODE = loadRouterMode();
const RUNS = loadRuns();
const T = 240_000 + RUNS * 120_000;
const BAD = 'demo/web:2.1-broken';
const versionOf = (body: string) => body.trim();
/** Keep-alive connections (24) plus slow ones (4) of underLoad's defaults. */
const CONNECTIONS = 28;

describe.skipIf(skip)('rollouts under load through nginx: no failed request, no request served by a failing release', () => {
  let s: RolloutStack;
  const nginx: Record<string, TestNginx> = {};
  const digests: Record<string, string> = {};
  const results: string[] = [];
  let releases = 0;

  /** A new release named after `key`'s image (names are unique, digests repeat across runs). */
  const release = async (key: string) => {
    const name = `${key}-${++releases}`;
    await s.release(name, { web: digests[key]! });
    return name;
  };
  const deployment = (n: TestNginx, strategy: string) => ({
    strategy,
    ...(strategy === 'rolling' ? { batchSize: 1 } : {}),
    services: {
      web: {
        command: ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:${label.port.web.${color}}', '-h', '/www'],
        env: { REGION: '${label.region}' },
        port: '${label.port.web.${color}}',
      },
    },
    healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 20, interval: 0.3 },
    router: n.router(),
    drainSeconds: 5,
    // busybox httpd is the container's pid 1 and ignores SIGTERM: the grace period is what a stop waits
    stopGraceSeconds: 1,
  });
  const environment = async (name: string, strategy: string, targets: string[]) => {
    const n = await startNginx();
    nginx[name] = n;
    const env = await s.call('POST', '/api/v1/environments', {
      name,
      config: { autoRollback: true, deployment: deployment(n, strategy) },
    });
    expect(env.status, JSON.stringify(env.body)).toBe(201);
    for (const t of targets) {
      const r = await s.call('POST', '/api/v1/targets', {
        name: t,
        environmentId: env.body.id,
        targetType: 'docker_host',
        connection: { dockerHost: s.dk.host },
        labels: { 'port.web.blue': String(await freePort()), 'port.web.green': String(await freePort()), region: 'eu' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
  };
  const deploy = async (releaseName: string, env: string) => {
    const created = await s.call('POST', '/api/v1/deployments', { releaseId: releaseName, environmentId: env });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return s.waitJob(created.body.id);
  };
  /** Every target of `env` runs `key`'s digest on one colour, and nginx answers with its version. */
  const expectServing = async (env: string, targets: string[], key: string, version: string) => {
    for (const t of targets) {
      const names = (await s.dk.docker.listContainers())
        .map((c) => c.Names[0]!.replace(/^\//, ''))
        .filter((x) => x.startsWith(`gantry-${t}-`));
      expect(names, `${t} runs one container`).toHaveLength(1);
      expect(await runningDigest(s.dk.docker, names[0]!, `${s.reg.host}/demo/web`)).toBe(digests[key]);
    }
    for (let i = 0; i < 8; i++) expect(await nginx[env]!.get('/VERSION')).toEqual({ status: 200, text: `${version}\n` });
  };
  /** Router switches the jobs made: confirmed nginx reloads, or live route files written (one log line each). */
  const switchesOf = async (...jobIds: (string | undefined)[]) => {
    const line = MODE === 'live' ? /router .* written: .*\(live: nginx reads it on its next request/ : /router reload confirmed/;
    let n = 0;
    for (const id of jobIds) {
      if (!id) continue;
      const logs = await s.call('GET', `/api/v1/deployments/${id}/logs?limit=5000`);
      n += logs.body.lines.filter((l: { line: string }) => line.test(l.line)).length;
    }
    return n;
  };
  /** The reloads among them (a live switch reloads nothing). */
  const reloadsOf = async (...jobIds: (string | undefined)[]) => (MODE === 'reload' ? switchesOf(...jobIds) : 0);
  const record = (scenario: string, run: number, counts: LoadCounts, bad: number, reloads: number) => {
    const line = `${formatCounts(scenario, run, counts, bad)} reloads=${reloads}`;
    results.push(line);
    process.stdout.write(`${line}\n`);
  };
  /**
   * No request failed that nginx read (no 5xx, no response cut), none was answered by the failing
   * release, and the load was what it should be. `reloads` nginx reloads happened during the run: the only
   * requests allowed to go unanswered are ones nginx never read, at most one per keep-alive connection
   * per reload (an old worker closes its idle keep-alive connections when it exits, and a request the
   * client wrote at that moment is never read; HTTP/1.1 clients retry those, this one does not).
   */
  const expectClean = (counts: LoadCounts, bad: number, reloads: number) => {
    expect(counts.non2xx, JSON.stringify(counts)).toBe(0);
    expect(counts.nginxFailed, JSON.stringify(counts)).toBe(0);
    expect(bad, JSON.stringify(counts)).toBe(0);
    expect(counts.unanswered, JSON.stringify(counts)).toBeLessThanOrEqual(reloads * CONNECTIONS);
    expect(counts.rate, 'keep-alive requests per second').toBeGreaterThanOrEqual(MIN_RATE);
    expect(counts.slowRequests, 'slow requests during the rollout').toBeGreaterThan(8);
  };

  beforeAll(async () => {
    s = await startRolloutStack();
    for (const [key, tag, opts] of [
      ['a', '1.0', {}],
      ['b', '2.0', {}],
      ['bad', '2.1-broken', { brokenInRegion: 'eu' }],
    ] as const) {
      digests[key] = await pushHttpdImage(s.reg, 'demo/web', tag, opts);
    }
    expect((await s.gantry('component', 'create', 'web', '--image', `${s.reg.host}/demo/web`)).code).toBe(0);
  }, T);

  afterAll(async () => {
    process.stdout.write(`${results.join('\n')}\n`);
    for (const n of Object.values(nginx)) await n.stop();
    await s?.stop();
  }, T);

  const ROLL = ['r1', 'r2', 'r3', 'r4'];

  it(
    'rolling update of 4 targets behind one nginx upstream, then a failing release rolled back automatically',
    async () => {
      await environment('roll', 'rolling', ROLL);
      const first = await deploy(await release('a'), 'roll');
      expect(first.status, JSON.stringify(first.tasks)).toBe('succeeded');
      expect(first.warnings).toEqual([]);
      await expectServing('roll', ROLL, 'a', 'demo/web:1.0');
      let current = 'a';
      for (let run = 1; run <= RUNS; run++) {
        const next = current === 'a' ? 'b' : 'a';
        const name = await release(next);
        const { result: job, counts } = await underLoad(nginx.roll!, { release: versionOf }, () => deploy(name, 'roll'));
        expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
        const bad = badCount(counts, [BAD]);
        const reloads = await reloadsOf(job.id);
        record(`rolling 4 docker_host targets (${MODE})`, run, counts, bad, reloads);
        expect(await switchesOf(job.id)).toBe(ROLL.length);
        expectClean(counts, bad, reloads);
        expect(counts.byRelease[next === 'a' ? 'demo/web:1.0' : 'demo/web:2.0']).toBeGreaterThan(0);
        await expectServing('roll', ROLL, next, next === 'a' ? 'demo/web:1.0' : 'demo/web:2.0');
        current = next;

        // a release whose health check fails on every target: the first one fails before any switch, the
        // job fails and its automatic rollback finds the target still serving the previous release
        const badName = await release('bad');
        const { result: rb, counts: rbCounts } = await underLoad(nginx.roll!, { release: versionOf }, async () => {
          const failed = await deploy(badName, 'roll');
          const list = await s.call('GET', '/api/v1/deployments?environment=roll');
          const rollback = list.body.items.find((j: { rollbackOf: string | null }) => j.rollbackOf === failed.id);
          return { failed, rollback: rollback ? await s.waitJob(rollback.id) : null };
        });
        expect(rb.failed.status).toBe('failed');
        expect(rb.failed.tasks.filter((t: { status: string }) => t.status === 'failed')).toHaveLength(1);
        expect(rb.failed.tasks[0].error).toMatch(/unhealthy: .*500/);
        expect(rb.rollback?.status, 'the automatic rollback job').toBe('succeeded');
        const rbBad = badCount(rbCounts, [BAD]);
        // the failing release never reaches the router; the rollback finds r1 serving and leaves it (if its
        // probes are slow it switches to a fresh copy of the release instead: a reload, allowed for)
        const rbReloads = await reloadsOf(rb.failed.id, rb.rollback?.id);
        record(`failing release + automatic rollback (${MODE})`, run, rbCounts, rbBad, rbReloads);
        expectClean(rbCounts, rbBad, rbReloads);
        await expectServing('roll', ROLL, current, current === 'a' ? 'demo/web:1.0' : 'demo/web:2.0');
      }
    },
    T,
  );

  it(
    'blue-green switch of one target',
    async () => {
      await environment('bg', 'blue_green', ['g1']);
      const first = await deploy(await release('a'), 'bg');
      expect(first.status, JSON.stringify(first.tasks)).toBe('succeeded');
      let current = 'a';
      for (let run = 1; run <= RUNS; run++) {
        const next = current === 'a' ? 'b' : 'a';
        const name = await release(next);
        const { result: job, counts } = await underLoad(nginx.bg!, { release: versionOf }, () => deploy(name, 'bg'));
        expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
        const bad = badCount(counts, [BAD]);
        const reloads = await reloadsOf(job.id);
        record(`blue-green switch (${MODE})`, run, counts, bad, reloads);
        expect(await switchesOf(job.id)).toBe(1);
        expectClean(counts, bad, reloads);
        await expectServing('bg', ['g1'], next, next === 'a' ? 'demo/web:1.0' : 'demo/web:2.0');
        current = next;
      }
    },
    T,
  );
});
