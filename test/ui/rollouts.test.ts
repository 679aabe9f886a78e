// The Rollouts pages in a real browser against a real `gantry server` and a real agent (noop executor) that
// applies the traffic changes with the nginx router (it writes the split file; nginx itself is not needed
// to show what the page shows). A canary judged by a stand-in metrics source (a Node HTTP server speaking
// Prometheus's query API, clearly a fake: the real Prometheus runs in test/e2e/progressive-canary.test.ts)
// shows each stage's analysis; an A/B release waits at its stage until the operator advances it from the
// page with a reason, and the operator aborts it from the page.
import { mkdtemp, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, type GantryProcess, killAll, REPO_ROOT, runGantry, spawnGantry, stopGantry } from '../e2e/support.js';
import { createTestDb, type TestDb } from '../helpers.js';
import { browserAvailable, ensureUiBuilt, launchBrowser, startServer, type UiServer, waitFor } from './support.js';

const hasBrowser = browserAvailable();
const SHOTS = path.join(REPO_ROOT, 'docs', 'screenshots');

describe.skipIf(!hasBrowser)('web UI: rollouts', { timeout: 240_000 }, () => {
  let tdb: TestDb;
  let server: UiServer;
  let agent: GantryProcess;
  let browser: Browser;
  let page: Page;
  let metrics: http.Server;
  let metricsUrl = '';
  let dir = '';
  const tokens: Record<string, string> = {};

  const spec = (name: string, kind: string, extra: Record<string, unknown>) => ({
    name,
    kind,
    environment: 'prod',
    routerTarget: 'edge-1',
    router: { type: 'nginx', path: path.join(dir, `${name}.split.json`) },
    variations: [
      { name: 'a', release: '1.0.0', servers: [{ host: '10.0.0.1', port: 8080 }] },
      { name: 'b', release: '1.1.0', servers: [{ host: '10.0.0.2', port: 8080 }] },
    ],
    ...extra,
  });

  beforeAll(async () => {
    ensureUiBuilt();
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-ui-rollouts-'));
    metrics = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          status: 'success',
          data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, '0.002'] }] },
        }),
      );
    });
    await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
    metricsUrl = `http://127.0.0.1:${(metrics.address() as AddressInfo).port}`;
    tdb = await createTestDb();
    server = await startServer(tdb.url, {
      GANTRY_OUTBOUND_ALLOW: '127.0.0.1',
      GANTRY_DEPLOY_SWEEP_SECONDS: '0.5',
      GANTRY_AGENT_POLL_SECONDS: '0.3',
    });
    const { call } = server;
    const u = await call('POST', '/api/v1/users', { username: 'dave', roles: ['release_manager'] });
    tokens.dave = (await call('POST', '/api/v1/tokens', { name: 'dave-ui', userId: u.id })).secret;
    const env = await call('POST', '/api/v1/environments', { name: 'prod' });
    await call('POST', '/api/v1/targets', {
      name: 'edge-1',
      environmentId: env.id,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///var/run/docker.sock' },
    });
    await call('POST', '/api/v1/components', { name: 'web', imageRepository: 'registry.example.com/shop/web' });
    for (const [name, d] of [
      ['1.0.0', 'a'],
      ['1.1.0', 'b'],
    ] as const) {
      const r = await call('POST', '/api/v1/releases', { name, components: [{ component: 'web', digest: `sha256:${d.repeat(64)}` }] });
      await call('POST', `/api/v1/releases/${r.id}/ready`);
    }
    const env2 = childEnv({ GANTRY_SERVER: server.base, GANTRY_TOKEN: server.token });
    const join = await runGantry(['agent', 'token', 'create', '--json'], env2);
    agent = spawnGantry(
      [
        'agent',
        'run',
        '--server',
        server.base,
        '--state-dir',
        dir,
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
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.base}/`);
    await page.getByLabel('API token').fill(tokens.dave!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (agent) await stopGantry(agent);
    if (server) await stopGantry(server.proc);
    await killAll();
    metrics?.close();
  });

  it('shows a canary stage by stage with each analysis, to promotion', async () => {
    const c = await server.call(
      'POST',
      '/api/v1/rollouts',
      spec('web-canary', 'canary', {
        stages: [20, 60, 100].map((weight) => ({ weight, holdSeconds: 1 })),
        analysis: {
          source: { type: 'prometheus', url: metricsUrl },
          window: '1m',
          metrics: [{ name: 'error-rate', query: 'x{variation="${variation}"}', max: 0.01 }],
        },
      }),
      tokens.dave,
    );
    await page.goto(`${server.base}/rollouts`);
    await page.getByRole('link', { name: 'web-canary' }).click();
    await page.getByRole('heading', { name: /Canary web-canary/ }).waitFor();
    await waitFor(
      'the canary to be promoted',
      async () => (await server.call('GET', `/api/v1/rollouts/${c.id}`)).status === 'promoted',
      60_000,
    );
    await page.getByText('promoted', { exact: true }).first().waitFor({ timeout: 10_000 });
    const analyses = page.locator('caption', { hasText: /^Analysis at/ });
    expect(await analyses.count()).toBe(3);
    const first = page.locator('table', { has: page.locator('caption', { hasText: 'analysis of stage 1 (20%) passed' }) });
    expect(await first.textContent()).toContain('≤ 0.01');
    expect(await first.textContent()).toContain('x{variation="b"}');
    expect(await page.getByRole('img', { name: 'a 0%, b 100%' }).count()).toBe(1);
    expect(await page.getByText(/router: applied — serves b 100%/).count()).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, 'rollout-canary.png'), fullPage: true });
  });

  it('advances an A/B release from the page with a reason, then aborts it', async () => {
    const r = await server.call(
      'POST',
      '/api/v1/rollouts',
      spec('banner', 'ab', { stages: [10, 50, 100].map((weight) => ({ weight, holdSeconds: 0, approval: true })) }),
      tokens.dave,
    );
    await page.goto(`${server.base}/rollouts/${r.id}`);
    await page.getByText(/stage 1 \(10%\) held 0 s; advance or promote to go on/).waitFor({ timeout: 30_000 });
    expect(await page.getByRole('img', { name: 'a 90%, b 10%' }).count()).toBe(1);
    await page.getByLabel('Reason (recorded in the evidence)').fill('conversion up');
    await page.getByRole('button', { name: 'Advance to 50%' }).click();
    await page.getByText(/stage 2 \(50%\) held 0 s/).waitFor({ timeout: 30_000 });
    expect(await page.getByRole('img', { name: 'a 50%, b 50%' }).count()).toBe(1);
    // What the agent wrote is what the page says: the split file holds 50/50.
    const file = JSON.parse(await readFile(path.join(dir, 'banner.split.json'), 'utf8'));
    expect(file.split.variations.map((v: { weight: number }) => v.weight)).toEqual([50, 50]);
    const detail = await server.call('GET', `/api/v1/rollouts/${r.id}`);
    expect(detail.steps.find((s: { action: string }) => s.action === 'advance')).toMatchObject({
      actor: 'user:dave',
      reason: 'conversion up',
    });
    await page.screenshot({ path: path.join(SHOTS, 'rollout-ab.png'), fullPage: true });
    await page.getByRole('button', { name: 'Abort' }).click();
    await waitFor('the abort', async () => (await server.call('GET', `/api/v1/rollouts/${r.id}`)).status === 'aborted', 30_000);
    await page.getByRole('button', { name: 'Abort' }).waitFor({ state: 'detached', timeout: 10_000 });
  });

  it('starts an A/B release from the form; the server’s refusal is shown as it comes', async () => {
    await page.goto(`${server.base}/rollouts`);
    await page.getByRole('link', { name: 'Start one' }).click();
    await page.getByRole('heading', { name: 'New rollout' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('form-ab');
    await page.getByLabel('Environment', { exact: true }).selectOption('prod');
    await page.getByLabel('Stable release').selectOption('1.0.0');
    await page.getByLabel('Stable servers (host:port, comma-separated)').fill('10.0.0.1:8080');
    await page.getByLabel('Candidate release').selectOption('1.1.0');
    await page.getByLabel('Candidate servers (host:port, comma-separated)').fill('10.0.0.2:8080, 10.0.0.3:8080');
    await page.getByLabel('Router target (its agent applies the split)').selectOption('edge-1');
    await page.getByLabel('Split file').fill(path.join(dir, 'form-ab.split.json'));
    await page.getByLabel('Sticky cookie (optional)').fill('v');
    // Stages that go backwards: the server says why, and nothing is created.
    await page.getByLabel("Candidate's share per stage (%)").fill('50, 10');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.getByText(/stages only move forward/).waitFor();
    expect((await server.call('GET', '/api/v1/rollouts')).some((r: { name: string }) => r.name === 'form-ab')).toBe(false);
    await page.getByLabel("Candidate's share per stage (%)").fill('20, 100');
    await page.getByLabel('Hold per stage (seconds)').fill('0');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.getByRole('heading', { name: /A\/B release form-ab/ }).waitFor();
    await page.getByText(/stage 1 \(20%\) held 0 s; advance or promote to go on/).waitFor({ timeout: 30_000 });
    const file = JSON.parse(await readFile(path.join(dir, 'form-ab.split.json'), 'utf8'));
    expect(file.split).toMatchObject({
      variations: [
        { name: 'a', weight: 80, servers: [{ host: '10.0.0.1', port: 8080 }] },
        {
          name: 'b',
          weight: 20,
          servers: [
            { host: '10.0.0.2', port: 8080 },
            { host: '10.0.0.3', port: 8080 },
          ],
        },
      ],
      sticky: { cookie: 'v' },
    });
  });
});
