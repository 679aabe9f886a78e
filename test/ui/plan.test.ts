// The promotion page shows the deployment plan, in a real browser against a real `gantry server`: per
// target and component what will happen (recreate with the digests, create for a new target), the plan
// hash; an approval given in the page is for that plan; when a target joins afterwards the page shows, by
// itself, that the plan changed and why, that the earlier approval no longer counts, and offers the
// approver the new plan to approve; re-approval deploys.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, REPO_ROOT, stopGantry } from '../e2e/support.js';
import { createTestDb, type TestDb } from '../helpers.js';
import { browserAvailable, ensureUiBuilt, FakeAgent, launchBrowser, startServer, type UiServer, waitFor } from './support.js';

const hasBrowser = browserAvailable();
const SHOTS = path.join(REPO_ROOT, 'docs', 'screenshots');
const digest = () => `sha256:${randomBytes(32).toString('hex')}`;

describe.skipIf(!hasBrowser)('web UI: the deployment plan on the promotion page', { timeout: 240_000 }, () => {
  let tdb: TestDb;
  let server: UiServer;
  let agent: FakeAgent;
  let browser: Browser;
  let page: Page;
  const tokens: Record<string, string> = {};
  const digests: Record<string, string> = {};
  let promotion = '';

  async function readyRelease(name: string, component: { id: string; name: string; image: string }) {
    const tenant = (await tdb.db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
    digests[name] = digest();
    const components = [
      {
        componentId: component.id,
        component: component.name,
        imageRepository: component.image,
        selector: { by: 'tag', value: name },
        tag: name,
        semver: name,
        channel: 'stable',
        digest: digests[name],
      },
    ];
    const r = await tdb.db.query<{ id: string }>(`INSERT INTO releases (tenant_id, name, components) VALUES ($1, $2, $3) RETURNING id`, [
      tenant,
      name,
      JSON.stringify(components),
    ]);
    await tdb.db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [r.rows[0]!.id]);
  }

  async function addTarget(name: string) {
    await server.call('POST', '/api/v1/targets', {
      name,
      environmentId: (await server.call('GET', '/api/v1/environments/prod')).id,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///var/run/docker.sock' },
    });
  }

  beforeAll(async () => {
    ensureUiBuilt();
    tdb = await createTestDb();
    server = await startServer(tdb.url, { GANTRY_PROMOTION_RECHECK_SECONDS: '1' });
    const { call } = server;
    for (const [username, roles] of [
      ['dave', ['release_manager']],
      ['bob', ['approver']],
      ['carol', ['approver']],
    ] as const) {
      const u = await call('POST', '/api/v1/users', { username, roles });
      tokens[username] = (await call('POST', '/api/v1/tokens', { name: `${username}-ui`, userId: u.id })).secret;
    }
    await call('POST', '/api/v1/environments', { name: 'prod', requiredApprovals: 2 });
    await addTarget('prod-web-1');
    const web = await call('POST', '/api/v1/components', { name: 'web', imageRepository: 'registry.example.com/shop/web' });
    await readyRelease('1.0.0', { id: web.id, name: 'web', image: web.imageRepository });
    await readyRelease('1.1.0', { id: web.id, name: 'web', image: web.imageRepository });
    agent = new FakeAgent(server);
    await agent.start();
    const job = await call('POST', '/api/v1/deployments', { releaseId: '1.0.0', environmentId: 'prod' });
    await waitFor('1.0.0 on prod', async () => (await call('GET', `/api/v1/deployments/${job.id}`)).status === 'succeeded');
    promotion = (await call('POST', '/api/v1/promotions', { releaseId: '1.1.0', targetEnvironmentId: 'prod', reason: 'plan' }, tokens.dave))
      .id;
    await waitFor(
      'the promotion to await approval',
      async () => (await call('GET', `/api/v1/promotions/${promotion}`)).status === 'awaiting_approval',
    );
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.base}/`);
    await page.getByLabel('API token').fill(tokens.bob!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    if (server) await stopGantry(server.proc);
    await killAll();
  });

  const row = (target: string, component: string) =>
    page.locator(`[data-testid="plan-row"][data-target="${target}"][data-component="${component}"]`);

  it('shows what the deployment will do per target and component, with the plan hash', async () => {
    await page.goto(`${server.base}/promotions/${promotion}`);
    await page.getByTestId('plan').waitFor();
    expect(await row('prod-web-1', 'web').getAttribute('data-action')).toBe('recreate');
    const text = await row('prod-web-1', 'web').textContent();
    expect(text).toContain(`${digests['1.0.0']!.slice(7, 19)} → ${digests['1.1.0']!.slice(7, 19)}`);
    expect(text).toMatch(/new image digest/);
    expect(await page.getByTestId('plan-summary').textContent()).toMatch(/1 target\(s\) change.*1 recreated/);
    // Why it waits: two approvals from the people who may give them.
    expect(await page.getByTestId('why-summary').textContent()).toMatch(
      /^Waiting for 2 more approval\(s\) \(admin, bob, carol may give them\)/,
    );
    const hash = await page.getByTestId('plan-hash').textContent();
    expect(hash).toBe((await server.call('GET', `/api/v1/promotions/${promotion}/plan`)).planHash);
  });

  it('binds an approval to the plan; a target joining voids it, the page says why and offers the new plan', async () => {
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByTestId('approval').waitFor();
    await page.getByTestId('cannot-decide').waitFor();
    expect(await page.getByTestId('cannot-decide').textContent()).toMatch(/already decided on this plan/);
    const first = (await server.call('GET', `/api/v1/promotions/${promotion}`)).approvals[0];
    expect(first.planHash).toBe(await page.getByTestId('plan-hash').textContent());

    await addTarget('prod-web-2');
    // Without a reload: the plan changes, the approval is marked, and Approve is offered again.
    await page.getByTestId('plan-changes').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('plan-changes').textContent()).toMatch(/target prod-web-2 joined \(deploy\)/);
    await page.getByTestId('stale-approval').waitFor();
    expect(await row('prod-web-2', 'web').getAttribute('data-action')).toBe('create');
    expect(await page.getByTestId('status-banner').textContent()).toMatch(/bob approved an earlier plan/);
    await page.getByRole('button', { name: 'Approve' }).waitFor();
    expect(await page.getByTestId('why-eligible').textContent()).toContain('bob (approved an earlier plan; may approve the current one)');
    await page.screenshot({ path: path.join(SHOTS, 'promotion-plan-changed.png'), fullPage: true });

    await server.call('POST', `/api/v1/promotions/${promotion}/approve`, { comment: 'new plan' }, tokens.carol);
    await page.getByRole('button', { name: 'Approve' }).click();
    await waitFor(
      'the promotion to deploy',
      async () => (await server.call('GET', `/api/v1/promotions/${promotion}`)).status === 'deployed',
    );
    const job = (await server.call('GET', `/api/v1/promotions/${promotion}`)).deploymentJobIds[0];
    const detail = await server.call('GET', `/api/v1/deployments/${job}`);
    expect(detail.tasks.map((t: { targetName: string }) => t.targetName).sort()).toEqual(['prod-web-1', 'prod-web-2']);
    expect(detail.planHash).toBe((await server.call('GET', `/api/v1/promotions/${promotion}`)).planHash);
  });

  it('shows the target’s timeline and answers what ran there at an instant, with who decided it and verified evidence', async () => {
    const promoted = await server.call('GET', `/api/v1/promotions/${promotion}`);
    const job = await server.call('GET', `/api/v1/deployments/${promoted.deploymentJobIds[0]}`);
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, timezoneId: 'UTC' });
    const p = await ctx.newPage();
    await p.goto(`${server.base}/`);
    await p.getByLabel('API token').fill(tokens.bob!);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByTestId('whoami').waitFor();
    await p.goto(`${server.base}/targets/prod-web-1`);
    await p.getByTestId('target-timeline').waitFor();
    const rows = p.getByTestId('timeline-ran');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).textContent()).toMatch(/^.*now1\.1\.0/);
    expect(await rows.nth(1).textContent()).toContain('1.0.0');
    // One second after the promotion's job completed (UTC, the page's time zone here).
    const at = new Date(Date.parse(job.completedAt) + 1000).toISOString().slice(0, 19);
    await p.getByLabel('Time (your local time)').fill(at);
    await p.getByRole('button', { name: 'Ask' }).click();
    await p.getByTestId('at-answer').waitFor();
    expect(await p.getByTestId('at-ran').textContent()).toContain('1.1.0');
    // bob approved the earlier plan too; only the approvals of the approved plan are named.
    expect(await p.getByTestId('at-promotion').textContent()).toMatch(/requested by dave; approved by (carol, bob|bob, carol); gates:/);
    expect(await p.getByTestId('at-evidence').textContent()).toMatch(/release decision #\d+.*deployment #\d+.*verified against the chain/);
    await p.screenshot({ path: path.join(SHOTS, 'target-timeline.png'), fullPage: true });
    // The deployment's page shows the plan it executed.
    await p.goto(`${server.base}/deployments/${job.id}`);
    await p.getByTestId('job-plan').waitFor();
    expect(await p.getByTestId('job-plan').textContent()).toMatch(/2 target\(s\) change/);
    await ctx.close();
  });
});
