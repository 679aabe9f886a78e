// Traffic routers for progressive delivery with the real proxies: nginx with the njs split module
// (share/nginx/gantry-split.js) and HAProxy with its runtime API, in front of Node servers answering their
// variation's name. For both: a 90/10 split measured over 2,000 requests, a header split, sticky cookies,
// distribution() reading back a shift, and a shift under keep-alive load with no failed request and no
// reload (the same worker processes). Then the exec router with a small program.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TrafficRouter, TrafficRouterError, trafficRouterFor } from '../../src/agent/traffic/index.js';
import { type TrafficSplit, trafficSplit } from '../../src/protocol/traffic.js';
import { NGINX, NJS_MODULE } from './load-support.js';
import {
  type Backend,
  backend,
  get,
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

const nginxSkip = toolMissing([NGINX, NJS_MODULE], 'apt-get install -y nginx libnginx-mod-http-js');
const haproxySkip = toolMissing([HAPROXY], 'apt-get install -y haproxy');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const COOKIE = 'gantry_v';
const MARK = { 'X-Gantry-Test': 'beta' };

/** Variation a on two servers, b on one; the header X-Gantry-Test: beta selects b; sticky cookie gantry_v. */
function splitOf(backends: Backend[], a: number, b: number): TrafficSplit {
  const servers = (v: string) => backends.filter((x) => x.variation === v).map((x) => ({ host: '127.0.0.1', port: x.port }));
  return trafficSplit.parse({
    variations: [
      { name: 'a', servers: servers('a'), weight: a },
      { name: 'b', servers: servers('b'), weight: b },
    ],
    header: { name: 'X-Gantry-Test', value: 'beta', variation: 'b' },
    sticky: { cookie: COOKIE },
  });
}

/** `name=value` of the sticky cookie a response sets (undefined: none). */
function stickyCookie(headers: Record<string, unknown>): string | undefined {
  const set = (headers['set-cookie'] as string[] | undefined) ?? [];
  return set.find((c) => c.startsWith(`${COOKIE}=`))?.split(';')[0];
}

interface Proxy {
  url: string;
  router: TrafficRouter;
  /** Processes that a reload would replace (nginx's workers; HAProxy's master and worker). */
  processes(): Promise<number[]>;
}

/** The same operator's session for each proxy. */
function scenarios(label: string, proxy: () => Proxy, backends: () => Backend[]) {
  const split = (a: number, b: number) => splitOf(backends(), a, b);

  it(`${label}: a 90/10 split sends 10 ±3 % of 2,000 requests to b`, async () => {
    const p = proxy();
    await p.router.shift(split(90, 10));
    const seen = await tally(p.url, 2000);
    const share = ((seen.b ?? 0) / 2000) * 100;
    console.log(`[traffic] ${label} 90/10 over 2000 requests: ${JSON.stringify(seen)} → b ${share.toFixed(1)} %`);
    expect((seen.a ?? 0) + (seen.b ?? 0)).toBe(2000);
    expect(Math.abs(share - 10)).toBeLessThanOrEqual(3);
  });

  it(`${label}: the header sends exactly the marked requests to b`, async () => {
    const p = proxy();
    await p.router.shift(split(100, 0));
    expect(await tally(p.url, 300, MARK)).toEqual({ b: 300 });
    expect(await tally(p.url, 300)).toEqual({ a: 300 });
    // the header wins over a cookie naming the other variation
    const withA = await get(p.url); // sets a cookie naming a
    const cookieA = stickyCookie(withA.headers)!;
    expect(cookieA).toBeDefined();
    expect(await tally(p.url, 50, { ...MARK, Cookie: cookieA })).toEqual({ b: 50 });
  });

  it(`${label}: a sticky cookie keeps a client on its variation while it has weight`, async () => {
    const p = proxy();
    await p.router.shift(split(50, 50));
    let first = await get(p.url);
    for (let i = 0; i < 100 && first.body !== 'b'; i++) first = await get(p.url);
    expect(first.body).toBe('b');
    const cookie = stickyCookie(first.headers)!;
    expect(cookie).toBeDefined();
    expect(await tally(p.url, 50, { Cookie: cookie }, 5)).toEqual({ b: 50 });
    // b loses its weight: the client moves to a and gets a cookie naming a
    await p.router.shift(split(100, 0));
    const moved = await get(p.url, { headers: { Cookie: cookie } });
    expect(moved.body).toBe('a');
    const newCookie = stickyCookie(moved.headers);
    expect(newCookie).toMatch(new RegExp(`^${COOKIE}=a`));
    expect(await tally(p.url, 20, { Cookie: newCookie! }, 2)).toEqual({ a: 20 });
  });

  it(`${label}: distribution() reads back what was shifted`, async () => {
    const p = proxy();
    await p.router.shift(split(70, 30));
    expect(await p.router.distribution()).toEqual({ a: 70, b: 30 });
    await p.router.shift(split(0, 100));
    expect(await p.router.distribution()).toEqual({ a: 0, b: 100 });
    expect(await tally(p.url, 100)).toEqual({ b: 100 });
  });

  it(`${label}: shifts under keep-alive load fail no request and reload nothing`, async () => {
    const p = proxy();
    await p.router.shift(split(100, 0));
    const before = await p.processes();
    const load = keepAliveLoad(p.url, 8);
    await sleep(500);
    const onlyA = load.snapshot();
    await p.router.shift(split(50, 50));
    await sleep(500);
    await p.router.shift(split(0, 100));
    const atFull = load.snapshot();
    await sleep(500);
    const end = await load.stop();
    const after = await p.processes();
    const lastB = (end.seen.b ?? 0) - (atFull.b ?? 0);
    const lastA = (end.seen.a ?? 0) - (atFull.a ?? 0);
    console.log(
      `[traffic] ${label} shift 100/0 → 50/50 → 0/100 under load: ${end.requests} requests, ${end.failures.length} failed, served ${JSON.stringify(end.seen)}, after the last shift a=${lastA} b=${lastB}`,
    );
    expect(end.failures).toEqual([]);
    expect(onlyA.b ?? 0).toBe(0);
    expect(end.seen.b).toBeGreaterThan(0);
    // an answer to a request sent just before the last shift may come from a; none after it
    expect(lastA).toBeLessThanOrEqual(8);
    expect(lastB).toBeGreaterThan(50);
    expect(after).toEqual(before);
  });
}

/** Variation a on two servers, b on one. */
async function startBackends(): Promise<Backend[]> {
  return [await backend('a'), await backend('a'), await backend('b')];
}

describe.skipIf(nginxSkip)('nginx (njs split file, no reload)', () => {
  let nginx: SplitNginx;
  let router: TrafficRouter;
  let backends: Backend[] = [];
  beforeAll(async () => {
    backends = await startBackends();
    nginx = await startSplitNginx();
    router = trafficRouterFor({ type: 'nginx', route: 'web', path: nginx.splitFile, validateCommand: nginx.validateCommand });
    await router.configure(splitOf(backends, 90, 10));
    await runSplitNginx(nginx);
  });
  afterAll(async () => {
    await nginx?.stop();
    for (const b of backends) b.server.close();
  });

  scenarios(
    'nginx',
    () => ({ url: nginx.url, router, processes: () => nginx.workers() }),
    () => backends,
  );

  it('nginx: the backend, the variation header and the cookie name the same choice', async () => {
    await router.shift(splitOf(backends, 50, 50));
    for (let i = 0; i < 100; i++) {
      const r = await get(nginx.url);
      expect(r.headers['x-gantry-variation']).toBe(r.body);
      expect(stickyCookie(r.headers)).toBe(`${COOKIE}=${r.body}`);
    }
    const log = (await readFile(path.join(nginx.dir, 'access.log'), 'utf8')).trim().split('\n').slice(-100);
    expect(log.every((l) => /^200 [ab] 127\.0\.0\.1:\d+$/.test(l))).toBe(true);
  });

  it('nginx: a split file that does not parse is refused and the previous one kept', async () => {
    await writeFile(`${nginx.splitFile}.bad`, '{');
    const bad = trafficRouterFor({ type: 'nginx', route: 'web', path: `${nginx.splitFile}.bad` });
    await expect(bad.validate()).rejects.toThrow(/not JSON.*configure the route again/);
    const failing = trafficRouterFor({
      type: 'nginx',
      route: 'web',
      path: nginx.splitFile,
      validateCommand: [NGINX, '-t', '-c', '/nonexistent.conf'],
    });
    const kept = await readFile(nginx.splitFile, 'utf8');
    await expect(failing.configure(splitOf(backends, 10, 90))).rejects.toThrow(TrafficRouterError);
    expect(await readFile(nginx.splitFile, 'utf8')).toBe(kept);
    // A program the agent's operator did not allow is never run, and the split stays.
    const shell = trafficRouterFor({
      type: 'nginx',
      route: 'web',
      path: nginx.splitFile,
      validateCommand: ['sh', '-c', 'touch /tmp/pwned'],
    });
    await expect(shell.configure(splitOf(backends, 10, 90))).rejects.toThrow(
      /does not run "sh" for a router.*GANTRY_AGENT_ROUTER_COMMANDS/,
    );
    expect(await readFile(nginx.splitFile, 'utf8')).toBe(kept);
  });
});

describe.skipIf(haproxySkip)('haproxy (runtime API, no reload)', () => {
  let hx: TestHaproxy;
  let router: TrafficRouter;
  let backends: Backend[] = [];
  beforeAll(async () => {
    backends = await startBackends();
    hx = await prepareHaproxy('web');
    router = trafficRouterFor({
      type: 'haproxy',
      route: 'web',
      path: hx.routeFile,
      socket: hx.socket,
      validateCommand: hx.validateCommand,
    });
    await router.configure(splitOf(backends, 90, 10)); // validated against the operator's main.cfg
    await hx.start();
  });
  afterAll(async () => {
    await hx?.stop();
    for (const b of backends) b.server.close();
  });

  scenarios(
    'haproxy',
    () => ({ url: hx.url, router, processes: async () => [hx.master(), await hx.worker()] }),
    () => backends,
  );

  it('haproxy: a shift is kept in the file for the next restart', async () => {
    await router.shift(splitOf(backends, 80, 20));
    const file = await readFile(hx.routeFile, 'utf8');
    expect(file).toMatch(/server a_0 127\.0\.0\.1:\d+ weight 80 cookie a_0\n/);
    expect(file).toMatch(/server a_1 127\.0\.0\.1:\d+ weight 80 cookie a_1\n/);
    expect(file).toMatch(/server b_0 127\.0\.0\.1:\d+ weight 40 cookie b_0\n/);
  });

  it('haproxy: a shift that changes more than weights asks for configure(), which reloads', async () => {
    const { header: _, ...noHeader } = splitOf(backends, 50, 50);
    await expect(router.shift(noHeader)).rejects.toThrow(/use configure\(\)/);
    const worker = await hx.worker();
    const reloading = trafficRouterFor({
      type: 'haproxy',
      route: 'web',
      path: hx.routeFile,
      socket: hx.socket,
      validateCommand: hx.validateCommand,
      reloadCommand: ['kill', '-USR2', String(hx.master())],
    });
    await reloading.configure(noHeader);
    const deadline = Date.now() + 10_000;
    let distribution: Record<string, number> | null = null;
    while (Date.now() < deadline) {
      distribution = await reloading.distribution().catch(() => null);
      if (distribution?.b === 50 && (await hx.worker().catch(() => worker)) !== worker) break;
      await sleep(100);
    }
    expect(distribution).toEqual({ a: 50, b: 50 });
    expect(await hx.worker()).not.toBe(worker);
    expect(await tally(hx.url, 20, MARK)).not.toEqual({ b: 20 }); // the header no longer selects b
  });

  it('haproxy: runtime API errors say what to check', async () => {
    const wrong = trafficRouterFor({ type: 'haproxy', route: 'web', path: hx.routeFile, socket: hx.socket, backend: 'nope' });
    await expect(wrong.distribution()).rejects.toThrow(/get weight nope\/a_0.*configure the route/);
    const noSocket = trafficRouterFor({ type: 'haproxy', route: 'web', path: hx.routeFile, socket: path.join(hx.dir, 'missing.sock') });
    await expect(noSocket.distribution()).rejects.toThrow(/is haproxy running with "stats socket/);
  });
});

describe('exec traffic router (a third-party program)', () => {
  let dir: string;
  let script: string;
  const split = trafficSplit.parse({
    variations: [
      { name: 'a', servers: [{ host: '10.0.0.1', port: 80 }], weight: 75 },
      { name: 'b', servers: [{ host: '10.0.0.2', port: 80 }], weight: 25 },
    ],
  });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-exec-router-'));
    script = path.join(dir, 'router.cjs');
    // The agent host's operator lists the router programs it may run (node here, and a missing one).
    process.env.GANTRY_AGENT_ROUTER_COMMANDS = `${process.execPath},${path.join(dir, 'no-such-router')}`;
    // keeps the weights in a state file; refuses "reload" like a router whose proxy is down
    await writeFile(
      script,
      `const fs = require('fs');
const state = process.argv[2];
let input = '';
process.stdin.on('data', (d) => { input += d; }).on('end', () => {
  const m = JSON.parse(input);
  fs.appendFileSync(state + '.log', m.action + ' ' + m.route + '\\n');
  if (m.action === 'configure' || m.action === 'shift') {
    fs.writeFileSync(state, JSON.stringify(Object.fromEntries(m.split.variations.map((v) => [v.name, v.weight]))));
    process.stdout.write('{"ok":true}');
  } else if (m.action === 'distribution') {
    process.stdout.write(JSON.stringify({ distribution: JSON.parse(fs.readFileSync(state, 'utf8')) }));
  } else if (m.action === 'validate') {
    process.stdout.write('{"ok":false,"error":"no proxy config found"}');
  } else {
    process.stderr.write('reload refused: proxy not running\\n');
    process.exit(3);
  }
});
`,
    );
  });
  afterAll(async () => {
    delete process.env.GANTRY_AGENT_ROUTER_COMMANDS;
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a router program only when the agent’s operator lists it', async () => {
    const saved = process.env.GANTRY_AGENT_ROUTER_COMMANDS;
    delete process.env.GANTRY_AGENT_ROUTER_COMMANDS;
    try {
      const router = trafficRouterFor({ type: 'exec', route: 'web', command: [process.execPath, script, path.join(dir, 'x.json')] });
      await expect(router.distribution()).rejects.toThrow(/a third-party router program must be listed/);
    } finally {
      process.env.GANTRY_AGENT_ROUTER_COMMANDS = saved;
    }
  });

  it('sends each action as JSON on stdin and reads the answer on stdout', async () => {
    const state = path.join(dir, 'state.json');
    const router = trafficRouterFor({ type: 'exec', route: 'web', command: [process.execPath, script, state] });
    await router.configure(split);
    expect(await router.distribution()).toEqual({ a: 75, b: 25 });
    await router.shift({ ...split, variations: split.variations.map((v) => ({ ...v, weight: 100 - v.weight })) });
    expect(await router.distribution()).toEqual({ a: 25, b: 75 });
    await expect(router.validate()).rejects.toThrow(/failed: no proxy config found/);
    await expect(router.reload()).rejects.toThrow(/exited with 3; stderr: reload refused: proxy not running/);
    expect(await readFile(`${state}.log`, 'utf8')).toBe(
      'configure web\ndistribution web\nshift web\ndistribution web\nvalidate web\nreload web\n',
    );
  });

  it('bounds the time and the output of the program', async () => {
    const slow = trafficRouterFor(
      { type: 'exec', route: 'web', command: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'] },
      { exec: { timeoutMs: 300 } },
    );
    const started = Date.now();
    await expect(slow.shift(split)).rejects.toThrow(/stopped: no answer within 0.3 s/);
    expect(Date.now() - started).toBeLessThan(5_000);
    const chatty = trafficRouterFor(
      { type: 'exec', route: 'web', command: [process.execPath, '-e', 'process.stdout.write("x".repeat(100000))'] },
      { exec: { maxOutputBytes: 1000 } },
    );
    await expect(chatty.validate()).rejects.toThrow(/more than 1000 bytes on stdout/);
    const missing = trafficRouterFor({ type: 'exec', route: 'web', command: [path.join(dir, 'no-such-router')] });
    await expect(missing.validate()).rejects.toThrow(/could not start.*executable/);
  });

  it('an unknown router type names the known ones', () => {
    expect(() => trafficRouterFor({ type: 'envoy', route: 'web' })).toThrow(TrafficRouterError);
    expect(() => trafficRouterFor({ type: 'envoy', route: 'web' })).toThrow(/use one of nginx, haproxy, exec/);
  });
});
