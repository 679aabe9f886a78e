// Web UI benchmark: a real `gantry server` serving the built UI (embedded PostgreSQL, or BENCH_DATABASE_URL),
// seeded through the API, measured in Debian's Chromium (playwright-core, /usr/bin/chromium).
//
// 1. Home: 50 environments, 2,000 targets, 8 ready releases (some deployed by noop agents, so next actions
//    have running, blocked, available and in-progress releases to tell apart), loaded N times (default 20).
//    "Interactive" = from navigation start until every environment's column shows its promote action or the
//    reason there is none (what a user needs before clicking); it is recorded in the page by a
//    MutationObserver, so polling adds nothing. Also reported: the pipeline rendered (all columns, before
//    their actions), the API requests of the last load (a waterfall from the Resource Timing entries) and
//    the server's own time per route (its /metrics).
// 2. Deployment page: a job with 1,000 tasks (one release to 1,000 targets, run by noop agents); opened N
//    times: time to the first task rows, task rows in the DOM, and the time for a scroll to the end of the
//    list to show the last task.
//
// Options: --loads N (default 20), --envs N (50), --targets N (2000), --tasks N (1000), --home-only. BENCH_UI_ROOT runs the
// server and serves the UI of another checkout (e.g. the main branch, for a before/after in one sitting);
// BENCH_UI_NO_BUILD=1 uses ui/dist as it is instead of building it first.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium, type Page } from 'playwright-core';
import { startEmbedded } from '../src/store/embedded.js';
import { goal } from './lib/goals.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const LOADS = arg('loads', 20);
const ENVS = arg('envs', 50);
const TARGETS = arg('targets', 2000);
const TASKS = arg('tasks', 1000);
/** --home-only: measure the home page only (no 1,000-task job). */
const HOME_ONLY = process.argv.includes('--home-only');
const RELEASES = 8;
const AGENTS = 4;
const HOME_GOAL_MS = 500;
const ROWS_GOAL = 100;
const RENDER_GOAL_MS = 500;
const SCROLL_GOAL_MS = 200;
/** A home load not interactive by then counts as this long (and is reported). */
const TIMEOUT_MS = 30_000;

const HERE = fileURLToPath(new URL('../', import.meta.url));
const ROOT = process.env.BENCH_UI_ROOT ? path.resolve(process.env.BENCH_UI_ROOT) : HERE;
const BIN = path.join(ROOT, 'bin', 'gantry.js');
const CHROMIUM = process.env.GANTRY_CHROMIUM ?? '/usr/bin/chromium';
const token = `gty_${randomBytes(32).toString('base64url')}`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const children: ChildProcess[] = [];
function gantry(args: string[], env: Record<string, string>): ChildProcess {
  const c = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, GANTRY_HOST: '127.0.0.1', GANTRY_LOG_LEVEL: 'warn', GANTRY_FROM_SOURCE: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  c.stderr?.on('data', () => {});
  children.push(c);
  return c;
}

async function call(base: string, method: string, url: string, body?: unknown) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json().catch(() => undefined)) as any; // any: arbitrary API answers
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Sum (s) and count of request durations per route from the server's /metrics. */
async function routeTimes(base: string): Promise<Map<string, { sum: number; count: number }>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, { sum: number; count: number }>();
  for (const line of text.split('\n')) {
    const m = /^gantry_http_request_duration_seconds_(sum|count)\{.*route="([^"]+)".*\} (\S+)$/.exec(line);
    if (!m) continue;
    const r = out.get(m[2]!) ?? { sum: 0, count: 0 };
    r[m[1] as 'sum' | 'count'] += Number(m[3]);
    out.set(m[2]!, r);
  }
  return out;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (n: number) => `${n.toFixed(0)} ms`;

async function deploy(base: string, releaseId: string, environmentId: string) {
  const job = await call(base, 'POST', '/api/v1/deployments', { releaseId, environmentId });
  return until(`deployment ${job.id}`, async () => {
    const d = await call(base, 'GET', `/api/v1/deployments/${job.id}`);
    if (['failed', 'cancelled'].includes(d.status)) throw new Error(`deployment ${job.id} ${d.status}`);
    return d.status === 'succeeded' ? d : undefined;
  });
}

/** Watches the page from its first script: when the pipeline is rendered, and when every column has its action or reason. */
const HOME_PROBE = `(() => {
  const envs = ${ENVS};
  const check = () => {
    const cols = document.querySelectorAll('[data-testid="pipeline"] article');
    if (cols.length < envs) return;
    if (window.__rendered === undefined) window.__rendered = performance.now();
    for (const c of cols) if (!c.querySelector('[data-testid="no-promote"], button')) return;
    window.__interactive = performance.now();
    obs.disconnect();
  };
  const obs = new MutationObserver(check);
  obs.observe(document, { childList: true, subtree: true, characterData: true });
})()`;

async function homeRuns(page: Page, base: string) {
  const interactive: number[] = [];
  const rendered: number[] = [];
  let waterfall: { name: string; start: number; end: number }[] = [];
  for (let i = 0; i < LOADS; i++) {
    await page.goto(`${base}/`);
    const ok = await page
      .waitForFunction('window.__interactive !== undefined', undefined, { timeout: TIMEOUT_MS, polling: 100 })
      .then(() => true)
      .catch(() => false);
    if (!ok) {
      // Counted at the timeout, with what the page showed then.
      const shown = await page.evaluate(`({
        columns: document.querySelectorAll('[data-testid="pipeline"] article').length,
        checking: [...document.querySelectorAll('[data-testid="pipeline"] article')].filter((c) => c.textContent.includes('Checking what can be promoted')).length,
        errors: [...document.querySelectorAll('[role="alert"], .alert')].map((e) => e.textContent).slice(0, 3),
      })`);
      console.log(`load ${i + 1}: not interactive after ${TIMEOUT_MS} ms: ${JSON.stringify(shown)}`);
      interactive.push(TIMEOUT_MS);
      rendered.push(TIMEOUT_MS);
      continue;
    }
    const r = (await page.evaluate(`({
      interactive: window.__interactive,
      rendered: window.__rendered,
      resources: performance.getEntriesByType('resource').map((e) => ({ name: e.name, start: e.startTime, end: e.responseEnd })),
    })`)) as { interactive: number; rendered: number; resources: { name: string; start: number; end: number }[] };
    interactive.push(r.interactive);
    rendered.push(r.rendered);
    waterfall = r.resources;
  }
  return { interactive, rendered, waterfall };
}

/** In the page: scrolls the task list to its end and answers the ms until the row of `last` is on screen. */
const scrollToEnd = (last: string) => `(async () => {
  const last = ${JSON.stringify(last)};
  const list = [...document.querySelectorAll('h2')].find((h) => h.textContent === 'Targets').nextElementSibling;
  const own = list.scrollHeight > list.clientHeight + 1;
  const page = document.scrollingElement;
  // The list's own box (virtualised) is brought into view first; then it, or the page, is scrolled to the list's end.
  if (own) list.scrollIntoView();
  await new Promise((r) => requestAnimationFrame(r));
  const t0 = performance.now();
  if (own) list.scrollTop = list.scrollHeight;
  else page.scrollTop = list.getBoundingClientRect().bottom + page.scrollTop - window.innerHeight;
  const view = () => (own ? list.getBoundingClientRect() : { top: 0, bottom: window.innerHeight });
  const seen = () => [...list.querySelectorAll('tbody tr')].some((tr) => {
    if (tr.querySelector('a')?.textContent !== last) return false;
    const r = tr.getBoundingClientRect();
    const v = view();
    return r.height > 0 && r.top < v.bottom && r.bottom > v.top;
  });
  for (;;) {
    await new Promise((r) => requestAnimationFrame(r));
    if (seen()) return performance.now() - t0;
    // As a user holding the scroll bar at the end: rows measured on the way can make the list longer.
    if (own) list.scrollTop = list.scrollHeight;
    if (performance.now() - t0 > 5000) {
      console.warn('bench: last row not shown', JSON.stringify({ own, top: list.scrollTop, sh: list.scrollHeight, ch: list.clientHeight,
        names: [...list.querySelectorAll('tbody tr')].map((tr) => tr.querySelector('a')?.textContent + '@' + Math.round(tr.getBoundingClientRect().top)).slice(-5), view: view() }));
      return Infinity;
    }
  }
})()`;

async function deploymentRuns(page: Page, base: string, jobId: string, lastTarget: string) {
  const rows = `h2:text-is("Targets") + div table tbody tr:not(.spacer)`;
  const first: number[] = [];
  const scroll: number[] = [];
  let domRows = 0;
  for (let i = 0; i < Math.min(LOADS, 10); i++) {
    await page.goto(`${base}/deployments/${jobId}`);
    await page.locator(rows).first().waitFor({ timeout: 120_000 });
    first.push((await page.evaluate('performance.now()')) as number);
    domRows = await page.locator(rows).count();
    // Scroll the list (its own box when virtualised, else the page) to the end; time until the last task's row shows.
    scroll.push((await page.evaluate(scrollToEnd(lastTarget))) as number);
  }
  return { first, scroll, domRows };
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
  if (!process.env.BENCH_UI_NO_BUILD && !process.env.BENCH_UI_ROOT) {
    const b = spawnSync('npm', ['--prefix', 'ui', 'run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (b.status !== 0) throw new Error('npm --prefix ui run build failed');
  }
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stopPg: (() => Promise<void>) | undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-ui-'));
  const pgDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-ui-pg-'));
  if (!adminUrl) {
    const store = await startEmbedded({ dataDir: pgDir, database: 'postgres' });
    adminUrl = store.connectionString;
    stopPg = store.stop;
  }
  const dbName = `gantry_bench_ui_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  try {
    gantry(['server'], {
      DATABASE_URL: u.toString(),
      GANTRY_BOOTSTRAP_TOKEN: token,
      GANTRY_PORT: String(port),
      GANTRY_DATA_DIR: path.join(dir, 'data'),
      GANTRY_SYNC_INTERVAL_SECONDS: '0',
      GANTRY_AGENT_POLL_SECONDS: '0.2',
    });
    await until('the server', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 120_000);
    for (let i = 0; i < AGENTS; i++) {
      const t = await call(base, 'POST', '/api/v1/agents/tokens', {});
      gantry(
        [
          'agent',
          'run',
          '--server',
          base,
          '--join-token',
          t.token,
          '--name',
          `bench-${i}`,
          '--state-dir',
          path.join(dir, `agent-${i}`),
        ].concat(['--executor', 'docker_host', '--noop', '--concurrency', '16']),
        {},
      );
    }

    // Seed: environments (every fifth with a weekend freeze window, every tenth after the first ten with an approval).
    const t0 = Date.now();
    const envs: { id: string; name: string }[] = [];
    for (let i = 0; i < ENVS; i++) {
      envs.push(
        await call(base, 'POST', '/api/v1/environments', {
          name: `env-${String(i).padStart(2, '0')}`,
          ...(i % 5 === 4
            ? {
                freezeWindows: [
                  { kind: 'recurring', name: 'weekend', rrule: 'FREQ=WEEKLY;BYDAY=SA', timezone: 'UTC', durationMinutes: 1440 },
                ],
              }
            : {}),
          ...(i >= 10 && i % 10 === 0 ? { requiredApprovals: 1 } : {}),
        }),
      );
    }
    for (let i = 0; i < TARGETS; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, TARGETS - i) }, (_, k) =>
          call(base, 'POST', '/api/v1/targets', {
            name: `host-${String(i + k).padStart(4, '0')}`,
            environmentId: envs[(i + k) % ENVS]!.id,
            targetType: 'docker_host',
            connection: { dockerHost: 'unix:///run/bench-none.sock' },
          }),
        ),
      );
    }
    await call(base, 'POST', '/api/v1/components', { name: 'app', imageRepository: 'registry.example.com/bench/app' });
    const releases: { id: string; name: string }[] = [];
    for (let i = 1; i <= RELEASES; i++) {
      const rel = await call(base, 'POST', '/api/v1/releases', {
        name: `1.${i}.0`,
        components: [{ component: 'app', digest: `sha256:${randomBytes(32).toString('hex')}` }],
      });
      await call(base, 'POST', `/api/v1/releases/${rel.id}/ready`);
      releases.push(rel);
    }
    await until(
      'agents online',
      async () => (await call(base, 'GET', '/api/v1/agents?limit=500')).items.filter((a: any) => a.status === 'online').length === AGENTS,
    );
    // The newest release runs in the first three environments, the one before it in the first six: later
    // environments see one release available (order gate passes) and the rest blocked.
    const newest = releases[RELEASES - 1]!;
    const older = releases[RELEASES - 2]!;
    for (let i = 0; i < Math.min(6, ENVS); i++) await deploy(base, older.id, envs[i]!.id);
    for (let i = 0; i < Math.min(3, ENVS); i++) await deploy(base, newest.id, envs[i]!.id);
    // A promotion in flight, where the order gate lets it go.
    if (ENVS > 3)
      await call(base, 'POST', '/api/v1/promotions', { releaseId: newest.id, targetEnvironmentId: envs[3]!.id, reason: 'bench' });
    const seedMs = Date.now() - t0;

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(HOME_PROBE);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.text().startsWith('bench:')) console.error(m.text());
    });
    await page.goto(`${base}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor();

    const before = await routeTimes(base);
    const home = await homeRuns(page, base);
    const after = await routeTimes(base);
    const load = os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    console.log(
      `${ENVS} environments, ${TARGETS} targets, ${RELEASES} releases; ${LOADS} loads of / in Chromium (1280×900, assets cached after the first); ${os.cpus().length} cores; load average ${load}; ${new Date().toISOString()}; seeding took ${(seedMs / 1000).toFixed(1)} s`,
    );
    console.log('\n| home page | p50 | p95 | max |');
    console.log('|---|---|---|---|');
    console.log(
      `| pipeline rendered (all columns) | ${ms(pct(home.rendered, 50))} | ${ms(pct(home.rendered, 95))} | ${ms(Math.max(...home.rendered))} |`,
    );
    console.log(
      `| interactive (every column's promote action or reason) | ${ms(pct(home.interactive, 50))} | ${ms(pct(home.interactive, 95))} | ${ms(Math.max(...home.interactive))} |`,
    );
    console.log(`\nruns (interactive, ms): ${home.interactive.map((x) => x.toFixed(0)).join(', ')}`);
    const api = home.waterfall.filter((r) => r.name.includes('/api/'));
    console.log(`\nlast load's API requests (${api.length}; ms from navigation start):\n`);
    console.log('| request | start | end |');
    console.log('|---|---|---|');
    const shown = api.length > 12 ? [...api.slice(0, 8), ...api.slice(-3)] : api;
    for (const r of shown)
      console.log(`| ${new URL(r.name).pathname}${new URL(r.name).search} | ${r.start.toFixed(0)} | ${r.end.toFixed(0)} |`);
    if (api.length > shown.length) console.log(`| … ${api.length - shown.length} more | | |`);
    console.log('\nserver time per route during the home loads:\n');
    console.log('| route | requests | mean ms | total ms |');
    console.log('|---|---|---|---|');
    for (const [route, a] of after) {
      const b = before.get(route) ?? { sum: 0, count: 0 };
      const n = a.count - b.count;
      if (n <= 0 || !route.startsWith('/api/v1/') || route.includes('/agents/')) continue;
      console.log(`| ${route} | ${n} | ${(((a.sum - b.sum) / n) * 1000).toFixed(1)} | ${((a.sum - b.sum) * 1000).toFixed(0)} |`);
    }
    goal({
      bench: 'ui',
      goal: `home interactive p95 (${ENVS} environments, ${TARGETS} targets, Chromium)`,
      figure: ms(pct(home.interactive, 95)),
      reference: `≤ ${HOME_GOAL_MS} ms (load average ${load})`,
      pass: pct(home.interactive, 95) <= HOME_GOAL_MS,
    });

    if (HOME_ONLY) return;
    // The deployment page: one job of TASKS tasks, run to the end by the noop agents.
    const fleet = await call(base, 'POST', '/api/v1/environments', { name: 'fleet' });
    for (let i = 0; i < TASKS; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, TASKS - i) }, (_, k) =>
          call(base, 'POST', '/api/v1/targets', {
            name: `fleet-${String(i + k).padStart(4, '0')}`,
            environmentId: fleet.id,
            targetType: 'docker_host',
            connection: { dockerHost: 'unix:///run/bench-none.sock' },
          }),
        ),
      );
    }
    // Measured as soon as the job exists: while its tasks run (the page polls the job and its logs) or after.
    const created = await call(base, 'POST', '/api/v1/deployments', { releaseId: newest.id, environmentId: fleet.id });
    const job = await call(base, 'GET', `/api/v1/deployments/${created.id}`);
    const last = (job.tasks as { targetName: string }[]).at(-1)!.targetName;
    const dep = await deploymentRuns(page, base, job.id, last);
    const load2 = os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    console.log(
      `\ndeployment page: a job of ${job.tasks.length} tasks (${(await call(base, 'GET', `/api/v1/deployments/${job.id}`)).status} after the loads), opened ${dep.first.length} times; load average ${load2}\n`,
    );
    console.log('| deployment page | p50 | p95 |');
    console.log('|---|---|---|');
    console.log(`| first task rows shown (from navigation start) | ${ms(pct(dep.first, 50))} | ${ms(pct(dep.first, 95))} |`);
    console.log(`| scroll to the end until the last task shows | ${ms(pct(dep.scroll, 50))} | ${ms(pct(dep.scroll, 95))} |`);
    console.log(`| task rows in the DOM | ${dep.domRows} | |`);
    goal({
      bench: 'ui',
      goal: `deployment page task rows in the DOM (${job.tasks.length} tasks)`,
      figure: String(dep.domRows),
      reference: `≤ ${ROWS_GOAL}`,
      pass: dep.domRows <= ROWS_GOAL,
    });
    goal({
      bench: 'ui',
      goal: `deployment page first rows p95 (${job.tasks.length} tasks)`,
      figure: ms(pct(dep.first, 95)),
      reference: `≤ ${RENDER_GOAL_MS} ms (load average ${load2})`,
      pass: pct(dep.first, 95) <= RENDER_GOAL_MS,
    });
    goal({
      bench: 'ui',
      goal: `deployment page scroll to the end p95 (${job.tasks.length} tasks)`,
      figure: ms(pct(dep.scroll, 95)),
      reference: `≤ ${SCROLL_GOAL_MS} ms`,
      pass: pct(dep.scroll, 95) <= SCROLL_GOAL_MS,
    });
    await context.close();
  } finally {
    await browser.close().catch(() => {});
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await stopPg?.();
    await rm(dir, { recursive: true, force: true });
    await rm(pgDir, { recursive: true, force: true });
  }
}

await main();
