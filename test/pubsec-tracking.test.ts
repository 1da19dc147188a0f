import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Sqlite from '../src/platform/db/better-sqlite3.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrackingToken, trackingKey, verifyTrackingToken } from '../src/tracking/index.js';
import { MAX_PENDING_PER_MESSAGE } from '../src/tracking/service.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, until } from './helpers/delivery.js';

/**
 * The open pixel and click redirects as outside eyes try them, over real HTTP on both databases:
 * a flood on one token is answered without queueing records without limit, and tokens that do
 * not verify redirect nowhere and record nothing.
 */
const THUNDERBIRD = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0';

describe.each(backends)('tracking links from outside on %s', (backend) => {
  let t: TestContext;
  let base: string;
  let key: Buffer;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      PUBLIC_URL: 'https://mail.example.test',
      TRACK_OPENS: 'true',
      TRACK_CLICKS: 'true',
      DB_LOCK_WAIT_SECONDS: '60',
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    key = trackingKey(t.config);
  });
  afterAll(() => t.close());

  async function sentMessage(to: string): Promise<string> {
    const id = (
      await t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { to, subject: 's', html: '<p>x</p>' } })
    ).json().items[0].id as string;
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'sent', sent_at: Date.now() - 60_000 })
      .where('id', '=', id)
      .execute();
    return id;
  }
  const tracked = async (id: string) => (await eventTypes(t, id)).filter((e) => /^(opened|clicked)/.test(e));
  const openedMetric = async () =>
    Number(
      /^postier_tracking_events_total\{type="opened"\} (\d+)/m.exec(
        (await t.inject({ method: 'GET', url: '/metrics' })).body,
      )?.[1] ?? 0,
    );

  /** Holds the database's write lock from another connection while `during` runs. */
  async function withWriteLockHeld(during: () => Promise<void>): Promise<void> {
    if (backend === 'sqlite') {
      const other = new Sqlite(path.join(t.dir, 'postier.db'));
      other.exec('BEGIN IMMEDIATE');
      try {
        await during();
      } finally {
        other.exec('COMMIT');
        other.close();
      }
      return;
    }
    const other = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await other.connect();
    await other.query('BEGIN');
    await other.query(`LOCK TABLE "${t.schema}".email_events IN EXCLUSIVE MODE`);
    try {
      await during();
    } finally {
      await other.query('COMMIT');
      await other.end();
    }
  }

  it('answers a flood of opens on one token without queueing a record for each', async () => {
    const id = await sentMessage('flood@example.com');
    const url = `${base}/t/o/${createTrackingToken(key, 'o', { messageId: id })}`;
    const before = await openedMetric();
    await withWriteLockHeld(async () => {
      // While the first record waits for the database, 400 more opens arrive: each is answered.
      for (let round = 0; round < 8; round++) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, () => fetch(url, { headers: { 'user-agent': THUNDERBIRD } })),
        );
        expect(answers.every((a) => a.status === 200 && a.headers.get('content-type') === 'image/gif')).toBe(true);
        await Promise.all(answers.map((a) => a.arrayBuffer()));
      }
    });
    await until('the waiting records are written', async () => (await tracked(id)).length > 0);
    // Settle: what was queued is decided one after the other; nothing more comes.
    let seen = -1;
    for (;;) {
      const now = await openedMetric();
      if (now === seen) break;
      seen = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(seen - before).toBeGreaterThanOrEqual(1);
    expect(seen - before).toBeLessThanOrEqual(MAX_PENDING_PER_MESSAGE);
    expect((await tracked(id)).length).toBeLessThanOrEqual(MAX_PENDING_PER_MESSAGE);
    // Once decided, the message's opens are recorded again.
    const res = await fetch(url, { headers: { 'user-agent': THUNDERBIRD } });
    expect(res.status).toBe(200);
    await until('one more open', async () => (await openedMetric()) === seen + 1);
  });

  it('redirects nowhere and records nothing for a token forged, altered, truncated, foreign or odd', async () => {
    const id = await sentMessage('tokens@example.com');
    const click = createTrackingToken(key, 'c', { messageId: id, link: 0, url: 'https://shop.example/a' });
    const open = createTrackingToken(key, 'o', { messageId: id });
    const [payload, mac] = click.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ m: id, l: 0, u: 'https://evil.example/' })).toString('base64url');
    const tries = [
      `/t/c/${forged}.${mac}`,
      `/t/c/${open}`, // an open token is no click token
      `/t/o/${click}`,
      `/t/c/${createTrackingToken(Buffer.alloc(32, 3), 'c', { messageId: id, link: 0, url: 'https://evil.example/' })}`,
      `/t/c/${click.slice(0, -1)}`,
      `/t/c/${payload}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`,
      `/t/c/${payload.slice(1)}.${mac}`,
      `/t/c/${payload}.${mac}.`,
      `/t/c/${payload}%00.${mac}`,
      `/t/c/${payload}%E2%80%AE.${mac}`,
      `/t/c/${payload}%ZZ.${mac}`,
      `/t/c/${'A'.repeat(12_050)}.${mac}`,
      `/t/c/${'A'.repeat(12_200)}.${mac}`,
      `/t/c/${'A'.repeat(70_000)}`,
      `/t/c/${encodeURIComponent('ｅｙＪ.ａｂｃ')}`,
    ];
    for (const url of tries) {
      const res = await fetch(`${base}${url}`, { redirect: 'manual', headers: { 'user-agent': THUNDERBIRD } });
      expect(res.status, url.slice(0, 60)).toBeGreaterThanOrEqual(400);
      expect(res.status, url.slice(0, 60)).toBeLessThan(500);
      expect(res.headers.get('location')).toBeNull();
    }
    // The real one still works, once the rest have had their chance to be (not) recorded.
    const go = await fetch(`${base}/t/c/${click}`, { redirect: 'manual', headers: { 'user-agent': THUNDERBIRD } });
    expect(go.status).toBe(302);
    expect(go.headers.get('location')).toBe('https://shop.example/a');
    await until('the click', async () => (await tracked(id)).includes('clicked'));
    expect(await tracked(id)).toEqual(['clicked']);
  });

  it('sends a link signed before normalisation (a line break, non-ASCII) as a browser would, not a 500', async () => {
    const legacy = createTrackingToken(key, 'c', {
      messageId: 'old',
      link: 0,
      url: 'https://shöp.example/a\r\nSet-Cookie: x=y',
    });
    const res = await fetch(`${base}/t/c/${legacy}`, { redirect: 'manual', headers: { 'user-agent': THUNDERBIRD } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://xn--shp-tna.example/aSet-Cookie:%20x=y');
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});

describe('a click token signed before links were normalised', () => {
  const key = Buffer.alloc(32, 5);
  const verify = (url: string) =>
    verifyTrackingToken(key, 'c', createTrackingToken(key, 'c', { messageId: 'm', link: 0, url }))?.url ?? null;
  it('redirects to the link as a browser would send it, never with a raw line break or non-ASCII', () => {
    expect(verify('https://shop.example/\r\nSet-Cookie: a=b')).toBe('https://shop.example/Set-Cookie:%20a=b');
    expect(verify('https://shöp.example/é b?x=<y>')).toBe('https://xn--shp-tna.example/%C3%A9%20b?x=%3Cy%3E');
    expect(verify('https://')).toBeNull();
    expect(verify('https://a.example/ok')).toBe('https://a.example/ok');
  });
});
