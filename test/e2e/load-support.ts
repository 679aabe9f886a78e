// Rollout load tests: a real nginx in front of the targets (one upstream whose servers are the files of an
// include directory, one file per target, written by Gantry's router), a stack of real registry, dockerd,
// server and agent, and traffic during a rollout: autocannon at a fixed rate over keep-alive connections
// plus a stream of slow (1 s) requests, no client retries, every request accounted for.
//
// A scenario is a few lines: start the stack, deploy the first release, then
//   const { counts } = await underLoad(nginx.url, { release: versionOf }, () => deployAndWait(...));
//   expect(counts.failed).toBe(0); expect(badCount(counts, ['bad'])).toBe(0);
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, startDockerd, type TestDocker } from '../support/docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import {
  api,
  childEnv,
  freePort,
  type GantryProcess,
  killAll,
  REPO_ROOT,
  runGantry,
  spawnGantry,
  stopGantry,
  waitReady,
} from './support.js';

const execFileP = promisify(execFile);
export const NGINX = '/usr/sbin/nginx';
/**
 * The keep-alive rate (requests/s; 160 are offered) a run must reach. A property of the machine, not of
 * Gantry: unset (0) in the suite, where other tests share the CPU; set GANTRY_LOAD_MIN_RATE=150 when
 * measuring for docs/benchmarks.md. Every run prints the rate it reached.
 */
export const MIN_RATE = Number(process.env.GANTRY_LOAD_MIN_RATE ?? '0');
/**
 * The keep-alive rate offered (requests/s over 24 connections), GANTRY_LOAD_RATE, default 160. On a
 * small machine the generator shares the CPU with dockerd, compose, nginx, server, agent and PostgreSQL
 * and reaches less than it offers; offer more to reach a rate.
 */
export const OFFERED_RATE = Number(process.env.GANTRY_LOAD_RATE ?? '160');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** docker tools and nginx present; under CI=true a missing one is an error, elsewhere the tests skip with this message. */
export function loadToolsMissing(): string | undefined {
  const docker = dockerToolsMissing();
  if (docker) return docker;
  if (existsSync(NGINX) && existsSync(NJS_MODULE)) return undefined;
  const msg = `the rollout load tests need ${NGINX} and ${NJS_MODULE} (apt-get install -y nginx libnginx-mod-http-js)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return msg;
}

/** nginx's njs module (Debian: libnginx-mod-http-js), for routers of format "live". */
export const NJS_MODULE = '/usr/lib/nginx/modules/ngx_http_js_module.so';
/** Gantry's njs route module, as an operator's nginx loads it. */
export const GANTRY_ROUTE_JS = path.join(REPO_ROOT, 'share', 'nginx', 'gantry-route.js');

/**
 * How routers switch in the load tests (GANTRY_LOAD_ROUTER): "live" (default; nginx reads the address
 * files on every request, no reload) or "reload" (upstream server files and `nginx -s reload`).
 */
export function loadRouterMode(): 'live' | 'reload' {
  const m = process.env.GANTRY_LOAD_ROUTER ?? 'live';
  if (m !== 'live' && m !== 'reload') throw new Error(`GANTRY_LOAD_ROUTER must be live or reload, got "${m}"`);
  return m;
}

/** How many times each scenario runs (GANTRY_LOAD_RUNS, default 1). */
export function loadRuns(): number {
  const n = Number(process.env.GANTRY_LOAD_RUNS ?? '1');
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

export interface TestNginx {
  /** http://127.0.0.1:PORT */
  url: string;
  /** One line per request nginx read: `$status $request_completion $upstream_addr`. */
  accessLog: string;
  dir: string;
  conf: string;
  /** The master's pid file (router.pidFile: how Gantry confirms a reload). */
  pidFile: string;
  /** The include directory of upstream `name`: one file per target holds that target's `server` lines. */
  upstreamDir(name?: string): string;
  /** How this nginx routes: upstream blocks reloaded by Gantry, or live address files (gantry-route.js). */
  mode: 'live' | 'reload';
  /** The router config Gantry is given for this nginx: route files `${target.name}` in the upstream's directory. */
  router(upstream?: string): Record<string, unknown>;
  /** `nginx -s reload` for this instance (router.reloadCommand). */
  reloadCommand: string[];
  /** `nginx -t` for this instance (router.validateCommand). */
  validateCommand: string[];
  get(p: string): Promise<{ status: number; text: string }>;
  stop(): Promise<void>;
}

/**
 * nginx on a free 127.0.0.1 port. Each upstream of `upstreams` (default ["app"]) is
 * `upstream NAME { include DIR/upstreams/NAME/*.conf; }` with a placeholder server marked down (an
 * upstream needs one server to load); location / proxies to the first, `/u/NAME/…` to each (as `/…`). No retries
 * to another server (proxy_next_upstream off), so a refused connection is a 502 the client sees.
 */
export async function startNginx(upstreams: string[] = ['app'], mode: 'live' | 'reload' = loadRouterMode()): Promise<TestNginx> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-nginx-'));
  // live: nginx's workers (not root) read the address files on every request
  if (mode === 'live') await chmod(dir, 0o755);
  const conf = path.join(dir, 'nginx.conf');
  const pidFile = path.join(dir, 'nginx.pid');
  const port = await freePort();
  const closed = await freePort();
  const upstreamDir = (name = upstreams[0]!) => path.join(dir, 'upstreams', name);
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  for (const u of upstreams) {
    await mkdir(upstreamDir(u), { recursive: true });
    await writeFile(path.join(upstreamDir(u), '000-placeholder.conf'), `server 127.0.0.1:${closed} down;\n`);
  }
  const tmp = (k: string) => `${k}_temp_path ${dir}/tmp/${k};`;
  // live: the location names the upstream's directory and gantry-route.js picks one of its *.addr files
  // addresses per request (the request's path is kept as is: proxy_pass with a variable and no URI part)
  const proxy = (u: string, strip = '') =>
    (mode === 'live'
      ? `set $gantry_route ${upstreamDir(u)}; ${strip ? 'rewrite ^/u/[^/]+(/.*)$ $1 break; ' : ''}proxy_pass http://$gantry_backend;`
      : `proxy_pass http://${u}${strip};`) +
    ' proxy_next_upstream off; proxy_read_timeout 10s; add_header X-Upstream $upstream_addr always;';
  await writeFile(
    conf,
    (mode === 'live' ? `load_module ${NJS_MODULE};\n` : '') +
      `pid ${pidFile};\nerror_log ${dir}/error.log warn;\nworker_processes 2;\nevents { worker_connections 1024; }\n` +
      `http {\n  log_format load '$status $request_completion $upstream_addr';\n  access_log ${dir}/access.log load;\n  keepalive_requests 10000;\n  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp).join('\n  ')}\n` +
      (mode === 'live'
        ? `  js_import gantry from ${GANTRY_ROUTE_JS};\n  js_set $gantry_backend gantry.backend;\n`
        : upstreams.map((u) => `  upstream ${u} { include ${upstreamDir(u)}/*.conf; }\n`).join('')) +
      `  server {\n    listen 127.0.0.1:${port};\n    location / { ${proxy(upstreams[0]!)} }\n` +
      upstreams.map((u) => `    location /u/${u}/ { ${proxy(u, '/')} }\n`).join('') +
      '  }\n}\n',
  );
  const ctl = (...args: string[]) => [NGINX, '-p', dir, '-c', conf, ...args];
  const [cmd, ...args] = ctl();
  await execFileP(cmd!, args); // daemonizes
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    accessLog: path.join(dir, 'access.log'),
    dir,
    conf,
    pidFile,
    upstreamDir,
    mode,
    router: (u = upstreams[0]!) =>
      mode === 'live'
        ? { type: 'nginx', format: 'live', path: path.join(upstreamDir(u), '${target.name}.addr'), pidFile }
        : {
            type: 'nginx',
            format: 'servers',
            path: path.join(upstreamDir(u), '${target.name}.conf'),
            validateCommand: ctl('-t', '-q'),
            reloadCommand: ctl('-s', 'reload'),
            pidFile,
          },
    reloadCommand: ctl('-s', 'reload'),
    validateCommand: ctl('-t', '-q'),
    async get(p: string) {
      const res = await fetch(`${url}${p}`, { signal: AbortSignal.timeout(3_000) });
      return { status: res.status, text: await res.text() };
    },
    async stop() {
      const [c, ...a] = ctl('-s', 'stop');
      await execFileP(c!, a).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface LoadOptions {
  /** Names the release that answered from a response body (e.g. the image's VERSION line). */
  release(body: string): string;
  /** Keep-alive requests per second over all connections (default 160). */
  rate?: number;
  connections?: number;
  path?: string;
  /** The slow path (default /cgi-bin/slow: sleeps 1 s) and how many connections request it back to back. */
  slowPath?: string;
  slowConnections?: number;
  /** Seconds of traffic before and after the action (default 1). */
  leadSeconds?: number;
}

export interface LoadCounts {
  /** Requests sent (fast + slow). */
  requests: number;
  answered: number;
  non2xx: number;
  /** Connection errors and timeouts as autocannon counts them (an error on an idle connection loses no request). */
  errors: number;
  timeouts: number;
  /** Requests sent and never answered: reset or closed under them, or timed out (those in flight at the end excluded). */
  unanswered: number;
  /** non2xx + unanswered: every request a client without retries saw fail. */
  failed: number;
  /**
   * From nginx's access log (when underLoad was given a TestNginx): requests nginx read and did not answer
   * completely with a 2xx, apart from those the load generator itself cut when it stopped (status 499).
   * `unanswered - nginxFailed` requests were never read by nginx at all.
   */
  nginxFailed: number | null;
  /** Requests nginx read during the run (null without a TestNginx). */
  nginxRead: number | null;
  slowRequests: number;
  slowFailed: number;
  /** 2xx answers per release (as named by `release(body)`). */
  byRelease: Record<string, number>;
  seconds: number;
  /** Keep-alive requests per second achieved. */
  rate: number;
  /** Responses with `Connection: close` after which the client opened a new connection. */
  closeReconnects: number;
}

interface ClientTally {
  sent: number;
  answered: number;
  /** The connection the last request went out on, and its requests and answers (what is in flight). */
  conn: unknown;
  connSent: number;
  connAnswered: number;
  /** The response being read carries `Connection: close`. */
  closing: boolean;
}

/**
 * autocannon's per-connection client, with the internals used below (see cannon()): its socket, its
 * options, and the reconnect it uses itself for `reconnectRate`.
 */
type Client = NodeJS.EventEmitter & { conn?: unknown; opts?: { pipelining: number }; _resetConnection?: () => void };

/**
 * One autocannon instance until stop(): every response tallied by status and release, and every request
 * accounted for per connection: a request that was sent and never answered (a connection closed or reset
 * under it, a timeout) is `unanswered`, except the ones still in flight on the live connection at stop.
 */
function cannon(url: string, opts: { connections: number; rate?: number; path: string; release: (b: string) => string }) {
  const byRelease: Record<string, number> = {};
  const tallies = new Map<Client, ClientTally>();
  let non2xx = 0;
  let closeReconnects = 0;
  const instance = autocannon(
    {
      url,
      connections: opts.connections,
      ...(opts.rate ? { overallRate: opts.rate } : {}),
      pipelining: 1,
      duration: 3600,
      // longer than nginx's proxy_read_timeout (10 s): a stalled backend shows as a 504 nginx logs, not as a client timeout
      timeout: 30,
      requests: [
        {
          method: 'GET',
          path: opts.path,
          onResponse: (status: number, body: string) => {
            if (status < 200 || status > 299) non2xx++;
            else {
              const r = opts.release(body);
              byRelease[r] = (byRelease[r] ?? 0) + 1;
            }
          },
        },
      ],
    },
    () => {},
  );
  // A client emits its first request from its constructor, before a listener can be attached: its first
  // response attaches the tally with that request counted.
  instance.on('response', (client: Client) => {
    let t = tallies.get(client);
    if (!t) {
      t = { sent: 1, answered: 0, conn: client.conn, connSent: 1, connAnswered: 0, closing: false };
      tallies.set(client, t);
      const tally = t;
      client.on('headers', (info: { shouldKeepAlive?: boolean }) => {
        tally.closing = info.shouldKeepAlive === false;
      });
      client.on('request', () => {
        tally.sent++;
        if (client.conn !== tally.conn) Object.assign(tally, { conn: client.conn, connSent: 0, connAnswered: 0 });
        tally.connSent++;
      });
    }
    t.answered++;
    t.connAnswered++;
    // autocannon writes the next request on the same connection even after `Connection: close` (nginx
    // says so on the last response of a worker that is shutting down after a reload): a request the
    // server never reads. An HTTP/1.1 client must stop sending on such a connection (RFC 9112 §9.6), so
    // the client opens a new connection here, before autocannon writes its next request (on the new
    // one). Its own reconnect would also write a request at once; pipelining 0 keeps one in flight.
    // Nothing is re-sent.
    if (t.closing && client.opts && client._resetConnection) {
      t.closing = false;
      closeReconnects++;
      const depth = client.opts.pipelining;
      client.opts.pipelining = 0;
      client._resetConnection();
      client.opts.pipelining = depth;
    }
  });
  const done = new Promise<autocannon.Result>((resolve) => instance.once('done', resolve));
  return {
    /** Every connection has had an answer (so its requests are tallied). */
    ready: () => tallies.size >= opts.connections,
    /** Requests sent so far (to measure the rate over the steady part of a run). */
    sentSoFar: () => [...tallies.values()].reduce((n, t) => n + t.sent, 0),
    async stop() {
      // in flight when the clients are destroyed: what the live connection was sent and did not answer yet
      const inFlight = new Map<Client, number>();
      instance.on('tick', () => {
        for (const [c, t] of tallies) inFlight.set(c, c.conn === t.conn ? t.connSent - t.connAnswered : 0);
      });
      instance.stop();
      const result = await done;
      let sent = 0;
      let answered = 0;
      let unanswered = 0;
      for (const [c, t] of tallies) {
        sent += t.sent;
        answered += t.answered;
        unanswered += t.sent - t.answered - (inFlight.get(c) ?? 0);
      }
      return { result, byRelease, non2xx, sent, answered, unanswered, closeReconnects };
    },
  };
}

/**
 * Runs `action` under load through `url` (nginx) and returns its result with the counts. Traffic starts
 * `leadSeconds` before the action and goes on `leadSeconds` after it.
 */
export async function underLoad<T>(
  through: string | TestNginx,
  opts: LoadOptions,
  action: () => Promise<T>,
): Promise<{ result: T; counts: LoadCounts }> {
  const url = typeof through === 'string' ? through : through.url;
  const logFile = typeof through === 'string' ? null : through.accessLog;
  const logFrom = logFile
    ? await stat(logFile).then(
        (st) => st.size,
        () => 0,
      )
    : 0;
  const rate = opts.rate ?? OFFERED_RATE;
  const fast = cannon(url, { connections: opts.connections ?? 24, rate, path: opts.path ?? '/VERSION', release: opts.release });
  const slow = cannon(url, { connections: opts.slowConnections ?? 4, path: opts.slowPath ?? '/cgi-bin/slow', release: opts.release });
  const started = Date.now();
  const deadline = started + 15_000;
  while (!(fast.ready() && slow.ready())) {
    if (Date.now() > deadline) {
      await Promise.all([fast.stop(), slow.stop()]);
      throw new Error(`not every load connection got an answer from ${url} within 15 s`);
    }
    await sleep(50);
  }
  const steadyFrom = { at: Date.now(), sent: fast.sentSoFar() };
  await sleep((opts.leadSeconds ?? 1) * 1000);
  let result: T;
  try {
    result = await action();
    await sleep((opts.leadSeconds ?? 1) * 1000);
  } catch (err) {
    await Promise.all([fast.stop(), slow.stop()]);
    throw err;
  }
  const steadyTo = { at: Date.now(), sent: fast.sentSoFar() };
  const [f, s] = await Promise.all([fast.stop(), slow.stop()]);
  const seconds = (Date.now() - started) / 1000;
  let nginxFailed: number | null = null;
  let nginxRead: number | null = null;
  if (logFile) {
    await sleep(200); // nginx writes a request's line when it ends
    const lines = (await readFile(logFile)).subarray(logFrom).toString('utf8').split('\n').filter(Boolean);
    nginxRead = lines.length;
    nginxFailed = lines.filter((l) => {
      const [status, completion] = l.split(' ');
      return status !== '499' && !(status!.startsWith('2') && completion === 'OK');
    }).length;
  }
  const byRelease: Record<string, number> = { ...f.byRelease };
  for (const [k, v] of Object.entries(s.byRelease)) byRelease[k] = (byRelease[k] ?? 0) + v;
  const errors = f.result.errors + s.result.errors;
  const non2xx = f.non2xx + s.non2xx;
  const unanswered = f.unanswered + s.unanswered;
  return {
    result,
    counts: {
      requests: f.sent + s.sent,
      answered: f.answered + s.answered,
      non2xx,
      errors,
      timeouts: f.result.timeouts + s.result.timeouts,
      unanswered,
      failed: non2xx + unanswered,
      nginxFailed,
      nginxRead,
      slowRequests: s.sent,
      slowFailed: s.non2xx + s.unanswered,
      byRelease,
      seconds,
      // from the moment every connection answered until the load stops (connecting is not part of the offered rate)
      rate: (steadyTo.sent - steadyFrom.sent) / Math.max(0.001, (steadyTo.at - steadyFrom.at) / 1000),
      closeReconnects: f.closeReconnects + s.closeReconnects,
    },
  };
}

/** Answers by releases that failed their health check (counted as served traffic they must not have had). */
export function badCount(counts: LoadCounts, badReleases: string[]): number {
  return badReleases.reduce((n, r) => n + (counts.byRelease[r] ?? 0), 0);
}

/** One line per scenario run, for the test output and docs/benchmarks.md. */
export function formatCounts(scenario: string, run: number, counts: LoadCounts, bad: number): string {
  const releases = Object.entries(counts.byRelease)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return (
    `[load] ${scenario} run ${run}: requests=${counts.requests} (slow ${counts.slowRequests}) failed=${counts.failed} ` +
    `(non2xx=${counts.non2xx} unanswered=${counts.unanswered}; nginx read ${counts.nginxRead ?? '?'}, failed ${counts.nginxFailed ?? '?'}; ` +
    `autocannon errors=${counts.errors} timeouts=${counts.timeouts}) bad-release=${bad} ` +
    `rate=${counts.rate.toFixed(0)}/s seconds=${counts.seconds.toFixed(1)} close-reconnects=${counts.closeReconnects} served: ${releases}`
  );
}

/** A server, an agent, a registry and a dockerd for rollout scenarios, with the calls tests need. */
export interface RolloutStack {
  reg: TestRegistry;
  dk: TestDocker;
  base: string;
  token: string;
  agentDir: string;
  server: GantryProcess;
  agent: GantryProcess;
  // any: the tests read arbitrary JSON
  call(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  gantry(...args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }>;
  /** Creates release `name` of one component from a digest and marks it ready; returns its id. */
  release(name: string, components: Record<string, string>): Promise<string>;
  // any: the job as the API returns it
  waitJob(id: string, timeoutMs?: number): Promise<any>;
  stop(): Promise<void>;
}

/** `env`: more server settings (e.g. GANTRY_OUTBOUND_ALLOW for a metrics source on loopback). */
export async function startRolloutStack(env: Record<string, string> = {}): Promise<RolloutStack> {
  const [reg, dk] = await Promise.all([startRegistry(), startDockerd()]);
  const token = `gty_${randomBytes(32).toString('base64url')}`;
  const tdb = await createTestDb();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawnGantry(
    ['server'],
    childEnv({
      DATABASE_URL: tdb.url,
      GANTRY_BOOTSTRAP_TOKEN: token,
      GANTRY_PORT: String(port),
      GANTRY_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-load-')),
      GANTRY_AGENT_HEARTBEAT_SECONDS: '1',
      GANTRY_AGENT_POLL_SECONDS: '0.3',
      GANTRY_TASK_LEASE_SECONDS: '30',
      GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
      ...env,
    }),
  );
  await waitReady(server, base);
  const call = async (method: string, url: string, body?: unknown) => api(base, method, url, token, body);
  const gantry = async (...args: string[]) => runGantry(args, childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token }));
  const agentDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-load-'));
  const join = await gantry('agent', 'token', 'create', '--json');
  if (join.code !== 0) throw new Error(`agent token create failed: ${join.stderr}`);
  const agent = spawnGantry(
    ['agent', 'run', '--server', base, '--state-dir', agentDir, '--name', 'edge-load', '--join-token', JSON.parse(join.stdout).token],
    childEnv({}),
  );
  const stack: RolloutStack = {
    reg,
    dk,
    base,
    token,
    agentDir,
    server,
    agent,
    call,
    gantry,
    async release(name, components) {
      const r = await call('POST', '/api/v1/releases', {
        name,
        components: Object.entries(components).map(([component, digest]) => ({ component, digest })),
      });
      if (r.status !== 201) throw new Error(`release ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      const ready = await call('POST', `/api/v1/releases/${r.body.id}/ready`);
      if (ready.status !== 200) throw new Error(`release ${name} ready: ${ready.status} ${JSON.stringify(ready.body)}`);
      return r.body.id as string;
    },
    async waitJob(id, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const j = await call('GET', `/api/v1/deployments/${id}`);
        if (['succeeded', 'failed', 'cancelled'].includes(j.body.status)) return j.body;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${j.body.status}: ${JSON.stringify(j.body.tasks)}\n${agent.stderr()}`);
        await sleep(200);
      }
    },
    async stop() {
      await stopGantry(agent);
      await stopGantry(server);
      await killAll();
      await Promise.all([reg.stop(), dk.stop()]);
    },
  };
  return stack;
}
