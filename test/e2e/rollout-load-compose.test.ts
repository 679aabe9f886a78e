// Rollout load test, compose_host: one compose_host target behind a real nginx (its route file is the
// `server` line of the target inside the `app` upstream), deployed by a real agent with docker-compose v1
// on a real dockerd. Each update runs the new release as its own colour project beside the serving one;
// during it autocannon sends ≥150 keep-alive requests/s plus back-to-back 1 s requests through nginx, with
// no retries. No request nginx read may fail (error status or cut), nothing may be answered by a release
// whose health check fails, and such a release must leave the serving project untouched.
// GANTRY_LOAD_RUNS sets how many consecutive updates run (default 1); GANTRY_LOAD_MIN_RATE the keep-alive
// rate a run must reach (see load-support.ts: unset in the suite, 150 when measuring).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
const T = 420_000;
/** A saturated shared machine can take minutes for one update (docker-compose v1 starts slowly under load). */
const JOB_WAIT_MS = 300_000;
const TARGET = 'app1';
const RELEASES: Record<string, string> = { 'demo/web:1.0': 'A', 'demo/web:2.0': 'B', 'demo/web:2.1-bad': 'BAD' };
/** Keep-alive connections of the load: 24 at the offered rate plus 4 of back-to-back 1 s requests (load-support's defaults). */
const CONNECTIONS = 28;
const MODE = loadRouterMode();
const release = (body: string) => RELEASES[body.trim()] ?? `unknown:${body.trim().slice(0, 40)}`;

describe.skipIf(skip)('compose_host update under load through nginx', () => {
  let stack: RolloutStack;
  let nginx: TestNginx;
  let projectDir: string;
  const ports = { blue: 0, green: 0 };
  const digests: Record<string, string> = {};
  const routeFile = () => path.join(nginx.upstreamDir(), `${TARGET}.${MODE === 'live' ? 'addr' : 'conf'}`);
  /** The route file's line for a port: an upstream server, or the live address. */
  const routeLine = (port: number) => (MODE === 'live' ? `\n127.0.0.1:${port}\n` : `server 127.0.0.1:${port};`);
  /** The log line of a switch that took effect. */
  const SWITCHED = MODE === 'live' ? /router .* written: .*\(live: nginx reads it/ : /router reload confirmed/;
  const inspect = async (name: string) => {
    try {
      return await stack.dk.docker.getContainer(name).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    }
  };
  const running = async () =>
    (await stack.dk.docker.listContainers()).map((c) => c.Names[0]!.replace(/^\//, '')).filter((n) => n.startsWith(`gantry-${TARGET}-`));
  const logEntries = async (jobId: string): Promise<{ at: string; line: string }[]> =>
    (await stack.call('GET', `/api/v1/deployments/${jobId}/logs`)).body.lines;
  const logLines = async (jobId: string): Promise<string[]> => (await logEntries(jobId)).map((l) => l.line);
  /** Seconds from the task's first log line to the first line matching each step, for the output. */
  const timeline = async (jobId: string, steps: Record<string, RegExp>) => {
    const entries = await logEntries(jobId);
    const t0 = Date.parse(entries[0]!.at);
    return Object.entries(steps)
      .map(([k, re]) => {
        const e = entries.find((x) => re.test(x.line));
        return `${k} +${e ? ((Date.parse(e.at) - t0) / 1000).toFixed(1) : '?'}s`;
      })
      .join(', ');
  };
  const deploy = async (releaseName: string) => {
    const created = await stack.call('POST', '/api/v1/deployments', { releaseId: releaseName, environmentId: 'prod' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return stack.waitJob(created.body.id, JOB_WAIT_MS);
  };
  const servedBy = (counts: LoadCounts) => Object.keys(counts.byRelease).sort();

  beforeAll(async () => {
    stack = await startRolloutStack();
    nginx = await startNginx(['app']);
    for (const [key, tag, opts] of [
      ['A', '1.0', {}],
      ['B', '2.0', {}],
      ['BAD', '2.1-bad', { brokenInRegion: 'eu' }],
    ] as const) {
      digests[key] = await pushHttpdImage(stack.reg, 'demo/web', tag, opts);
    }
    [ports.blue, ports.green] = [await freePort(), await freePort()];
    projectDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-compose-load-'));
    expect((await stack.gantry('component', 'create', 'web', '--image', `${stack.reg.host}/demo/web`)).code).toBe(0);
    const deployment = {
      services: {
        web: {
          command: ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:${label.port.web.${color}}', '-h', '/www'],
          env: { REGION: '${label.region}' },
          port: '${label.port.web.${color}}',
        },
      },
      healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 20, interval: 0.3 },
      router: nginx.router(),
      drainSeconds: 20,
      stopGraceSeconds: 2,
    };
    const env = await stack.call('POST', '/api/v1/environments', { name: 'prod', config: { deployment } });
    expect(env.status, JSON.stringify(env.body)).toBe(201);
    const t = await stack.call('POST', '/api/v1/targets', {
      name: TARGET,
      environmentId: env.body.id,
      targetType: 'compose_host',
      connection: { dockerHost: stack.dk.host, projectDir, composeCommand: 'docker-compose' },
      labels: { 'port.web.blue': String(ports.blue), 'port.web.green': String(ports.green), region: 'eu' },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    for (const r of ['A', 'B', 'BAD']) await stack.release(r, { web: digests[r]! });
  }, T);

  afterAll(async () => {
    await stack?.stop();
    await nginx?.stop();
    if (projectDir) await rm(projectDir, { recursive: true, force: true });
  }, T);

  it(
    'deploys the first release to the blue project and routes nginx to it',
    async () => {
      const job = await deploy('A');
      expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
      expect(await running()).toEqual([`gantry-${TARGET}-web-blue`]);
      const blue = await inspect(`gantry-${TARGET}-web-blue`);
      expect(blue?.Config.Labels).toMatchObject({ 'com.docker.compose.project': `gantry-${TARGET}-blue`, 'gantry.color': 'blue' });
      expect(await readFile(routeFile(), 'utf8')).toContain(routeLine(ports.blue!));
      expect(await nginx.get('/VERSION')).toEqual({ status: 200, text: 'demo/web:1.0\n' });
      expect(job.tasks[0].health).toMatchObject({ color: 'blue' });
    },
    T,
  );

  for (let run = 1; run <= loadRuns(); run++) {
    it(
      `update ${run}: the new colour project takes over with 0 failed requests`,
      async () => {
        const from = run % 2 === 1 ? 'A' : 'B';
        const to = run % 2 === 1 ? 'B' : 'A';
        const before = (await running())[0]!;
        const { result: job, counts } = await underLoad(nginx, { release }, () => deploy(to));
        console.log(formatCounts(`compose_host update (${MODE})`, run, counts, badCount(counts, ['BAD'])));
        console.log(
          `[load] compose_host update run ${run} timeline: ${await timeline(job.id, {
            up: /starting project/,
            healthy: /: healthy/,
            confirmed: SWITCHED,
            drained: /drained in|drain time/,
            removed: /: removed/,
            done: /sticker .* written/,
          })}`,
        );
        expect(job.status, JSON.stringify(job.tasks)).toBe('succeeded');
        expect(counts.rate, 'keep-alive requests per second').toBeGreaterThanOrEqual(MIN_RATE);
        expect(counts.slowRequests).toBeGreaterThan(0);
        // Every request nginx read was answered completely with a 2xx. A live switch reloads nothing, so no
        // request may go unanswered either. A reload (GANTRY_LOAD_ROUTER=reload) makes nginx's old workers
        // close their idle keep-alive connections as they exit, and a request a client wrote to one at that
        // moment is never read (HTTP/1.1 clients retry those; this one does not): at most one per connection.
        expect(counts.non2xx, JSON.stringify(counts)).toBe(0);
        expect(counts.nginxFailed, JSON.stringify(counts)).toBe(0);
        expect(counts.unanswered, JSON.stringify(counts)).toBeLessThanOrEqual(MODE === 'live' ? 0 : CONNECTIONS);
        expect(badCount(counts, ['BAD'])).toBe(0);
        expect(servedBy(counts)).toEqual([from, to].sort());

        const color = before.endsWith('-blue') ? 'green' : 'blue';
        const now = `gantry-${TARGET}-web-${color}`;
        expect(await running()).toEqual([now]);
        expect(await inspect(before)).toBeNull();
        expect(await runningDigest(stack.dk.docker, now, `${stack.reg.host}/demo/web`)).toBe(digests[to]);
        expect(await readFile(routeFile(), 'utf8')).toContain(routeLine(ports[color]!));
        expect(await nginx.get('/VERSION')).toEqual({ status: 200, text: `demo/web:${to === 'A' ? '1.0' : '2.0'}\n` });

        // order: new project healthy → router switched and confirmed → old drained → old stopped and removed
        const lines = await logLines(job.id);
        const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
        const order = [
          at(new RegExp(`starting project gantry-${TARGET}-${color} \\(${color}\\)`)),
          at(new RegExp(`${now}: healthy`)),
          at(SWITCHED),
          at(/drained in/),
          at(new RegExp(`${before}: stopped \\(SIGTERM, grace 2 s\\)`)),
          at(new RegExp(`${before}: removed`)),
        ];
        expect(
          order.every((i) => i >= 0),
          lines.join('\n'),
        ).toBe(true);
        expect([...order].sort((x, y) => x - y)).toEqual(order);
      },
      T,
    );
  }

  it(
    'drift observation reads the serving colour project: no drift',
    async () => {
      const r = await stack.gantry('drift', 'prod', '--check', '--json');
      expect(r.code, r.stderr).toBe(0);
      const row = JSON.parse(r.stdout).find((x: { targetName: string }) => x.targetName === TARGET);
      expect(row, r.stdout).toMatchObject({ driftDetected: false });
    },
    T,
  );

  it(
    'a release whose health check fails serves nothing: its project is taken down, the serving one is untouched',
    async () => {
      const serving = (await running())[0]!;
      const id = (await inspect(serving))!.Id;
      const route = await readFile(routeFile(), 'utf8');
      const sticker = await readFile(path.join(projectDir, 'gantry.version.json'), 'utf8');
      const { result: job, counts } = await underLoad(nginx, { release }, () => deploy('BAD'));
      console.log(formatCounts('compose_host update to a failing release', 1, counts, badCount(counts, ['BAD'])));
      expect(job.status).toBe('failed');
      expect(job.tasks[0].error).toMatch(/unhealthy: .*500/);
      expect(counts.rate, 'keep-alive requests per second').toBeGreaterThanOrEqual(MIN_RATE);
      // no reload: nothing may fail at all
      expect(counts.failed, JSON.stringify(counts)).toBe(0);
      expect(counts.nginxFailed, JSON.stringify(counts)).toBe(0);
      expect(badCount(counts, ['BAD'])).toBe(0);

      const lines = await logLines(job.id);
      expect(lines.some((l) => /taken down; it served nothing/.test(l))).toBe(true);
      expect(lines.some((l) => /router .* written/.test(l))).toBe(false);
      expect(await running()).toEqual([serving]);
      expect((await inspect(serving))!.Id).toBe(id);
      expect(await readFile(routeFile(), 'utf8')).toBe(route);
      expect(await readFile(path.join(projectDir, 'gantry.version.json'), 'utf8')).toBe(sticker);
    },
    T,
  );
});
