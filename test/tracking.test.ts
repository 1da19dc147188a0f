import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MimeCache } from '../src/delivery/mime.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { loadConfig } from '../src/platform/config.js';
import {
  classifyClick,
  classifyOpen,
  createTrackingToken,
  instrumentHtml,
  verifyTrackingToken,
} from '../src/tracking/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventData, eventTypes, messageRow, sendOk, waitForStatus, until } from './helpers/delivery.js';
import { SmtpSink } from './support/smtp-sink.js';

/**
 * Opens and clicks counted honestly: tracking rewrites only what goes out, every token is signed,
 * machines are recorded but not counted. The real worker, a real SMTP server, real HTTP through
 * the app, both databases.
 */

const BASE = 'https://mail.example.test';
const KEY = Buffer.alloc(32, 7);
const THUNDERBIRD = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0';
const HTML =
  '<html><body><p><a href="https://shop.example/invoice?id=42&amp;t=secret">Invoice</a> ' +
  '<a href=\'mailto:billing@shop.example\'>Mail us</a> <a href="#top">Top</a> ' +
  '<a data-postier-notrack href="https://shop.example/reset?token=abc">Reset</a> ' +
  '<a class="btn" href=https://shop.example/help>Help</a></p></body></html>';

describe('tracking: what goes out', () => {
  const out = instrumentHtml(HTML, { base: BASE, key: KEY, messageId: 'm-1', opens: true, clicks: true });
  const tracked = [...out.matchAll(/href="https:\/\/mail\.example\.test\/t\/c\/([^"]+)"/g)].map((m) => m[1]!);

  it('sends http(s) links through signed click links, in order, and nothing else', () => {
    expect(tracked.map((tok) => verifyTrackingToken(KEY, 'c', tok))).toEqual([
      { messageId: 'm-1', link: 0, url: 'https://shop.example/invoice?id=42&t=secret' },
      { messageId: 'm-1', link: 1, url: 'https://shop.example/help' },
    ]);
    expect(out).toContain("href='mailto:billing@shop.example'");
    expect(out).toContain('href="#top"');
    expect(out).toContain('<a data-postier-notrack href="https://shop.example/reset?token=abc">');
    expect(out).toContain('<a class="btn" href="https://mail.example.test/t/c/');
  });

  it('puts the open pixel before </body>, and leaves Postier’s own unsubscribe links alone', () => {
    expect(out).toMatch(
      /<img src="https:\/\/mail\.example\.test\/t\/o\/[^"]+" width="1" height="1" alt=""[^>]*><\/body><\/html>$/,
    );
    const unsub = instrumentHtml(`<a href="${BASE}/u/abc.def">Unsubscribe</a>`, {
      base: BASE,
      key: KEY,
      messageId: 'm',
      opens: false,
      clicks: true,
    });
    expect(unsub).toBe(`<a href="${BASE}/u/abc.def">Unsubscribe</a>`);
  });

  it('reads attributes as a browser does: an href written inside another attribute is text, not a link', () => {
    const html = '<a aria-label="Open  href=https://evil.example/phish" href="https://app.example/p">Open</a>';
    const out = instrumentHtml(html, { base: BASE, key: KEY, messageId: 'm', opens: false, clicks: true });
    const tokens = [...out.matchAll(/\/t\/c\/([^"]+)"/g)];
    expect(tokens).toHaveLength(1);
    expect(verifyTrackingToken(KEY, 'c', tokens[0]![1]!)).toMatchObject({ url: 'https://app.example/p' });
    expect(out).toContain('aria-label="Open  href=https://evil.example/phish"');
  });

  it('signs links as a browser would send them, and leaves untracked what it cannot carry', () => {
    const one = (href: string) => {
      const out = instrumentHtml(`<a href="${href}">x</a>`, {
        base: BASE,
        key: KEY,
        messageId: 'm',
        opens: false,
        clicks: true,
      });
      const tok = /\/t\/c\/([^"]+)"/.exec(out)?.[1];
      return tok ? verifyTrackingToken(KEY, 'c', tok)!.url : out;
    };
    expect(one('https://exämple.test/日本?q=é')).toBe('https://xn--exmple-cua.test/%E6%97%A5%E6%9C%AC?q=%C3%A9');
    expect(one('https://a.example/&#10;b')).toBe('https://a.example/b');
    const long = `https://a.example/${'x'.repeat(5000)}`;
    expect(one(long)).toBe(`<a href="${long}">x</a>`);
    expect(one('https://')).toBe('<a href="https://">x</a>');
    // Spaces and controls around the link go, as the URL parser drops them; a no-break space
    // does not: a browser reads "&#160;https://…" as a relative link, so it is left as written.
    expect(one(' \u0001https://a.example/x ')).toBe('https://a.example/x');
    expect(one('&#160;https://a.example/x')).toBe('<a href="&#160;https://a.example/x">x</a>');
    expect(one('https://a.example/x\u00a0')).toBe('https://a.example/x%C2%A0');
  });

  it('stays linear on hostile markup', () => {
    const started = performance.now();
    instrumentHtml('<a '.repeat(100_000) + '</body'.repeat(50_000), {
      base: BASE,
      key: KEY,
      messageId: 'm',
      opens: true,
      clicks: true,
    });
    // A quadratic scan of this takes tens of seconds; a linear one milliseconds.
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('refuses a token changed, signed with another key, or of the other kind', () => {
    const tok = createTrackingToken(KEY, 'c', { messageId: 'm', link: 0, url: 'https://a.example/' });
    expect(verifyTrackingToken(KEY, 'c', tok)).not.toBeNull();
    expect(verifyTrackingToken(Buffer.alloc(32, 8), 'c', tok)).toBeNull();
    expect(verifyTrackingToken(KEY, 'o', tok)).toBeNull();
    const forged = Buffer.from(JSON.stringify({ m: 'm', l: 0, u: 'https://evil.example/' })).toString('base64url');
    expect(verifyTrackingToken(KEY, 'c', `${forged}.${tok.split('.')[1]}`)).toBeNull();
    // A signed token whose URL is not http(s) is refused too (no javascript: redirect).
    const js = createTrackingToken(KEY, 'c', { messageId: 'm', link: 0, url: 'javascript:alert(1)' });
    expect(verifyTrackingToken(KEY, 'c', js)).toBeNull();
  });

  it('tracks only the categories TRACKING_CATEGORIES names, and nothing when both are off', () => {
    const secret = { POSTIER_SECRET_KEY: 'ab'.repeat(32), SMTP_HOST: 'relay.example' };
    const track = MimeCache.senderOf(loadConfig({ ...secret, TRACK_OPENS: 'true', TRACKING_CATEGORIES: 'onboarding' }))
      .track!;
    expect(track({ id: 'm', category: 'billing' }, HTML)).toBe(HTML);
    expect(track({ id: 'm', category: 'onboarding' }, HTML)).toContain('/t/o/');
    expect(MimeCache.senderOf(loadConfig(secret)).track).toBeUndefined();
    // Capture mode: the inbox shows the mail in the admin UI, where its pixel would be an open.
    const { SMTP_HOST: _, ...capture } = secret;
    expect(
      MimeCache.senderOf(loadConfig({ ...capture, TRACK_OPENS: 'true', TRACK_CLICKS: 'true' })).track,
    ).toBeUndefined();
  });
});

describe('tracking: who counts', () => {
  const sent = 1_000_000;
  it('counts a person, and names a machine’s reason', () => {
    expect(classifyOpen(THUNDERBIRD, sent, sent + 60_000)).toEqual({ counted: true, agent: 'client' });
    expect(
      classifyOpen(
        'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
        sent,
        sent + 500,
      ),
    ).toEqual({
      counted: true,
      agent: 'gmail_proxy',
    });
    expect(classifyOpen('Mozilla/5.0', sent, sent + 60_000)).toEqual({ counted: false, reason: 'apple_mail_privacy' });
    expect(classifyOpen(THUNDERBIRD, sent, sent + 500)).toEqual({ counted: false, reason: 'too_soon' });
    expect(classifyOpen('', sent, sent + 60_000)).toEqual({ counted: false, reason: 'no_user_agent' });
    expect(classifyClick('Mozilla/4.0 (compatible; ms-office; MSOffice 16)', sent, sent + 60_000, 0)).toEqual({
      counted: false,
      reason: 'scanner',
    });
    expect(classifyClick('python-requests/2.31', sent, sent + 60_000, 0)).toEqual({
      counted: false,
      reason: 'scanner',
    });
    expect(classifyClick(THUNDERBIRD, sent, sent + 60_000, 1)).toEqual({ counted: false, reason: 'burst' });
    expect(classifyClick(THUNDERBIRD, sent, sent + 60_000, 0)).toEqual({ counted: true, agent: 'client' });
  });
});

describe.each(backends)('tracking end to end on %s', (backend) => {
  let t: TestContext;
  let relay: SmtpSink;
  let worker: Worker | null = null;

  beforeAll(async () => {
    relay = await SmtpSink.start();
    t = await createTestContext(
      backend,
      relay.env({ TRACK_OPENS: 'true', TRACK_CLICKS: 'true', PUBLIC_URL: BASE, WORKER_POLL_MS: '20' }),
    );
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    relay.reset();
  });
  afterAll(async () => {
    await t.close();
    await relay.close();
  });

  const path = (url: string) => url.slice(BASE.length);

  it('delivers tracked HTML, keeps the archive clean, counts a person, records machines apart', async () => {
    worker = startWorker(t.services, smtpTarget(t.services, null));
    const [id] = await sendOk(t, { to: 'reader@example.com', subject: 'Your invoice', html: HTML, text: 'Invoice' });
    await waitForStatus(t, [id!], ['sent']);
    const mail = await relay.parse(relay.accepted[0]!);
    const html = String(mail.html);
    const pixel = /src="(https:\/\/mail\.example\.test\/t\/o\/[^"]+)"/.exec(html)![1]!;
    const click = /href="(https:\/\/mail\.example\.test\/t\/c\/[^"]+)"/.exec(html)![1]!;
    const archived = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json() as {
      html_content: string;
    };
    expect(archived.html_content).toBe(HTML);
    // As if the relay had taken it a minute ago: the first seconds belong to scanners.
    await t.services.db
      .updateTable('email_messages')
      .set({ sent_at: Date.now() - 60_000 })
      .where('id', '=', id!)
      .execute();

    const image = await t.inject({
      method: 'GET',
      url: path(pixel),
      token: null,
      headers: { 'user-agent': THUNDERBIRD },
    });
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/gif');
    expect(image.headers['cache-control']).toContain('no-store');
    expect(image.rawPayload.subarray(0, 6).toString()).toBe('GIF89a');
    await until('the open', async () => (await eventTypes(t, id!)).includes('opened'));
    expect(await eventData(t, id!, 'opened')).toEqual([{ agent: 'client', status_unchanged: 'sent' }]);

    // A HEAD on the pixel loads no image: not an open.
    const headPixel = await t.inject({
      method: 'HEAD',
      url: path(pixel),
      token: null,
      headers: { 'user-agent': THUNDERBIRD },
    });
    expect(headPixel.statusCode).toBe(200);
    const prefetch = await t.inject({
      method: 'GET',
      url: path(pixel),
      token: null,
      headers: { 'user-agent': 'Mozilla/5.0' },
    });
    expect(prefetch.statusCode).toBe(200);
    await until('the machine open', async () => (await eventTypes(t, id!)).includes('opened_by_machine'));
    expect(await eventData(t, id!, 'opened_by_machine')).toEqual([
      { reason: 'apple_mail_privacy', status_unchanged: 'sent' },
    ]);

    // A checker's HEAD learns where the link goes; nothing is recorded.
    const head = await t.inject({
      method: 'HEAD',
      url: path(click),
      token: null,
      headers: { 'user-agent': THUNDERBIRD },
    });
    expect(head.statusCode).toBe(302);
    const go = await t.inject({ method: 'GET', url: path(click), token: null, headers: { 'user-agent': THUNDERBIRD } });
    expect(go.statusCode).toBe(302);
    expect(go.headers.location).toBe('https://shop.example/invoice?id=42&t=secret');
    expect(go.headers['referrer-policy']).toBe('no-referrer');
    await until('the click', async () => (await eventTypes(t, id!)).includes('clicked'));
    // Which link, and its origin: never the path or query, which may carry a sensitive variable.
    expect(await eventData(t, id!, 'clicked')).toEqual([
      { link: 0, url: 'https://shop.example', agent: 'client', status_unchanged: 'sent' },
    ]);
    expect((await eventTypes(t, id!)).filter((e) => e.startsWith('clicked'))).toEqual(['clicked']);
    expect((await messageRow(t, id!)).status).toBe('sent');
    const stats = (await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=7' })).json() as {
      engagement: Record<string, unknown>;
    };
    expect(stats.engagement).toEqual({
      tracking: { opens: true, clicks: true },
      opened: 1,
      clicked: 1,
      machine_opens: 1,
      machine_clicks: 0,
    });
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^postier_tracking_events_total\{type="opened"\} [1-9]/m);
    expect(metrics).toMatch(/^postier_tracking_events_total\{type="opened_by_machine"\} [1-9]/m);
  });

  it('sees a scanner following every link at once as a burst: one click counted at most', async () => {
    const [id] = await sendOk(t, { to: 'scanned@example.com', subject: 'Links', html: HTML });
    const key = (await import('../src/tracking/index.js')).trackingKey(t.config);
    const links = [0, 1, 2, 3].map(
      (l) => `/t/c/${createTrackingToken(key, 'c', { messageId: id!, link: l, url: `https://shop.example/${l}` })}`,
    );
    const answers = await Promise.all(
      links.map((url) => t.inject({ method: 'GET', url, token: null, headers: { 'user-agent': THUNDERBIRD } })),
    );
    expect(answers.map((a) => a.statusCode)).toEqual([302, 302, 302, 302]);
    await until(
      'four clicks recorded',
      async () => (await eventTypes(t, id!)).filter((e) => e.startsWith('clicked')).length === 4,
    );
    const types = (await eventTypes(t, id!)).filter((e) => e.startsWith('clicked'));
    expect(types.filter((e) => e === 'clicked').length).toBeLessThanOrEqual(1);
    expect((await eventData<{ reason: string }>(t, id!, 'clicked_by_machine')).every((d) => d.reason === 'burst')).toBe(
      true,
    );
  });

  it('answers 404 to a token that does not verify, and never redirects for it', async () => {
    const token = createTrackingToken(Buffer.alloc(32, 1), 'c', {
      messageId: 'x',
      link: 0,
      url: 'https://evil.example/',
    });
    for (const url of [`/t/c/${token}`, `/t/o/${token}`, '/t/c/not-a-token', `/t/c/${'a'.repeat(13_000)}.b`]) {
      const res = await t.inject({ method: 'GET', url, token: null });
      expect(res.statusCode, url.slice(0, 40)).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expect(res.headers.location).toBeUndefined();
    }
  });

  it('still sends a person to the link of a message the archive no longer has, recording nothing', async () => {
    const key = (await import('../src/tracking/index.js')).trackingKey(t.config);
    const token = createTrackingToken(key, 'c', { messageId: 'gone', link: 0, url: 'https://shop.example/old' });
    const res = await t.inject({
      method: 'GET',
      url: `/t/c/${token}`,
      token: null,
      headers: { 'user-agent': THUNDERBIRD },
    });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('https://shop.example/old');
  });
});
