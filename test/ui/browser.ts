import { expect } from 'vitest';
import { mkdirSync } from 'node:fs';
import axe from 'axe-core';
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

/** expect.poll with room for a loaded machine (its default gives up after a second). */
export const eventually = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 8000 });

/**
 * A full-page screenshot from the top (a scrolled page would show the sticky header mid-page),
 * with UI_SCREENSHOTS=1 only: for a person to look at, nothing checks them.
 */
export async function shot(page: Page, name: string) {
  if (!process.env.UI_SCREENSHOTS) return;
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * A page that records what must never happen in the UI: requests to another origin and console
 * errors other than the 404s of APIs this server does not offer yet.
 */
export interface PageOptions {
  viewport?: { width: number; height: number };
  /** The system setting the page sees (prefers-color-scheme); light unless said. */
  colorScheme?: 'light' | 'dark';
  /** HTTP statuses a test expects the UI to meet (its console logs them as errors); 401 and 404 always are. */
  allowedStatuses?: number[];
}

export async function newPage(
  browser: Browser,
  base: string,
  viewportOrOptions: PageOptions['viewport'] | PageOptions = {},
) {
  const options: PageOptions =
    viewportOrOptions && 'width' in viewportOrOptions ? { viewport: viewportOrOptions } : (viewportOrOptions ?? {});
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1366, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    locale: 'en-US',
    acceptDownloads: true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  const problems: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !/^(data|blob|about):/.test(r.url()))
      problems.push(`external request: ${r.url()}`);
  });
  page.on('console', (m) => {
    const status = /status of (\d{3})/.exec(m.text())?.[1];
    if (m.type() === 'error' && !(status && [401, 404, ...(options.allowedStatuses ?? [])].includes(Number(status))))
      problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => answered(d.accept()));
  return { page, problems, close: () => context.close() };
}

/**
 * Awaits a dialog's answer in the background. A beforeunload dialog can be gone by the time it is
 * answered (the page navigated on): only that is ignored; any other failure still surfaces.
 */
export function answered(answer: Promise<void>): void {
  void answer.catch((e: Error) => {
    if (!/No dialog is showing/.test(e.message)) throw e;
  });
}

export async function login(page: Page, base: string, token = ADMIN_TOKEN) {
  await page.goto(`${base}/admin/`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * The token as the login form leaves it (sessionStorage, for this tab), put there before the
 * page's first load: the form itself is tested once (admin.test.ts); going through it before
 * every test cost about a third of each test's time. Only the first load of the tab's top
 * window on this origin gets it, so a test that logs out stays logged out across reloads.
 */
export async function signedInAtFirstLoad(page: Page, base: string, token = ADMIN_TOKEN): Promise<void> {
  const [origin, value] = [JSON.stringify(new URL(base).origin), JSON.stringify(token)];
  await page.addInitScript({
    content: `if (window === window.top && location.origin === ${origin} && !sessionStorage.getItem('postier.test.first-load')) {
      sessionStorage.setItem('postier.test.first-load', '1');
      sessionStorage.setItem('postier.token', ${value});
    }`,
  });
}

/** Runs `fn` on a fresh logged-in page, then checks nothing left the server and nothing broke. */
export async function withLoggedInPage(
  browser: Browser,
  base: string,
  fn: (page: Page) => Promise<void>,
  options?: PageOptions['viewport'] | PageOptions,
) {
  const p = await newPage(browser, base, options);
  try {
    await signedInAtFirstLoad(p.page, base);
    await p.page.goto(`${base}/admin/`);
    await p.page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await fn(p.page);
    expect(p.problems).toEqual([]);
  } finally {
    await p.close();
  }
}

/** What axe-core reports as serious or critical on the page as it is now, one line per rule. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, not a <script>: the page's CSP (rightly) refuses inline scripts.
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(axe.source);
  // Email HTML (sandboxed iframes) is the sender's content, not the UI: axe stays out of frames.
  const result = (await page.evaluate(
    'window.axe.run(document, { iframes: false, resultTypes: ["violations"] })',
  )) as axe.AxeResults;
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
