// The web UI tells the truth, in a real browser against a real `gantry server`: promote buttons only for
// what the server's next actions allow (already running, in flight, environment order, duplicate, a
// viewer's roles), per-target releases and history instead of an environment's last release, live
// updates without reload, "unobservable" instead of drift, the waiting reason of a target no agent can
// serve, and the label filter.
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, stopGantry } from '../e2e/support.js';
import { createTestDb, type TestDb } from '../helpers.js';
import { browserAvailable, ensureUiBuilt, FakeAgent, launchBrowser, startServer, type UiServer, waitFor } from './support.js';

const hasBrowser = browserAvailable();
const digest = () => `sha256:${randomBytes(32).toString('hex')}`;

describe.skipIf(!hasBrowser)('web UI: next actions, per-target truth, live updates', { timeout: 240_000 }, () => {
  let tdb: TestDb;
  let server: UiServer;
  let agent: FakeAgent;
  let browser: Browser;
  let page: Page;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  async function signIn(p: Page, token: string) {
    await p.goto(`${server.base}/`);
    await p.getByLabel('API token').fill(token);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByTestId('whoami').waitFor();
  }

  /** A ready release inserted directly (the registry path has its own tests). */
  async function readyRelease(name: string, comps: { id: string; name: string; image: string }[]) {
    const tenant = (await tdb.db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
    const user = (await tdb.db.query<{ id: string }>(`SELECT id FROM users WHERE username = 'dave'`)).rows[0]!.id;
    const components = comps.map((c) => ({
      componentId: c.id,
      component: c.name,
      imageRepository: c.image,
      selector: { by: 'tag', value: name },
      tag: name,
      semver: name,
      channel: 'stable',
      digest: digest(),
    }));
    const r = await tdb.db.query<{ id: string }>(
      `INSERT INTO releases (tenant_id, name, components, created_by) VALUES ($1, $2, $3, $4) RETURNING id`,
      [tenant, name, JSON.stringify(components), user],
    );
    await tdb.db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [r.rows[0]!.id]);
    ids[name] = r.rows[0]!.id;
  }

  async function addTarget(name: string, env: string, labels: Record<string, string>) {
    const t = await server.call('POST', '/api/v1/targets', {
      name,
      environmentId: (await server.call('GET', `/api/v1/environments/${env}`)).id,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///var/run/docker.sock' },
      labels,
    });
    ids[name] = t.id;
  }

  /** Deploys a release to an environment directly (no promotion) and waits until the fake agent ran it. */
  async function deploy(release: string, env: string) {
    const job = await server.call('POST', '/api/v1/deployments', { releaseId: release, environmentId: env });
    await waitFor(`${release} on ${env}`, async () => (await server.call('GET', `/api/v1/deployments/${job.id}`)).status === 'succeeded');
  }

  const column = (env: string) => page.getByTestId(`env-${env}`);

  beforeAll(async () => {
    ensureUiBuilt();
    tdb = await createTestDb();
    server = await startServer(tdb.url);
    const { call } = server;
    for (const [username, roles] of [
      ['dave', ['release_manager']],
      ['bob', ['approver']],
      ['vera', ['viewer']],
    ] as const) {
      const u = await call('POST', '/api/v1/users', { username, roles });
      tokens[username] = (await call('POST', '/api/v1/tokens', { name: `${username}-ui`, userId: u.id })).secret;
    }
    await call('POST', '/api/v1/environments', { name: 'dev' });
    await call('POST', '/api/v1/environments', { name: 'qa' });
    await call('POST', '/api/v1/environments', { name: 'staging', requiredApprovals: 1, requireSod: true });
    await call('POST', '/api/v1/environments', { name: 'prod' });
    await call('POST', '/api/v1/environments', { name: 'edge' });
    await addTarget('dev-web-1', 'dev', { zone: 'a' });
    await addTarget('qa-web-1', 'qa', { zone: 'a' });
    await addTarget('staging-web-1', 'staging', { zone: 'b' });
    await addTarget('prod-web-1', 'prod', { zone: 'b' });
    await addTarget('edge-web-1', 'edge', { zone: 'c', agent: 'ghost' });
    const web = await call('POST', '/api/v1/components', { name: 'web', imageRepository: 'registry.example.com/shop/web' });
    const comps = [{ id: web.id, name: 'web', image: web.imageRepository }];
    await readyRelease('1.3.0', comps);
    await readyRelease('1.4.0', comps);
    await readyRelease('1.5.0', comps);
    await readyRelease('1.6.0', comps);

    agent = new FakeAgent(server);
    await agent.start();
    // 1.3.0 on dev and qa; 1.4.0 everywhere up to prod; then 1.5.0 on dev and qa. qa-web-2 arrives
    // afterwards with nothing on it.
    for (const env of ['dev', 'qa']) await deploy('1.3.0', env);
    for (const env of ['dev', 'qa', 'staging', 'prod']) await deploy('1.4.0', env);
    for (const env of ['dev', 'qa']) await deploy('1.5.0', env);
    await addTarget('qa-web-2', 'qa', { zone: 'b' });
    // 1.5.0 → staging is requested and waits for an approval (in flight).
    ids.promotion = (
      await call('POST', '/api/v1/promotions', { releaseId: '1.5.0', targetEnvironmentId: 'staging', reason: 'next' }, tokens.dave)
    ).id;
    await waitFor(
      'the promotion to await approval',
      async () => (await call('GET', `/api/v1/promotions/${ids.promotion}`)).status === 'awaiting_approval',
    );

    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await signIn(page, tokens.dave!);
  }, 180_000); // eight deployments and a promotion through the real server and agent protocol

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    if (server) await stopGantry(server.proc);
    await killAll();
  });

  it('shows promote buttons only where the server says the action is possible', async () => {
    await page.goto(`${server.base}/`);
    await column('qa').getByTestId('release-spread').waitFor();
    // qa runs 1.5.0 on one of two targets, the other has nothing.
    expect(await column('qa').getByTestId('release-spread').textContent()).toBe('1.5.0 on 1 of 2 · nothing deployed on 1 of 2');
    // Buttons come from next actions, loaded after the pipeline: wait for them before looking for absent ones.
    // dev runs 1.5.0, qa has it on one of two targets: filling up qa is offered.
    await page.getByRole('button', { name: 'Promote 1.5.0 to qa' }).waitFor();
    await column('qa').getByRole('button', { name: 'Promote here: a release to qa' }).waitFor();
    await column('prod').getByRole('button', { name: 'Promote 1.4.0 to edge' }).waitFor();
    // 1.5.0 → staging is in flight: no button for it.
    expect(await page.getByRole('button', { name: 'Promote 1.5.0 to staging' }).count()).toBe(0);
    // staging runs 1.4.0 and so does every prod target: no "Promote 1.4.0 to prod".
    expect(await page.getByRole('button', { name: 'Promote 1.4.0 to prod' }).count()).toBe(0);
    // On staging, 1.3.0 (passed qa, not running there) can still go.
    expect(await column('staging').getByRole('button', { name: 'Promote here: a release to staging' }).count()).toBe(1);
    expect(await column('qa').getByTestId('no-promote').count()).toBe(0);
  });

  it('preselects a release that can go, disables the request with the reason otherwise, and prevents a duplicate before submitting', async () => {
    await page.getByRole('button', { name: 'Promote here: a release to qa' }).click();
    const dialog = page.getByRole('dialog');
    const select = dialog.getByLabel('Release', { exact: true });
    await select.waitFor();
    // 1.6.0 is the newest but never reached dev (environment order): 1.5.0 is preselected instead.
    expect(await select.inputValue()).toBe(ids['1.5.0']);
    expect(await dialog.getByRole('button', { name: 'Request promotion' }).isEnabled()).toBe(true);
    await select.selectOption(ids['1.6.0']!);
    const refusal = dialog.getByTestId('promote-refusal');
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/environment_order: release 1\.6\.0 has not been deployed to "dev"/);
    expect(await dialog.getByRole('button', { name: 'Request promotion' }).isDisabled()).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // staging: 1.5.0 is already being promoted there; the duplicate cannot be submitted (1.3.0 could go).
    await page.getByRole('button', { name: 'Promote here: a release to staging' }).click();
    await dialog.getByLabel('Release', { exact: true }).waitFor();
    expect(await dialog.getByLabel('Release', { exact: true }).inputValue()).toBe(ids['1.3.0']);
    await dialog.getByLabel('Release', { exact: true }).selectOption(ids['1.5.0']!);
    await dialog.getByTestId('promote-refusal').waitFor();
    expect(await dialog.getByTestId('promote-refusal').textContent()).toMatch(/already being promoted to "staging"/);
    expect(await dialog.getByRole('button', { name: 'Request promotion' }).isDisabled()).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('offers a viewer no promote action, and says why', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const viewer = await ctx.newPage();
    await signIn(viewer, tokens.vera!);
    await viewer.getByTestId('env-qa').getByTestId('no-promote').waitFor();
    expect(await viewer.getByRole('button', { name: /^Promote/ }).count()).toBe(0);
    expect(await viewer.getByTestId('env-qa').getByTestId('no-promote').textContent()).toMatch(
      /needs the role release_manager or admin; you have viewer/,
    );
    // Nor on the release page.
    await viewer.goto(`${server.base}/releases/1.5.0`);
    await viewer.getByTestId('no-promote').waitFor();
    expect(await viewer.getByTestId('no-promote').textContent()).toMatch(/you have viewer/);
    expect(await viewer.getByLabel('Promote to environment').count()).toBe(0);
    await ctx.close();
  });

  it('derives "where it runs" from each target: a newer release or nothing is not counted', async () => {
    await page.goto(`${server.base}/releases/1.4.0`);
    await page.getByRole('heading', { name: 'Where it runs now' }).waitFor();
    await page.getByTestId('runs-in-prod').waitFor();
    expect(await page.getByTestId('runs-in-staging').textContent()).toMatch(/^staging: 1 target\(s\) of 1/);
    expect(await page.getByTestId('runs-in-qa').count()).toBe(0); // qa-web-1 runs 1.5.0, qa-web-2 nothing
    expect(await page.getByTestId('runs-in-dev').count()).toBe(0);

    await page.goto(`${server.base}/releases/1.5.0`);
    await page.getByTestId('runs-in-qa').waitFor();
    expect(await page.getByTestId('runs-in-qa').textContent()).toMatch(/^qa: 1 target\(s\) of 2\s*qa-web-1$/);
    // It may go to qa (one target lacks it) but not to staging (in flight) or dev (running there).
    const options = await page.getByLabel('Promote to environment').locator('option').allTextContents();
    expect(options).toEqual(['Promote to…', 'qa']);
  });

  it('shows a target’s own release, digests, agent and history', async () => {
    await page.goto(`${server.base}/targets/qa-web-1`);
    await page.getByTestId('target-history').waitFor();
    expect(await page.getByTestId('target-current-release').textContent()).toBe('1.5.0');
    const rows = page.getByTestId('target-history').locator('tbody tr');
    expect(await rows.count()).toBe(3);
    expect(await rows.nth(0).textContent()).toMatch(/1\.5\.0from 1\.4\.0/);
    expect(await rows.nth(0).textContent()).toMatch(/succeeded/);
    expect(await rows.nth(1).textContent()).toMatch(/1\.4\.0from 1\.3\.0/);
    expect(await rows.nth(2).textContent()).toMatch(/^[^f]*1\.3\.0/);
    const truth = (await page.getByTestId('target-truth').textContent()) ?? '';
    const release = await server.call('GET', '/api/v1/releases/1.5.0');
    expect(truth).toContain(release.components[0].digest);
    expect(truth).toContain('ui-agent');
    // The serving agent's page lists the targets it serves.
    await page.getByTestId('target-truth').getByRole('link', { name: 'ui-agent' }).click();
    await page.getByTestId('agent-serves').waitFor();
    expect(await page.getByTestId('agent-serves').textContent()).toContain('qa-web-1');

    await page.goto(`${server.base}/targets/qa-web-2`);
    await page.getByText('Nothing was deployed to this target yet.').waitFor();
    expect(await page.getByTestId('target-current-release').textContent()).toBe('nothing deployed yet');
  });

  it('updates an open page when an approval and its deployment happen elsewhere, without a reload', async () => {
    await page.goto(`${server.base}/`);
    await column('staging').getByTestId('release-spread').waitFor();
    expect(await column('staging').getByTestId('release-spread').textContent()).toBe('1.4.0 on 1 of 1');
    expect(await column('staging').getByRole('link', { name: '1.5.0' }).count()).toBe(1); // in "Pending promotions"
    await page.evaluate(() => {
      (globalThis as unknown as { stillHere: boolean }).stillHere = true;
    });
    await server.call('POST', `/api/v1/promotions/${ids.promotion}/approve`, { comment: 'ok' }, tokens.bob);
    await waitFor(
      'the pipeline to show 1.5.0 running on staging',
      async () => (await column('staging').getByTestId('release-spread').textContent()) === '1.5.0 on 1 of 1',
      60_000,
    );
    await column('staging').getByText('None').waitFor(); // no pending promotion any more
    expect(await page.evaluate(() => (globalThis as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
    // With 1.5.0 now on staging, the next step is offered there.
    await page.getByRole('button', { name: 'Promote 1.5.0 to prod' }).waitFor();

    // The target page follows too.
    await page.goto(`${server.base}/targets/staging-web-1`);
    await page.getByTestId('target-history').waitFor();
    await page.evaluate(() => {
      (globalThis as unknown as { stillHere: boolean }).stillHere = true;
    });
    await deploy('1.4.0', 'staging');
    await waitFor(
      'the target page to show 1.4.0 again',
      async () => (await page.getByTestId('target-current-release').textContent()) === '1.4.0',
    );
    expect(await page.getByTestId('target-history').locator('tbody tr').count()).toBe(3);
    expect(await page.evaluate(() => (globalThis as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
  });

  it('shows a target served by a noop agent as unobservable, not drifted', async () => {
    const { token } = await server.call('POST', '/api/v1/agents/tokens', { description: 'noop' });
    const reg = await fetch(`${server.base}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-token': token },
      body: JSON.stringify({ name: 'noop-agent', version: 'ui-test', capabilities: { executors: ['docker_host'] } }),
    });
    const { agentId, credential } = (await reg.json()) as { agentId: string; credential: string };
    const obs = await fetch(`${server.base}/api/v1/agents/${agentId}/observations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
      body: JSON.stringify({
        observations: [{ targetId: ids['dev-web-1'], components: [], sticker: null, error: 'the noop executor observes nothing' }],
      }),
    });
    expect(obs.status).toBe(200);
    await page.goto(`${server.base}/targets`);
    const row = page.getByTestId('targets-table').locator('tr', { has: page.getByRole('link', { name: 'dev-web-1' }) });
    await row.getByText('unobservable').waitFor();
    expect(await row.getByText('drift', { exact: true }).count()).toBe(0);
    expect(await row.getByText('degraded').count()).toBe(0);
    await page.goto(`${server.base}/targets/dev-web-1`);
    expect(await page.getByTestId('target-observation').textContent()).toMatch(
      /unobservable the noop executor observes nothing — this is not drift/,
    );
    await page.goto(`${server.base}/`);
    await column('dev').getByText('unobservable: 1').waitFor();
    expect(
      await column('dev')
        .getByText(/^drift/)
        .count(),
    ).toBe(0);
  });

  it('says why a target no online agent can serve is waiting', async () => {
    const job = await server.call('POST', '/api/v1/deployments', { releaseId: '1.4.0', environmentId: 'edge' });
    await page.goto(`${server.base}/targets/edge-web-1`);
    const banner = page.getByTestId('target-waiting');
    await banner.waitFor();
    expect(await banner.textContent()).toMatch(/no online agent serves edge-web-1: needs agent=ghost, and no agent has that name/);
    await page.goto(`${server.base}/`);
    await column('edge').getByTestId('waiting-reasons').waitFor();
    expect(await column('edge').getByTestId('waiting-reasons').textContent()).toMatch(/edge-web-1: no online agent serves edge-web-1/);
    await server.call('POST', `/api/v1/deployments/${job.id}/cancel`);
  });

  it('filters targets by a label written as key=value', async () => {
    await page.goto(`${server.base}/targets`);
    await page.getByTestId('targets-table').waitFor();
    await page.getByLabel('Filter by name or label').fill('zone=a');
    const names = async () => page.getByTestId('targets-table').locator('tbody tr td:first-child a').allTextContents();
    await waitFor('the filter', async () => (await names()).length === 2);
    expect((await names()).sort()).toEqual(['dev-web-1', 'qa-web-1']);
    await page.getByLabel('Filter by name or label').fill('zone=z');
    await page.getByText('No target matches "zone=z".').waitFor();
  });
});
