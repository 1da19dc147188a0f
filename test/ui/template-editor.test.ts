import type { Browser, Dialog, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { answered, eventually, launchBrowser, shot, withLoggedInPage } from './browser.js';

// Code run in the page is passed as strings: this project's type-check has no DOM library.

const KEY = 'billing_invoice_monthly';

/**
 * The template editor as an operator spends the day in it: a code editor (CodeMirror) with line
 * numbers and Liquid/HTML colours, errors at their line, Ctrl/Cmd+S, a draft that survives a
 * reload and a warning before leaving unsaved work.
 */
describe('admin UI template editor', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    t = await createTestContext('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const withPage = (fn: (page: Page) => Promise<void>) => withLoggedInPage(browser, base, fn);
  const html = (page: Page) => page.locator('.cm-content[data-field="html_content"]');
  const text = (page: Page) => page.locator('.cm-content[data-field="text_content"]');
  const openEditor = async (page: Page) => {
    await page.goto(`${base}/admin/templates/${KEY}`);
    await html(page).waitFor();
    await text(page).waitFor();
    await page.getByTestId('preview-subject').waitFor();
  };
  type Active = { active_version: number; subject: string; html_content: string; text_content: string };
  const active = async () =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/templates/${KEY}` })).json() as Active;
  /** Dialogs answered by `answer` from now on (the page's default answer is "accept"); their messages are kept. */
  const answerDialogs = (page: Page, answer: 'accept' | 'dismiss') => {
    const seen: { type: string; message: string }[] = [];
    page.removeAllListeners('dialog');
    page.on('dialog', (d: Dialog) => {
      seen.push({ type: d.type(), message: d.message() });
      answered(answer === 'accept' ? d.accept() : d.dismiss());
    });
    return seen;
  };
  /** The colour of the first span of the HTML editor whose text is `text` (a highlighted token). */
  const spanColour = (page: Page, text: string) =>
    page.evaluate(
      `(() => {
        const s = [...document.querySelectorAll('.cm-content[data-field="html_content"] span')].find((e) => e.textContent === ${JSON.stringify(text)});
        return s ? getComputedStyle(s).color : null;
      })()`,
    );
  const colour = (page: Page, selector: string) =>
    page.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).color`);
  const cssVar = (page: Page, name: string) =>
    page.evaluate(`(() => {
      const d = document.createElement('i');
      d.style.color = 'var(${name})';
      document.body.append(d);
      const c = getComputedStyle(d).color;
      d.remove();
      return c;
    })()`);

  it('edits HTML in a code editor with line numbers, Liquid and HTML colours, and completes variables', async () => {
    await withPage(async (page) => {
      await openEditor(page);
      // Named by its label, for screen readers and for getByLabel alike.
      expect(await page.getByRole('textbox', { name: 'HTML' }).getAttribute('data-field')).toBe('html_content');
      const numbers = await page
        .locator('.cm-editor')
        .first()
        .locator('.cm-lineNumbers .cm-gutterElement')
        .allTextContents();
      expect(numbers).toEqual(expect.arrayContaining(['1', '2', '3', '10']));
      // Liquid output and HTML tags each in their colour (from the page's palette, so dark mode follows).
      const liquidVar = await spanColour(page, 'month');
      expect(liquidVar).toBe(await cssVar(page, '--syn-liquid'));
      const tagName = await spanColour(page, 'h1');
      expect(tagName).toBe(await cssVar(page, '--syn-tag'));
      expect(liquidVar).not.toBe(tagName);
      expect(await colour(page, '.cm-content[data-field="html_content"] .cm-line')).toBe(await cssVar(page, '--text'));

      // Typing: the preview follows, and the template's variables are offered after {{.
      await html(page).fill('<p>Total {{ amount_fcfa }}</p>\n');
      await eventually(() => page.frameLocator('.preview iframe').locator('body').textContent()).toContain(
        'Total 450000',
      );
      await html(page).press('Control+End');
      await page.keyboard.type('{{ resel');
      // The option is picked with the mouse: on a loaded machine, an Enter pressed while the list
      // was being refreshed went to the editor instead (a full run once ended with "{{ resel}}").
      await page.locator('.cm-tooltip-autocomplete li', { hasText: 'reseller_name' }).click();
      await eventually(() => html(page).textContent()).toContain('{{ reseller_name');
      await shot(page, 'editor-codemirror');
    });
  });

  it('marks a Liquid error at its line and moves the cursor there from the message', async () => {
    await withPage(async (page) => {
      await openEditor(page);
      await html(page).fill('<p>one</p>\n<p>two</p>\n<p>{% if amount_fcfa %}never closed</p>');
      const error = page.locator('.field-error').first();
      await eventually(() => error.textContent()).toMatch(/^Line 3, column \d+: .*not closed/);
      // The gutter marker sits on line 3, and the text of line 3 is underlined.
      const lines = html(page).locator('.cm-line');
      await lines.nth(2).locator('.cm-lintRange-error').waitFor();
      expect(await lines.nth(0).locator('.cm-lintRange-error').count()).toBe(0);
      const marker = await page.locator('.cm-lint-marker-error').first().boundingBox();
      const line3 = await lines.nth(2).boundingBox();
      expect(Math.abs(marker!.y + marker!.height / 2 - (line3!.y + line3!.height / 2))).toBeLessThan(line3!.height / 2);
      await shot(page, 'editor-error-line');
      // "Line 3, column n" puts the cursor on that line, in the editor.
      await html(page).press('Control+Home');
      await error.getByRole('button', { name: /Line 3/ }).click();
      await eventually(() => html(page).locator('.cm-activeLine').textContent()).toBe(
        '<p>{% if amount_fcfa %}never closed</p>',
      );
      expect(await page.evaluate('document.activeElement?.dataset?.field')).toBe('html_content');
    });
  });

  it('saves with Ctrl+S from any field, and with Cmd+S', async () => {
    const before = (await active()).active_version;
    await withPage(async (page) => {
      await openEditor(page);
      // Nothing changed: the shortcut saves nothing (and the browser's "Save page" never opens).
      await page.getByLabel('Subject').press('Control+s');
      await page.getByLabel('Subject').fill('Facture {{ month }} {{ year }} (raccourci)');
      await page.getByLabel('Subject').press('Control+s');
      await page.getByText(`Saved as version ${before + 1}.`).waitFor();
      expect((await active()).subject).toBe('Facture {{ month }} {{ year }} (raccourci)');

      await text(page).press('Control+End');
      await page.keyboard.type('\nPS: merci.');
      await page.keyboard.press('Meta+s');
      await page.getByText(`Saved as version ${before + 2}.`).waitFor();
      expect((await active()).text_content).toMatch(/PS: merci\.$/);
      await page.getByText(`active version v${before + 2}`).waitFor();
    });
  });

  it('keeps the draft across a reload and asks before leaving unsaved changes, then discards it', async () => {
    await withPage(async (page) => {
      await openEditor(page);
      const original = (await active()).html_content;
      await html(page).fill('<p>Brouillon {{ month }}</p>');
      await page.getByLabel('Version comment').fill('work in progress');
      await page.locator('.unsaved', { hasText: 'Unsaved changes' }).waitFor();

      // Reloading: the browser's own warning first, then the draft is back.
      const onReload = answerDialogs(page, 'accept');
      await page.reload();
      await html(page).waitFor();
      expect(onReload.map((d) => d.type)).toContain('beforeunload');
      await eventually(() => html(page).textContent()).toBe('<p>Brouillon {{ month }}</p>');
      expect(await page.getByLabel('Version comment').inputValue()).toBe('work in progress');
      await page.getByText(/Your unsaved draft from .* was restored\./).waitFor();
      await eventually(() => page.frameLocator('.preview iframe').locator('body').textContent()).toContain(
        'Brouillon février',
      );
      await shot(page, 'editor-draft-restored');

      // A link inside the UI asks first; staying keeps the page and its draft.
      const stay = answerDialogs(page, 'dismiss');
      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Messages' }).click();
      await eventually(() => stay.length).toBe(1);
      expect(stay[0]!.message).toContain('unsaved changes');
      expect(page.url()).toContain(`/admin/templates/${KEY}`);
      expect(await html(page).textContent()).toBe('<p>Brouillon {{ month }}</p>');

      // Leaving anyway works, and coming back (Back, inside the page) finds the draft.
      answerDialogs(page, 'accept');
      await nav.getByRole('link', { name: 'Messages' }).click();
      await page.getByRole('heading', { name: 'Messages' }).waitFor();
      await page.evaluate('history.back()');
      await eventually(() => html(page).textContent()).toBe('<p>Brouillon {{ month }}</p>');

      // The browser's Forward (or Back) asks too, and staying puts the page's address back.
      const stayAgain = answerDialogs(page, 'dismiss');
      await page.evaluate('history.forward()');
      await eventually(() => stayAgain.length).toBe(1);
      expect(stayAgain[0]!.type).toBe('confirm');
      await eventually(() => page.url()).toContain(`/admin/templates/${KEY}`);
      expect(await html(page).textContent()).toBe('<p>Brouillon {{ month }}</p>');
      answerDialogs(page, 'accept');

      // Discarding brings the saved version back and forgets the draft.
      await page.getByRole('button', { name: 'Discard the draft' }).click();
      await eventually(() => html(page).textContent()).toContain('{{ reseller_name }}');
      expect(await page.getByText(/was restored/).count()).toBe(0);
      expect(await page.evaluate(`localStorage.getItem('postier.draft.${KEY}')`)).toBeNull();
      expect((await active()).html_content).toBe(original);
      // Nothing unsaved: leaving asks nothing.
      const none = answerDialogs(page, 'dismiss');
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Messages' }).click();
      await page.getByRole('heading', { name: 'Messages' }).waitFor();
      expect(none).toEqual([]);
    });
  });

  it('refuses to save a draft started from a version that is no longer active, until kept on top of the new one', async () => {
    // The refused save is a 409 in the console: expected here.
    await withLoggedInPage(
      browser,
      base,
      async (page) => {
        await openEditor(page);
        const started = (await active()).active_version;
        await page.getByLabel('Subject').fill('Brouillon ancien — {{ month }}');
        await page.locator('.unsaved', { hasText: 'Unsaved changes' }).waitFor();
        // Someone else saves in between.
        const payload = { subject: 'Autre — {{ month }} {{ year }}', base_version: started };
        const other = await t.inject({ method: 'PUT', url: `/api/v1/email/templates/${KEY}`, payload });
        expect(other.statusCode).toBe(200);
        await page.reload();
        await page
          .getByText(`It was started from v${started}, but the active version is now v${started + 1}`)
          .waitFor();
        expect(await page.getByLabel('Subject').inputValue()).toBe('Brouillon ancien — {{ month }}');
        await page.getByRole('button', { name: 'Save as new version' }).click();
        await eventually(() => page.locator('.note.error').textContent()).toContain(
          `version ${started + 1} is active now`,
        );
        expect((await active()).subject).toBe('Autre — {{ month }} {{ year }}');
        await page.getByRole('button', { name: `Keep it on top of v${started + 1}` }).click();
        await page.getByRole('button', { name: 'Save as new version' }).click();
        await page.getByText(`Saved as version ${started + 2}.`).waitFor();
        expect((await active()).subject).toBe('Brouillon ancien — {{ month }}');
      },
      { allowedStatuses: [409] },
    );
  });
});
