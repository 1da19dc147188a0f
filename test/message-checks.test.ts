import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeCapturedMail } from '../src/capture/store.js';
import { checkHtml } from '../src/checks/html-check.js';
import { MASK } from '../src/templates/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk } from './helpers/delivery.js';
import { newTemplate, sendKey } from './helpers/templates.js';

const TOKEN = 'rst-9f8e7d6c5b4a-TOKEN';
const HTML = `<!DOCTYPE html><html><body>
  <div style="display:flex"><svg width="10" height="10"><rect width="10" height="10"/></svg>
  <a href="https://billing.example.com/i/1">https</a> <a href="http://localhost:8000/x">local</a></div>
</body></html>`;
const UNKNOWN = '01900000-0000-7000-8000-000000000000';

/**
 * The checks of an archived message over HTTP: its HTML against caniemail data, its links (a
 * masked value stays masked), its spam score (409 without spamd; test/inbox-spam.test.ts runs a
 * real one), the errors of every route, the counts in /metrics, and the capture inbox's HTML check.
 */
describe.each(backends)('checks of archived and captured mail on %s', (backend) => {
  let t: TestContext;
  let plain: string;
  let masked: string;

  beforeAll(async () => {
    t = await createTestContext(backend);
    plain = (await sendOk(t, { to: 'checks@example.com', subject: 'Checks', html: HTML, text: 'Checks' }))[0]!;
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('reset_link', {
        html_content: '<p>Hello {{ name }}</p><a href="https://app.example.com/reset?token={{ token }}">Reset</a>',
        text_content: 'Reset: https://app.example.com/reset?token={{ token }}',
        required_variables: ['name', 'token'],
        sensitive_variables: ['token'],
      }),
    });
    expect(created.statusCode).toBe(201);
    masked = (
      await sendOk(t, { to: 'reset@example.com', template_key: 'reset_link', variables: { name: 'A', token: TOKEN } })
    )[0]!;
  });
  afterAll(() => t.close());

  const get = (url: string, token?: string | null) => t.inject({ method: 'GET', url, token });
  const metrics = async () => (await t.inject({ method: 'GET', url: '/metrics', token: null })).body;
  const counted = (text: string, labels: string) =>
    Number(new RegExp(`^postier_content_checks_total\\{${labels}\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);

  it("checks an archived message's HTML against caniemail data, as the check reads the archived HTML", async () => {
    const before = await metrics();
    const res = await get(`/api/v1/email/messages/${plain}/html-check`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const slugs = body.features.map((f: { slug: string }) => f.slug);
    expect(slugs).toEqual(expect.arrayContaining(['html-svg', 'css-display-flex', 'html-div', 'html-doctype']));
    const archived = (await get(`/api/v1/email/messages/${plain}`)).json();
    expect(body).toEqual(JSON.parse(JSON.stringify(await checkHtml(archived.html_content))));
    expect(body.score.supported).toBeGreaterThan(0);
    expect(body.score.supported).toBeLessThan(100);
    expect(counted(await metrics(), 'kind="html",source="archive",result="warned"')).toBe(
      counted(before, 'kind="html",source="archive",result="warned"') + 1,
    );
  });

  it('lists the links of an archived message with their problems, and a link holding a masked value as masked', async () => {
    const links = (await get(`/api/v1/email/messages/${plain}/link-check`)).json().links;
    expect(
      links.map((l: { url: string; problems: string[]; masked: boolean }) => [l.url, l.problems, l.masked]),
    ).toEqual([
      ['https://billing.example.com/i/1', [], false],
      ['http://localhost:8000/x', ['not_https', 'local_host'], false],
    ]);

    const res = await get(`/api/v1/email/messages/${masked}/link-check`);
    expect(res.statusCode).toBe(200);
    expect(res.json().links).toEqual([
      { url: `https://app.example.com/reset?token=${MASK}`, tag: 'a', attribute: 'href', masked: true, problems: [] },
    ]);
    // No check answer ever carries the value the archive masks.
    for (const kind of ['html-check', 'link-check', 'spam-check']) {
      const answer = await get(`/api/v1/email/messages/${masked}/${kind}`);
      expect(answer.body, kind).not.toContain(TOKEN);
    }
  });

  it('answers 409 spam_check_unavailable without SPAMD_ADDRESS, and 409 invalid_state once the content was erased', async () => {
    const res = await get(`/api/v1/email/messages/${plain}/spam-check`);
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('spam_check_unavailable');
    expect(res.json().error.message).toMatch(/SPAMD_ADDRESS/);

    const [gone] = await sendOk(t, { to: 'erase-me@example.com', subject: 'Gone', html: '<p>Gone</p>' });
    const erased = await t.inject({ method: 'POST', url: '/api/v1/email/recipients/erase-me%40example.com/erase' });
    expect(erased.statusCode).toBe(200);
    const after = await get(`/api/v1/email/messages/${gone}/spam-check`);
    expect(after.statusCode).toBe(409);
    expect(after.json().error.code).toBe('invalid_state');
    // The HTML is gone too: nothing to check, no score.
    expect((await get(`/api/v1/email/messages/${gone}/html-check`)).json()).toMatchObject({
      score: null,
      features: [],
    });
    expect((await get(`/api/v1/email/messages/${gone}/link-check`)).json()).toEqual({ links: [] });
  });

  it('answers 404 for an unknown message, 400 for an id that is not one, and refuses a send key or no token', async () => {
    const send = await sendKey(t, 'checks');
    for (const kind of ['html-check', 'link-check', 'spam-check']) {
      const unknown = await get(`/api/v1/email/messages/${UNKNOWN}/${kind}`);
      expect(unknown.statusCode, kind).toBe(404);
      expect(unknown.json().error.code).toBe('message_not_found');
      const bad = await get(`/api/v1/email/messages/not-an-id/${kind}`);
      expect(bad.statusCode, kind).toBe(400);
      expect(bad.json().error.code).toBe('invalid_request');
      expect((await get(`/api/v1/email/messages/${plain}/${kind}`, send)).statusCode).toBe(403);
      expect((await get(`/api/v1/email/messages/${plain}/${kind}`, null)).statusCode).toBe(401);
    }
  });

  it("checks a captured mail's HTML, and answers 404 for an unknown one", async () => {
    const raw = Buffer.from(
      'From: a@example.com\r\nTo: b@example.com\r\nSubject: Flex\r\nMIME-Version: 1.0\r\n' +
        `Content-Type: text/html; charset=utf-8\r\n\r\n${HTML}\r\n`,
    );
    const id = await storeCapturedMail(t.services.db, raw, { from: 'a@example.com', to: ['b@example.com'] });
    const before = await metrics();
    const res = await get(`/api/v1/dev/inbox/${id}/html-check`);
    expect(res.statusCode).toBe(200);
    const svg = res.json().features.find((f: { slug: string }) => f.slug === 'html-svg');
    expect(svg.clients.find((c: { family: string }) => c.family === 'gmail').platforms.length).toBeGreaterThan(0);
    expect(counted(await metrics(), 'kind="html",source="capture",result="warned"')).toBe(
      counted(before, 'kind="html",source="capture",result="warned"') + 1,
    );
    expect((await get(`/api/v1/dev/inbox/${UNKNOWN}/html-check`)).statusCode).toBe(404);
    expect((await get('/api/v1/dev/inbox/nope/html-check')).statusCode).toBe(400);
  });
});
