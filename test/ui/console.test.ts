// The web UI as an operator's console (issue 16, points 3–6), in Debian's chromium against a real
// `gantry server`: one blocked-state story on the promotion page (banner, every gate, approvals agree;
// a rejection reads "Rejected"; a freeze says when it continues, the same in the banner and the gate row;
// an emergency override for the allowed roles shows as "overridden"); a viewer session at 390 px that is
// offered nothing the API would refuse; draft releases edited and deleted, a tag the registry lacks refused;
// a revoked token drops to sign-in with the reason; full ids and names in lists; no horizontal scroll at
// 1280 px with five environments nor at 390 px on any page; axe-core on every page, light and dark.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, REPO_ROOT, stopGantry } from '../e2e/support.js';
import { createTestDb, type TestDb } from '../helpers.js';
import { browserAvailable, ensureUiBuilt, FakeAgent, launchBrowser, startServer, type UiServer, waitFor } from './support.js';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core');
const SHOTS = path.join(REPO_ROOT, 'docs', 'screenshots');
const hasBrowser = browserAvailable();
const digest = () => `sha256:${randomBytes(32).toString('hex')}`;
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** A local clock time as the UI writes it: "16:05" today, "Dec 3 00:11" on another day (times in these tests are hours ahead, so they cross midnight when the suite runs late in the day). */
const CLOCK = String.raw`(?:[A-Z][a-z]{2} \d{1,2}(?:, \d{4})? )?\d\d:\d\d`;

/** The browser globals the functions given to page.evaluate use (they run in the page, not in Node). */
interface InPage {
  document: {
    scrollingElement: { scrollWidth: number; clientWidth: number };
    querySelector(selector: string): { textContent: string | null } | null;
  };
  axe: {
    run(
      context: unknown,
      options: { resultTypes: string[] },
    ): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }>;
  };
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

describe.skipIf(!hasBrowser)('web UI as an operator console', { timeout: 600_000 }, () => {
  let tdb: TestDb;
  let server: UiServer;
  let agent: FakeAgent;
  let browser: Browser;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const contexts: BrowserContext[] = [];

  /** A fresh tab (its own sessionStorage) signed in with `token`. */
  async function session(token: string, opts: { viewport?: typeof WIDE; colorScheme?: 'light' | 'dark' } = {}): Promise<Page> {
    const ctx = await browser.newContext({ viewport: opts.viewport ?? WIDE, colorScheme: opts.colorScheme ?? 'light' });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${server.base}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor({ state: 'attached' });
    return page;
  }

  /** Opens a page and waits until it has rendered its data (a heading, nothing loading). */
  async function visit(page: Page, url: string): Promise<void> {
    await page.goto(`${server.base}${url}`);
    await page.locator('main h1').first().waitFor();
    await page.waitForFunction(
      () => !(globalThis as unknown as InPage).document.querySelector('main')?.textContent?.includes('Loading'),
      undefined,
      { timeout: 20_000 },
    );
  }

  async function readyRelease(name: string, creator: string, comps: { id: string; name: string; image: string; tag: string }[]) {
    const tenant = (await tdb.db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
    const user = (await tdb.db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [creator])).rows[0]!.id;
    const components = comps.map((c) => ({
      componentId: c.id,
      component: c.name,
      imageRepository: c.image,
      selector: { by: 'tag', value: c.tag },
      tag: c.tag,
      semver: c.tag,
      channel: 'stable',
      digest: digest(),
    }));
    const r = await tdb.db.query<{ id: string }>(
      `INSERT INTO releases (tenant_id, name, components, source_ref, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [
        tenant,
        name,
        JSON.stringify(components),
        JSON.stringify({ repository: 'https://git.example.com/shop/app', branch: 'main', commitSha: randomBytes(20).toString('hex') }),
        user,
      ],
    );
    await tdb.db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [r.rows[0]!.id]);
    // The synced version map, as a registry sync would leave it.
    for (const c of components) {
      await tdb.db.query(
        `INSERT INTO version_maps (tenant_id, component_id, tag, digest, semver, channel) VALUES ($1, $2, $3, $4, $3, 'stable')
         ON CONFLICT DO NOTHING`,
        [tenant, c.componentId, c.tag, c.digest],
      );
    }
    return r.rows[0]!.id;
  }

  async function promotion(as: string, release: string, env: string): Promise<string> {
    return (
      await server.call('POST', '/api/v1/promotions', { releaseId: release, targetEnvironmentId: env, reason: `${release} to ${env}` }, as)
    ).id;
  }

  async function statusOf(id: string): Promise<string> {
    return (await server.call('GET', `/api/v1/promotions/${id}`)).status;
  }

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    ensureUiBuilt();
    tdb = await createTestDb();
    server = await startServer(tdb.url);
    const { call } = server;
    tokens.admin = server.token;
    for (const [username, roles] of [
      ['bob', ['approver']],
      ['dave', ['release_manager']],
      ['vera', ['viewer']],
    ] as const) {
      const u = await call('POST', '/api/v1/users', { username, roles });
      tokens[username] = (await call('POST', '/api/v1/tokens', { name: `${username}-ui`, userId: u.id })).secret;
    }
    const now = Date.now();
    await call('POST', '/api/v1/environments', { name: 'dev', displayName: 'Development' });
    await call('POST', '/api/v1/environments', { name: 'qa', displayName: 'QA', requiredApprovals: 1 });
    await call('POST', '/api/v1/environments', { name: 'staging', displayName: 'Staging', requiredApprovals: 1, requireSod: true });
    await call('POST', '/api/v1/environments', {
      name: 'prod',
      displayName: 'Production',
      requiredApprovals: 1,
      config: { requirePreviousEnvironment: false, overrideRoles: ['release_manager'] },
      freezeWindows: [
        {
          kind: 'one_off',
          name: 'launch week',
          start: new Date(now - 3600_000).toISOString(),
          end: new Date(now + 3 * 3600_000).toISOString(),
        },
      ],
    });
    await call('POST', '/api/v1/environments', { name: 'dr', displayName: 'Disaster recovery', requiredApprovals: 1 });
    for (const env of ['dev', 'qa', 'staging', 'prod', 'dr']) {
      const envId = (await call('GET', `/api/v1/environments/${env}`)).id;
      for (let i = 1; i <= 2; i++) {
        await call('POST', '/api/v1/targets', {
          name: `${env}-web-${i}`,
          environmentId: envId,
          targetType: 'docker_host',
          connection: { dockerHost: 'unix:///var/run/docker.sock' },
          labels: { role: 'web', zone: i === 1 ? 'a' : 'b' },
        });
      }
    }
    const web = await call('POST', '/api/v1/components', { name: 'web', imageRepository: 'registry.example.com/shop/web' });
    const apiC = await call('POST', '/api/v1/components', { name: 'api', imageRepository: 'registry.example.com/shop/api' });
    const comps = (tag: string) => [
      { id: web.id, name: 'web', image: web.imageRepository, tag },
      { id: apiC.id, name: 'api', image: apiC.imageRepository, tag },
    ];
    await readyRelease('1.4.0', 'admin', comps('1.4.0'));
    await readyRelease('1.5.0', 'admin', comps('1.5.0'));

    agent = new FakeAgent(server);
    await agent.start();
    ids.dev = await promotion(tokens.dave!, '1.5.0', 'dev');
    await waitFor('1.5.0 deployed to dev', async () => (await statusOf(ids.dev!)) === 'deployed', 60_000);
    browser = await launchBrowser();
  }, 240_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await agent?.stop();
    if (server) await stopGantry(server.proc);
    await killAll();
  });

  it('after an approval the page no longer says awaiting approval; banner, gates and approvals agree', async () => {
    ids.qa = await promotion(tokens.dave!, '1.5.0', 'qa');
    await waitFor('qa awaiting approval', async () => (await statusOf(ids.qa!)) === 'awaiting_approval');
    const page = await session(tokens.bob!);
    await visit(page, `/promotions/${ids.qa}`);
    const banner = page.getByTestId('status-banner');
    expect(await banner.textContent()).toMatch(/^Awaiting approval:.*approvals — 0 of 1 approvals/);
    // Every gate is listed while it waits, approvals and separation of duties included.
    for (const gate of ['environment_order', 'release_status', 'approvals', 'separation_of_duties', 'freeze_window']) {
      await page.getByTestId(`gate-${gate}`).waitFor();
    }
    expect(await page.getByTestId('gate-approvals').getAttribute('data-status')).toBe('pending');

    await page.getByLabel('Comment').fill('looks good');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByTestId('approval').first().waitFor();
    // The answer to the approval already carries the decision: no "awaiting approval" next to "Approvals (1/1)".
    await page.getByRole('heading', { name: 'Approvals (1/1)' }).waitFor();
    await waitFor(
      'the gate table shows approvals passed',
      async () => (await page.getByTestId('gate-approvals').getAttribute('data-status')) === 'pass',
    );
    expect(await page.locator('main').textContent()).not.toMatch(/awaiting approval|0 of 1 approvals/i);
    await page.getByRole('heading', { name: /Deployed$/ }).waitFor({ timeout: 60_000 });
    await page.getByRole('link', { name: 'deployment', exact: true }).waitFor();
  });

  it('a rejected promotion reads "Rejected", says why, and does not look pending', async () => {
    // 1.4.0 never ran in dev, so the environment-order gate rejects it for qa.
    ids.rejected = await promotion(tokens.dave!, '1.4.0', 'qa');
    await waitFor('rejected', async () => (await statusOf(ids.rejected!)) === 'rejected');
    const page = await session(tokens.dave!);
    await visit(page, `/promotions/${ids.rejected}`);
    expect(await page.locator('main h1').textContent()).toMatch(/Rejected$/);
    expect(await page.getByTestId('status-banner').textContent()).toMatch(
      /^Rejected: environment_order: release 1\.4\.0 has not been deployed to "dev"/,
    );
    expect(await page.getByTestId('promotion-deployments').textContent()).toBe('none — the promotion was rejected before deploying');
    expect(await page.locator('main').textContent()).not.toMatch(/Blocked|none yet/);
  });

  it('a frozen environment: the same "continues at" in banner and gate row, every gate listed, frozen until on the cards; override for the allowed role only', async () => {
    ids.prod = await promotion(tokens.dave!, '1.5.0', 'prod');
    await waitFor('prod pending on the freeze', async () => {
      const g = await server.call('GET', `/api/v1/promotions/${ids.prod}/gates`);
      return g.gates.some((x: { gate: string; status: string }) => x.gate === 'freeze_window' && x.status === 'pending');
    });
    const gates = (await server.call('GET', `/api/v1/promotions/${ids.prod}/gates`)).gates as { gate: string; status: string }[];
    expect(gates.map((g) => g.gate).sort()).toEqual([
      'approvals',
      'environment_order',
      'freeze_window',
      'release_status',
      'separation_of_duties',
    ]);

    const viewer = await session(tokens.vera!);
    await visit(viewer, `/promotions/${ids.prod}`);
    const banner = (await viewer.getByTestId('status-banner').textContent()) ?? '';
    expect(banner).toMatch(/^Blocked:/);
    expect(banner).toMatch(new RegExp(`freeze_window — freeze window "launch week" is active until ${CLOCK} \\(in 3 h\\)`));
    expect(banner).toMatch(/approvals — 0 of 1 approvals/);
    const at = new RegExp(`Continues by itself at (${CLOCK} \\(in 3 h\\))`).exec(banner)?.[1];
    expect(at).toBeTruthy();
    expect(await viewer.getByTestId('gate-freeze_window').getByTestId('gate-continues').textContent()).toBe(`continues at ${at}`);
    expect(banner).not.toMatch(/in a moment|\d{4}-\d\d-\d\dT/);
    expect(await viewer.getByTestId('gate-approvals').getAttribute('data-status')).toBe('pending');
    expect(await viewer.getByTestId('gate-separation_of_duties').count()).toBe(1);
    // A viewer is told who may override, and gets no form.
    expect(await viewer.getByTestId('override-not-allowed').textContent()).toMatch(
      /needs one of the roles admin, release_manager; you have viewer/,
    );
    expect(await viewer.getByTestId('override-form').count()).toBe(0);
    expect(await viewer.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await viewer.getByTestId('cannot-decide').textContent()).toMatch(/needs the approver or admin role; you have viewer/);

    await visit(viewer, '/');
    expect(await viewer.getByTestId('env-prod').textContent()).toContain(`frozen until ${at!.replace(/ \(in 3 h\)$/, '')}`);
    await visit(viewer, '/admin/environments');
    expect(await viewer.locator('main').textContent()).toMatch(new RegExp(`frozen until ${CLOCK} \\(in 3 h\\)`));

    const dave = await session(tokens.dave!);
    await visit(dave, `/promotions/${ids.prod}`);
    const form = dave.getByTestId('override-form');
    await form.getByLabel('Gate').selectOption('freeze_window');
    await form.getByLabel(/^Reason/).fill('hotfix for the checkout outage');
    await form.getByRole('button', { name: 'Override gate' }).click();
    const row = dave.getByTestId('gate-freeze_window');
    await waitFor('the freeze gate shows overridden', async () => (await row.getAttribute('data-overridden')) === 'true', 30_000);
    expect(await row.textContent()).toMatch(
      new RegExp(`overridden.*Overridden by dave until ${CLOCK} \\(in (?:1 h|59 min)\\): “hotfix for the checkout outage”`),
    );
    await dave.screenshot({ path: path.join(SHOTS, 'promotion-blocked.png'), fullPage: true });
  });

  it('a refused role names each role once (server text)', async () => {
    const r = await fetch(`${server.base}/api/v1/promotions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.vera}` },
      body: JSON.stringify({ releaseId: '1.5.0', targetEnvironmentId: 'staging' }),
    });
    expect(r.status).toBe(403);
    const body = (await r.json()) as { detail: string };
    expect(body.detail).toMatch(/^This needs one of the roles admin, release_manager; you have viewer/);
    expect(body.detail).not.toMatch(/admin, admin/);
  });

  it('a viewer at 390 px: a menu button opens the navigation, and no action the API would refuse is offered', async () => {
    const page = await session(tokens.vera!, { viewport: PHONE });
    expect(await page.getByTestId('my-roles').textContent()).toBe('viewer');
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.isVisible()).toBe(false);
    const menu = page.getByRole('button', { name: 'Menu' });
    expect(await menu.getAttribute('aria-expanded')).toBe('false');
    await menu.click();
    expect(await nav.isVisible()).toBe(true);
    await nav.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    expect(await nav.isVisible()).toBe(false);
    await page.getByText('bob').first().waitFor();
    for (const name of ['Add user', 'Save roles', 'Remove', 'New token']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    expect(await page.getByTestId('role-note').textContent()).toMatch(/needs the role admin; you have viewer/);

    const checks: [string, string[]][] = [
      ['/admin/environments', ['New environment', 'Edit dev', 'Delete']],
      ['/admin/integrations', ['Add integration', 'Check']],
      ['/admin/components', ['Add component', 'Sync']],
      ['/admin/secrets', ['Save secret', 'Delete']],
      ['/releases', ['Delete']],
      [`/promotions/${ids.prod}`, ['Approve', 'Reject', 'Cancel promotion', 'Override gate']],
    ];
    for (const [url, buttons] of checks) {
      await visit(page, url);
      for (const name of buttons) expect(await page.getByRole('button', { name, exact: true }).count(), `${url}: ${name}`).toBe(0);
    }
    await visit(page, '/releases');
    expect(await page.getByRole('link', { name: 'New release' }).count()).toBe(0);
    expect(await page.getByTestId('role-note').textContent()).toMatch(/needs one of the roles admin, release_manager; you have viewer/);
    await visit(page, `/promotions/${ids.qa}`);
    await page.screenshot({ path: path.join(SHOTS, 'mobile-promotion.png'), fullPage: true });
  });

  it('drafts: a tag the registry lacks is refused with the reason; a draft is edited and deleted in the UI', async () => {
    const page = await session(tokens.dave!);
    await visit(page, '/releases/new');
    await page.getByLabel('Name', { exact: true }).fill('1.6.0-rc1');
    await page.getByLabel('Component 1').selectOption('web');
    await page.getByLabel('Tag').fill('9.9.9');
    await page.getByTestId('tag-unknown').waitFor();
    await page.getByRole('button', { name: 'Create draft' }).click();
    const err = page.getByRole('alert');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/tag "9\.9\.9" of web is not among its synced versions/);
    expect((await server.call('GET', '/api/v1/releases?status=draft')).items).toHaveLength(0);

    await page.getByLabel('Tag').fill('1.5.0');
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page.waitForURL(/\/releases\/1\.6\.0-rc1$/);
    await visit(page, '/releases');
    await page.getByRole('link', { name: 'Edit draft 1.6.0-rc1' }).click();
    await page.getByRole('heading', { name: 'Edit draft 1.6.0-rc1' }).waitFor();
    expect(await page.getByLabel('Tag').inputValue()).toBe('1.5.0');
    await page.getByLabel('Tag').fill('1.4.0');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.waitForURL(/\/releases\/1\.6\.0-rc1$/);
    const saved = await server.call('GET', '/api/v1/releases/1.6.0-rc1');
    expect(saved.components.map((c: { tag: string }) => c.tag)).toEqual(['1.4.0']);

    await visit(page, '/releases');
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete' }).click();
    await waitFor(
      'draft deleted',
      async () =>
        (await fetch(`${server.base}/api/v1/releases/1.6.0-rc1`, { headers: { authorization: `Bearer ${tokens.admin}` } })).status === 404,
    );
    await page.getByText('1.6.0-rc1').waitFor({ state: 'detached' });
  });

  it('a revoked token drops to sign-in with the reason; a failed load offers a retry', async () => {
    const u = (await server.call('GET', '/api/v1/users?limit=500')).items.find((x: { username: string }) => x.username === 'bob');
    const t = await server.call('POST', '/api/v1/tokens', { name: 'bob-revoked', userId: u.id });
    const page = await session(t.secret);
    t.id = t.token.id;
    await visit(page, '/releases');
    await server.call('DELETE', `/api/v1/tokens/${t.id}`);
    // A click notices the revocation at once; the live stream may already have (its reload gets the 401).
    await page
      .getByRole('link', { name: 'Promotions' })
      .click({ timeout: 5000 })
      .catch(() => undefined);
    const reason = page.getByTestId('signed-out-reason');
    await reason.waitFor();
    expect(await reason.textContent()).toMatch(/You were signed out: The API token was revoked/);

    const admin = await session(tokens.admin!);
    const missing = '00000000-0000-7000-8000-000000000000';
    await admin.goto(`${server.base}/promotions/${missing}`);
    const alert = admin.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Could not load the promotion \(404 not_found\)/);
    const again = admin.waitForResponse((r) => r.url().endsWith(`/api/v1/promotions/${missing}`));
    await alert.getByRole('button', { name: 'Retry' }).click();
    expect((await again).status()).toBe(404);
  });

  it('references read as names and full ids with copy buttons, never 8-character prefixes', async () => {
    const page = await session(tokens.admin!);
    await visit(page, `/promotions/${ids.qa}`);
    expect(await page.locator('main').textContent()).toContain(ids.qa);
    await page.getByRole('button', { name: `Copy id ${ids.qa}` }).waitFor();
    await visit(page, '/workflow-runs');
    await page.getByRole('link', { name: '1.5.0 → qa' }).first().waitFor();
    await visit(page, '/deployments');
    await page.getByRole('link', { name: 'Deployment of 1.5.0 → qa' }).first().waitFor();
    await visit(page, `/evidence?promotion=${ids.qa}`);
    await page.getByRole('cell', { name: '1.5.0 → qa' }).first().waitFor();
    for (const url of ['/workflow-runs', '/deployments', `/promotions/${ids.qa}`, `/evidence?promotion=${ids.qa}`]) {
      await visit(page, url);
      const texts = await page.locator('main a').allTextContents();
      expect(
        texts.filter((x) => /^(?:run |deployment )?[0-9a-f]{8}…?$/.test(x.trim())),
        url,
      ).toEqual([]);
    }
  });

  /** Every page of the console, with real ids. */
  async function everyPage(): Promise<string[]> {
    const { call } = server;
    const job = (await call('GET', '/api/v1/deployments?limit=1')).items[0];
    const run = (await call('GET', '/api/v1/workflow-runs?limit=1')).items[0];
    const packet = (await call('GET', `/api/v1/evidence?promotion=${ids.qa}&limit=1`)).items[0];
    const agentRow = (await call('GET', '/api/v1/agents?limit=1')).items[0];
    return [
      '/',
      '/releases',
      '/releases/new',
      '/releases/1.5.0',
      '/releases/diff?from=1.4.0&to=1.5.0',
      '/promotions',
      `/promotions/${ids.qa}`,
      `/promotions/${ids.prod}`,
      `/promotions/${ids.rejected}`,
      '/deployments',
      `/deployments/${job.id}`,
      '/evidence',
      `/evidence?promotion=${ids.qa}&packet=${packet.id}`,
      '/notifications',
      '/targets',
      '/targets/prod-web-1',
      '/agents',
      `/agents/${agentRow.id}`,
      '/workflow-runs',
      `/workflow-runs/${run.id}`,
      '/admin/environments',
      '/admin/components',
      '/admin/integrations',
      '/admin/secrets',
      '/admin/tokens',
      '/admin/users',
    ];
  }

  it('no page scrolls sideways at 1280 px with five environments, nor at 390 px', async () => {
    const pages = await everyPage();
    const wide: string[] = [];
    for (const [viewport, label] of [
      [WIDE, '1280'],
      [PHONE, '390'],
    ] as const) {
      const page = await session(tokens.admin!, { viewport });
      for (const url of pages) {
        await visit(page, url);
        const { scroll, client } = await page.evaluate(() => {
          const el = (globalThis as unknown as InPage).document.scrollingElement;
          return { scroll: el.scrollWidth, client: el.clientWidth };
        });
        if (scroll > client) wide.push(`${label} px ${url}: scrollWidth ${scroll} > clientWidth ${client}`);
      }
      if (label === '1280') {
        await visit(page, '/');
        expect(await page.locator('[data-testid="pipeline"] article').count()).toBe(5);
      }
    }
    expect(wide).toEqual([]);
  });

  it.each(['light', 'dark'] as const)(
    'axe-core finds no serious or critical violation on any page (%s)',
    { timeout: 900_000 },
    async (scheme) => {
      const pages = await everyPage();
      const found: string[] = [];
      const page = await session(tokens.admin!, { colorScheme: scheme });
      for (const url of pages) {
        await visit(page, url);
        await page.addScriptTag({ path: AXE });
        const violations: AxeViolation[] = await page.evaluate(async () => {
          const r = await (globalThis as unknown as InPage).axe.run((globalThis as unknown as InPage).document, {
            resultTypes: ['violations'],
          });
          return r.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
          }));
        });
        for (const v of violations) {
          if (v.impact === 'serious' || v.impact === 'critical')
            found.push(`${scheme} ${url}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.join(', ')}`);
        }
      }
      expect(found).toEqual([]);
    },
  );
});
