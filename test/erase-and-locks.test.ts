import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymizeAddress } from '../src/platform/crypto/anon-key.js';
import { releaseLock, renewLock, tryLock } from '../src/platform/db/locks.js';
import { startRetentionScheduler } from '../src/retention/scheduler.js';
import { age, detail, sendOk } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample, invoiceExample } from './helpers/fixtures.js';

describe.each(backends)('erasure and job locks on %s', (backend) => {
  let t: TestContext;
  let sendToken: string;
  beforeAll(async () => {
    t = await createTestContext(backend);
    sendToken = (await t.services.apiKeys.create('billing', 'send', 'test')).token;
  });
  afterAll(() => t.close());

  const erase = (email: string, token?: string | null) =>
    t.inject({ method: 'POST', url: `/api/v1/email/recipients/${encodeURIComponent(email)}/erase`, token });

  it('erases one address at once: its messages hashed and emptied, its cc/bcc copies rewritten, its unsent mail cancelled', async () => {
    const person = 'jane.doe@client.bj';
    const [sent, queued] = await sendOk(t, { ...invoiceExample(), to: [person, 'Jane.Doe@Client.BJ'] }).then(
      async (ids) => [ids[0]!, (await sendOk(t, { ...invoiceExample(), to: 'JANE.DOE@client.bj' }))[0]!],
    );
    await age(t, [sent!], 1, 'sent');
    const [copy] = await sendOk(t, {
      ...incidentExample(),
      to: 'noc@rgz.bj',
      cc: ['other@rgz.bj', person],
      bcc: 'audit@rgz.bj',
    });
    const [unrelated] = await sendOk(t, { ...invoiceExample(), to: 'someone@else.bj' });

    const res = await erase('Jane.Doe@client.bj');
    expect(res.statusCode).toBe(200);
    // Both messages are the same mailbox (the local part's case differs): both erased.
    expect(res.json()).toEqual({
      address_hash: anonymizeAddress(t.config, person),
      messages: 2,
      attachments: 2,
      copies: 1,
      cancelled: 1,
      feedback_reports: 0,
    });

    for (const id of [sent!, queued!]) {
      const m = await detail(t, id);
      expect(m.to).toBe(anonymizeAddress(t.config, person));
      expect(m.html_content).toBeNull();
      expect(m.text_content).toBeNull();
      expect(m.subject).toBe('[erased]');
      expect(JSON.stringify(m).toLowerCase()).not.toContain('jane.doe');
    }
    expect((await detail(t, queued!)).status).toBe('cancelled');
    expect((await detail(t, sent!)).status).toBe('sent');

    const c = await detail(t, copy!);
    expect(c.cc).toEqual(['other@rgz.bj', anonymizeAddress(t.config, person)]);
    expect(c.bcc).toEqual(['audit@rgz.bj']);
    expect(c.html_content).not.toBeNull();
    expect((await detail(t, unrelated!)).html_content).not.toBeNull();

    const list = (await t.inject({ method: 'GET', url: `/api/v1/email/messages?to=${person}` })).json();
    expect(list.items.map((i: { id: string }) => i.id).sort()).toEqual([sent, queued].sort());

    // Erasing again finds the hashed messages and removes nothing more.
    expect((await erase(person)).json()).toMatchObject({ messages: 2, attachments: 0, copies: 0, cancelled: 0 });
  });

  it('refuses erasure to a send key and for something that is not an address', async () => {
    expect((await erase('a@b.bj', sendToken)).statusCode).toBe(403);
    expect((await erase('a@b.bj', null)).statusCode).toBe(401);
    const bad = await erase('not-an-address');
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.code).toBe('invalid_address');
  });

  it('lets one owner hold a job lock at a time, and another take it over once it expires', async () => {
    const now = Date.now();
    expect(await tryLock(t.services.db, 'test.job', 'host-a', 60_000, now)).toBe(true);
    expect(await tryLock(t.services.db, 'test.job', 'host-b', 60_000, now + 1000)).toBe(false);
    expect(await renewLock(t.services.db, 'test.job', 'host-b', 60_000, now)).toBe(false);
    expect(await renewLock(t.services.db, 'test.job', 'host-a', 60_000, now + 1000)).toBe(true);
    // host-a crashed: once its lease is over, host-b gets the job.
    expect(await tryLock(t.services.db, 'test.job', 'host-b', 60_000, now + 61_001)).toBe(true);
    expect(await renewLock(t.services.db, 'test.job', 'host-a', 60_000, now + 61_002)).toBe(false);
    await releaseLock(t.services.db, 'test.job', 'host-b', now + 62_000, { ok: true });
    expect(await tryLock(t.services.db, 'test.job', 'host-a', 60_000, now + 62_001)).toBe(true);
    await releaseLock(t.services.db, 'test.job', 'host-a', now + 62_002, { ok: true });
  });

  it('runs each retention job only where its lock is free, and records the run', async () => {
    const [expired] = await sendOk(t, invoiceExample());
    const [old] = await sendOk(t, invoiceExample());
    await age(t, [expired!], 400);
    await age(t, [old!], 100);
    // Another process holds the purge job.
    expect(await tryLock(t.services.db, 'retention.purge', 'other-host', 60_000, Date.now())).toBe(true);

    const scheduler = startRetentionScheduler(t.services, { owner: 'this-host' });
    try {
      const ran = await scheduler.runOnce();
      expect(Object.keys(ran)).toEqual(['retention.anonymize', 'retention.housekeeping', 'content.move-bodies']);
      expect((await detail(t, old!)).to).toMatch(/^anon:/);
      expect((await t.inject({ method: 'GET', url: `/api/v1/email/messages/${expired}` })).statusCode).toBe(200);

      await releaseLock(t.services.db, 'retention.purge', 'other-host', Date.now(), {});
      const again = await scheduler.runOnce();
      expect(again['retention.purge']).toMatchObject({ messages: 1 });
      expect((await t.inject({ method: 'GET', url: `/api/v1/email/messages/${expired}` })).statusCode).toBe(404);
      const lock = await t.services.db
        .selectFrom('job_locks')
        .selectAll()
        .where('name', '=', 'retention.purge')
        .executeTakeFirstOrThrow();
      expect(lock.owner).toBeNull();
      expect(JSON.parse(lock.last_result!)).toMatchObject({ messages: 1 });
    } finally {
      await scheduler.stop();
    }
  });
});
