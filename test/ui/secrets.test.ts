// The admin secrets page in a real browser (Debian's chromium) against a real `gantry server`: an admin
// saves a secret through the write-only form, sees its name and version listed but never its value
// (not in the page, not in any API answer the page received), replaces it, uses it, and deletes it.
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../e2e/plugin-fakes.js';
import { killAll } from '../e2e/support.js';
import { createTestDb } from '../helpers.js';
import { browserAvailable, ensureUiBuilt, launchBrowser, startServer, type UiServer } from './support.js';

const hasBrowser = browserAvailable();
const VALUE = `ui-secret-${randomBytes(8).toString('hex')}`;

describe.skipIf(!hasBrowser)('web UI: secrets', { timeout: 120_000 }, () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  const answers: string[] = [];

  beforeAll(async () => {
    ensureUiBuilt();
    server = await startServer((await createTestDb()).url);
    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('response', (res) => {
      if (res.url().includes('/api/v1/'))
        void res.text().then(
          (t) => answers.push(t),
          () => undefined,
        );
    });
    await page.goto(`${server.base}/`);
    await page.getByLabel('API token').fill(server.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    await killAll();
  });

  it('saves a secret write-only, lists it by name and version, and deletes it', async () => {
    await page.goto(`${server.base}/admin/secrets`);
    const form = page.getByRole('form', { name: 'Set secret' });
    await form.getByLabel('Name').fill('hook-token');
    await form.getByLabel('Value').fill(VALUE);
    await form.getByRole('button', { name: 'Save secret' }).click();
    await page.getByText('Saved secret hook-token (version 1)').waitFor();
    expect(await form.getByLabel('Value').inputValue()).toBe('');
    await page.getByRole('cell', { name: 'hook-token' }).waitFor();

    await form.getByLabel('Name').fill('hook-token');
    await form.getByLabel('Value').fill(`${VALUE}-2`);
    await form.getByRole('button', { name: 'Save secret' }).click();
    await page.getByText('Saved secret hook-token (version 2)').waitFor();

    // The stored value works: an integration check sends it.
    const receiver = await startReceiver();
    try {
      await server.call('POST', '/api/v1/integrations', {
        name: 'hook',
        typeId: 'scanner_webhook',
        config: { url: `${receiver.url}/scan` },
        credentialRef: 'secret:hook-token',
      });
      await server.call('POST', '/api/v1/integrations/hook/check');
      expect(receiver.requests.at(-1)?.headers.authorization).toBe(`Bearer ${VALUE}-2`);
    } finally {
      await receiver.close();
    }

    await page.reload();
    await page.getByRole('cell', { name: 'hook-token' }).waitFor();
    expect(await page.content()).not.toContain(VALUE);
    expect(answers.length).toBeGreaterThan(2);
    expect(answers.some((a) => a.includes(VALUE))).toBe(false);

    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('(none)').or(page.getByRole('table')).first().waitFor();
    await expect.poll(async () => (await server.call('GET', '/api/v1/secrets')).items.length).toBe(0);
  });
});
