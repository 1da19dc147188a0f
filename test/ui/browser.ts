import { expect } from 'vitest';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ADMIN_TOKEN } from '../helpers/context.js';

export const SCREENSHOTS = path.resolve('test-output/screenshots');

/** Debian's Chromium, headless; the flags let it run as root in CI containers. */
export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/** A full-page screenshot from the top (a scrolled page would show the sticky header mid-page). */
export async function shot(page: Page, name: string) {
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * A page that records what must never happen in the UI: requests to another origin and console
 * errors other than the 404s of APIs this server does not offer yet.
 */
export async function newPage(browser: Browser, base: string, viewport = { width: 1366, height: 900 }) {
  const context = await browser.newContext({ viewport, locale: 'en-US', acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  const problems: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !/^(data|blob|about):/.test(r.url())) problems.push(`external request: ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[14]/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => void d.accept());
  return { page, problems, close: () => context.close() };
}

export async function login(page: Page, base: string, token = ADMIN_TOKEN) {
  await page.goto(`${base}/admin/`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Runs `fn` on a fresh logged-in page, then checks nothing left the server and nothing broke. */
export async function withLoggedInPage(browser: Browser, base: string, fn: (page: Page) => Promise<void>, viewport?: { width: number; height: number }) {
  const p = await newPage(browser, base, viewport);
  try {
    await login(p.page, base);
    await p.page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await fn(p.page);
    expect(p.problems).toEqual([]);
  } finally {
    await p.close();
  }
}
