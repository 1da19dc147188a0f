import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpoolFlow, SpoolIngester, SubmissionSpool } from '../src/accept/submission/index.js';
import { registry } from '../src/platform/metrics.js';
import { eraseRecipient } from '../src/retention/erase.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { mime, sendKey, startSubmissionFor } from './helpers/submission.js';

/** What the 250 promises and what the spool does after it: accept/submission/spool.ts. */
describe.each(backends)('the submission spool on %s', (backend) => {
  let t: TestContext;
  let server: Awaited<ReturnType<typeof startSubmissionFor>>;
  let token: string;

  beforeAll(async () => {
    t = await createTestContext(backend, { SUBMISSION_PORT: '0' });
    server = await startSubmissionFor(t);
    ({ token } = await sendKey(t));
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  const submit = async (message: string, to: string[] = ['client@example.org']) => {
    const talk = await SmtpTalk.connect(server.port);
    await talk.command('EHLO erp.rgz.bj');
    expect(await talk.login(token)).toMatch(/^235/);
    const reply = await talk.send('billing@rgz.bj', to, message);
    talk.close();
    return reply;
  };
  const idsIn = (reply: string) => /\(\d+ messages?: ([^)]*)\)/.exec(reply)![1]!.split(' ');
  const messagesWith = (messageId: string) =>
    t.services.db
      .selectFrom('email_messages')
      .select(['id', 'recipient_email', 'status', 'subject', 'from_email', 'from_name', 'category', 'created_at'])
      .where('smtp_message_id', '=', messageId)
      .orderBy('recipient_email')
      .execute();
  const spooled = () => t.services.db.selectFrom('submission_spool').selectAll().orderBy('id').execute();
  const newIngester = (owner: string) =>
    new SpoolIngester(
      {
        db: t.services.db,
        dialect: t.services.dialect,
        send: t.services.send,
        config: t.services.config,
        log: t.services.log,
      },
      { owner, pollMs: 60_000 },
    );
  const archived = async (result: string) =>
    (await registry.getSingleMetric('postier_submission_archived_total')!.get()).values.find(
      (v) => v.labels.result === result,
    )?.value ?? 0;

  it('has the message on disk, raw, when it answers 250; the messages come after, with the ids the 250 named', async () => {
    await server.ingester.stop();
    const before = Date.now();
    const reply = await submit(
      mime({
        'Message-ID': '<spool-1@erp.rgz.bj>',
        From: '"Facturation RGZ" <billing@rgz.bj>',
        'X-Postier-Category': 'billing',
      }),
      ['b@example.org', 'a@example.org'],
    );
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as <spool-1@erp\.rgz\.bj> \(2 messages: /);
    // Nothing ingests: the reply came from the spool's commit alone.
    const rows = await spooled();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      envelope_from: 'billing@rgz.bj',
      recipients: JSON.stringify(['b@example.org', 'a@example.org']),
      message_ids: JSON.stringify(idsIn(reply)),
      smtp_message_id: '<spool-1@erp.rgz.bj>',
      from_email: 'billing@rgz.bj',
      options: JSON.stringify({ category: 'billing' }),
      lease_owner: null,
    });
    expect(Buffer.from(rows[0]!.raw).toString()).toContain('Message-ID: <spool-1@erp.rgz.bj>');
    expect(await messagesWith('<spool-1@erp.rgz.bj>')).toEqual([]);

    const stored = await newIngester('host:0:spool').drain();
    expect(stored).toBe(1);
    const messages = await messagesWith('<spool-1@erp.rgz.bj>');
    expect(messages.map((m) => m.id).sort()).toEqual(idsIn(reply).sort());
    expect(messages).toEqual([
      expect.objectContaining({ recipient_email: 'a@example.org', status: 'queued', subject: 'Invoice INV-2026-0001' }),
      expect.objectContaining({ recipient_email: 'b@example.org', status: 'queued', category: 'billing' }),
    ]);
    expect(messages[0]).toMatchObject({ from_email: 'billing@rgz.bj', from_name: 'Facturation RGZ' });
    // The time of acceptance, not of storing.
    expect(Number(messages[0]!.created_at)).toBe(Number(rows[0]!.received_at));
    expect(Number(messages[0]!.created_at)).toBeGreaterThanOrEqual(before);
    expect(await spooled()).toEqual([]);
    server.ingester.start();
  });

  it('takes back the rows of an ingester that died once their lease ends, and never stores a row twice', async () => {
    await server.ingester.stop();
    const reply = await submit(mime({ 'Message-ID': '<spool-2@erp.rgz.bj>' }));
    // An ingester leases the row, then dies before it stores anything.
    await t.services.db
      .updateTable('submission_spool')
      .set({ lease_owner: 'dead-host:1:spool', lease_expires_at: Date.now() + 60_000 })
      .execute();
    const other = newIngester('other-host:2:spool');
    expect(await other.drain()).toBe(0);
    expect(await messagesWith('<spool-2@erp.rgz.bj>')).toEqual([]);
    // Its lease ends: the next ingester stores the row, once.
    await t.services.db
      .updateTable('submission_spool')
      .set({ lease_expires_at: Date.now() - 1 })
      .execute();
    expect(await other.drain()).toBe(1);
    expect(await newIngester('third-host:3:spool').drain()).toBe(0);
    expect((await messagesWith('<spool-2@erp.rgz.bj>')).map((m) => m.id)).toEqual(idsIn(reply));
    expect(await spooled()).toEqual([]);
    server.ingester.start();
  });

  it('stores one batch while it takes the next: two batches in hand, each row stored once', async () => {
    await server.ingester.stop();
    const replies: string[] = [];
    for (let i = 0; i < 4; i++) replies.push(await submit(mime({ 'Message-ID': `<lanes-${i}@erp.rgz.bj>` })));
    // The real send service, watched: the first batch's store waits (at most 2 s) until another's has begun.
    const storing = async (lanes: number) => {
      let inFlight = 0;
      let most = 0;
      let calls = 0;
      let arrived = () => {};
      const send: typeof t.services.send = Object.create(t.services.send);
      send.acceptSubmitted = async (inputs) => {
        inFlight++;
        calls++;
        most = Math.max(most, inFlight);
        arrived();
        if (calls === 1) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 2000);
            arrived = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        try {
          return await t.services.send.acceptSubmitted(inputs);
        } finally {
          inFlight--;
        }
      };
      const ingester = new SpoolIngester(
        { db: t.services.db, dialect: t.services.dialect, send, config: t.services.config, log: t.services.log },
        { owner: `lanes-${lanes}:1:spool`, pollMs: 60_000, batchSize: 1, lanes },
      );
      return { stored: await ingester.drain(), most };
    };
    expect(await storing(2)).toEqual({ stored: 4, most: 2 });
    for (const [i, reply] of replies.entries()) {
      expect((await messagesWith(`<lanes-${i}@erp.rgz.bj>`)).map((m) => m.id)).toEqual(idsIn(reply));
    }
    expect(await spooled()).toEqual([]);
    server.ingester.start();
  });

  it('keeps a row it cannot store, with the error, tries it again later, and stores the rows beside it', async () => {
    await server.ingester.stop();
    const first = await submit(mime({ 'Message-ID': '<spool-ok@erp.rgz.bj>' }));
    const second = await submit(mime({ 'Message-ID': '<spool-bad@erp.rgz.bj>' }));
    // The second row's message id is taken meanwhile: its insert fails, the first's does not.
    const [taken] = idsIn(second);
    const [row] = await t.services.db.selectFrom('email_messages').selectAll().limit(1).execute();
    await t.services.db
      .insertInto('email_messages')
      .values({ ...row!, id: taken!, smtp_message_id: '<squatter@erp.rgz.bj>' })
      .execute();
    const retriedBefore = await archived('retried');
    const ingester = newIngester('host:4:spool');
    expect(await ingester.drain()).toBe(1);
    expect((await messagesWith('<spool-ok@erp.rgz.bj>')).map((m) => m.id)).toEqual(idsIn(first));
    const left = await spooled();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ smtp_message_id: '<spool-bad@erp.rgz.bj>', lease_owner: null, attempts: 1 });
    expect(left[0]!.last_error).toMatch(/unique|constraint|duplicate/i);
    // Not before its retry time.
    expect(Number(left[0]!.lease_expires_at)).toBeGreaterThan(Date.now());
    expect(await archived('retried')).toBe(retriedBefore + 1);
    expect(await ingester.drain()).toBe(0);
    // Once what blocked it is gone and its time has come, it is stored.
    await t.services.db.deleteFrom('email_messages').where('id', '=', taken!).execute();
    await t.services.db
      .updateTable('submission_spool')
      .set({ lease_expires_at: Date.now() - 1 })
      .execute();
    expect(await ingester.drain()).toBe(1);
    expect((await messagesWith('<spool-bad@erp.rgz.bj>')).map((m) => m.id)).toEqual(idsIn(second));
    expect(await spooled()).toEqual([]);
    server.ingester.start();
  });

  it('erasing an address takes its messages out of the spool: they are never stored, the others are', async () => {
    await server.ingester.stop();
    const shared = await submit(mime({ 'Message-ID': '<spool-erase-1@erp.rgz.bj>' }), [
      'kept@example.org',
      'Gone@Example.org',
    ]);
    await submit(mime({ 'Message-ID': '<spool-erase-2@erp.rgz.bj>' }), ['gone@example.org']);
    // The first row is being stored by an ingester right now.
    await t.services.db
      .updateTable('submission_spool')
      .set({ lease_owner: 'busy-host:5:spool', lease_expires_at: Date.now() + 60_000 })
      .where('smtp_message_id', '=', '<spool-erase-1@erp.rgz.bj>')
      .execute();
    const erased = await eraseRecipient(t.services, 'gone@example.org', Date.now());
    expect(erased.cancelled).toBe(2);
    const left = await spooled();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({
      smtp_message_id: '<spool-erase-1@erp.rgz.bj>',
      recipients: JSON.stringify(['kept@example.org']),
      message_ids: JSON.stringify([idsIn(shared)[0]]),
      // Its ingester's commit fails on the lost lease; the row is stored again as it is now.
      lease_owner: null,
      lease_expires_at: null,
    });
    expect(await newIngester('host:6:spool').drain()).toBe(1);
    expect((await messagesWith('<spool-erase-1@erp.rgz.bj>')).map((m) => m.recipient_email)).toEqual([
      'kept@example.org',
    ]);
    expect(await messagesWith('<spool-erase-2@erp.rgz.bj>')).toEqual([]);
    server.ingester.start();
  });

  it('lets an operator see a failing row, download it, retry it and drop it, over the API', async () => {
    await server.ingester.stop();
    const bad = mime({ 'Message-ID': '<spool-admin-bad@erp.rgz.bj>', 'X-Postier-Idempotency-Key': 'spool-admin-bad' });
    const second = await submit(bad, ['one@example.org', 'two@example.org']);
    const [taken] = idsIn(second);
    const [row] = await t.services.db.selectFrom('email_messages').selectAll().limit(1).execute();
    await t.services.db
      .insertInto('email_messages')
      .values({ ...row!, id: taken!, smtp_message_id: '<squatter-2@erp.rgz.bj>' })
      .execute();
    const ingester = newIngester('host:7:spool');
    expect(await ingester.drain()).toBe(0);
    // A row that has not failed, waiting for the next pass.
    await submit(mime({ 'Message-ID': '<spool-admin-waiting@erp.rgz.bj>' }));

    const list = await t.inject({ method: 'GET', url: '/api/v1/system/submission-spool' });
    expect(list.statusCode, list.body).toBe(200);
    const items = list.json().items as Array<Record<string, unknown>>;
    expect(items.map((i) => [i.smtp_message_id, i.state])).toEqual([
      ['<spool-admin-bad@erp.rgz.bj>', 'failing'],
      ['<spool-admin-waiting@erp.rgz.bj>', 'waiting'],
    ]);
    const failing = items[0]!;
    expect(failing).toMatchObject({
      recipients: ['one@example.org', 'two@example.org'],
      message_ids: idsIn(second),
      from_email: 'billing@rgz.bj',
      attempts: 1,
      size: Buffer.byteLength(bad),
      last_error: expect.stringMatching(/unique|constraint|duplicate/i),
    });
    expect(Date.parse(failing.next_try_at as string)).toBeGreaterThan(Date.now());
    const onlyFailing = await t.inject({ method: 'GET', url: '/api/v1/system/submission-spool?failing=true' });
    expect(onlyFailing.json().items.map((i: { id: number }) => i.id)).toEqual([failing.id]);

    // The message as the client sent it.
    const raw = await t.inject({ method: 'GET', url: `/api/v1/system/submission-spool/${failing.id}/raw` });
    expect(raw.statusCode).toBe(200);
    expect(raw.headers['content-type']).toBe('message/rfc822');
    expect(raw.rawPayload.equals(Buffer.from(bad))).toBe(true);

    // Tried at the next pass: it fails again while the squatter stays.
    const retried = await t.inject({ method: 'POST', url: `/api/v1/system/submission-spool/${failing.id}/retry` });
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ state: 'failing', next_try_at: null });
    // Only a failing row may be dropped; the waiting one is stored in moments.
    const waitingId = items[1]!.id;
    const refused = await t.inject({ method: 'DELETE', url: `/api/v1/system/submission-spool/${waitingId}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'invalid_state', details: { state: 'waiting' } });
    // Nor one an ingester is storing now.
    await t.services.db
      .updateTable('submission_spool')
      .set({ lease_owner: 'busy-host:8:spool', lease_expires_at: Date.now() + 60_000 })
      .where('id', '=', Number(failing.id))
      .execute();
    const busy = await t.inject({ method: 'DELETE', url: `/api/v1/system/submission-spool/${failing.id}` });
    expect(busy.statusCode).toBe(409);
    expect(
      (await t.inject({ method: 'POST', url: `/api/v1/system/submission-spool/${failing.id}/retry` })).statusCode,
    ).toBe(409);
    // An ingester that died holding it: once its lease is over, the row is free to retry (or drop).
    await t.services.db
      .updateTable('submission_spool')
      .set({ lease_expires_at: Date.now() - 1 })
      .where('id', '=', Number(failing.id))
      .execute();
    const freed = await t.inject({ method: 'POST', url: `/api/v1/system/submission-spool/${failing.id}/retry` });
    expect(freed.statusCode, freed.body).toBe(200);
    expect(freed.json()).toMatchObject({ state: 'failing', next_try_at: null });
    expect(
      (
        await t.services.db
          .selectFrom('submission_spool')
          .select('lease_owner')
          .where('id', '=', Number(failing.id))
          .execute()
      )[0],
    ).toEqual({ lease_owner: null });
    expect(await ingester.drain()).toBe(1); // the waiting one; the failing one fails again

    // A send key may not look or drop.
    const asSender = await t.inject({ method: 'DELETE', url: `/api/v1/system/submission-spool/${failing.id}`, token });
    expect(asSender.statusCode).toBe(403);
    const droppedBefore = await archived('dropped');
    const dropped = await t.inject({ method: 'DELETE', url: `/api/v1/system/submission-spool/${failing.id}` });
    expect(dropped.statusCode, dropped.body).toBe(200);
    expect(dropped.json()).toEqual({ id: failing.id, message_ids: idsIn(second) });
    expect(await archived('dropped')).toBe(droppedBefore + 2);
    expect(await spooled()).toEqual([]);
    expect(await messagesWith('<spool-admin-bad@erp.rgz.bj>')).toEqual([]);
    for (const [method, url] of [
      ['GET', `/api/v1/system/submission-spool/${failing.id}`],
      ['GET', `/api/v1/system/submission-spool/${failing.id}/raw`],
      ['DELETE', `/api/v1/system/submission-spool/${failing.id}`],
    ] as const) {
      const gone = await t.inject({ method, url });
      expect(gone.statusCode).toBe(404);
      expect(gone.json().error.code).toBe('spool_entry_not_found');
    }
    // Its idempotency key went with it: the client's retry with the same key is a new message,
    // stored, not a replay of the 250 of messages that will never exist.
    const again = await submit(bad, ['one@example.org', 'two@example.org']);
    expect(again).toMatch(/^250 /);
    expect(idsIn(again).some((id) => idsIn(second).includes(id))).toBe(false);
    expect(await ingester.drain()).toBe(1);
    expect((await messagesWith('<spool-admin-bad@erp.rgz.bj>')).map((m) => m.id).sort()).toEqual(idsIn(again).sort());
    // And a retry of that one is a replay again.
    expect(idsIn(await submit(bad, ['one@example.org', 'two@example.org']))).toEqual(idsIn(again));
    expect((await t.inject({ method: 'GET', url: '/api/v1/system/submission-spool/abc' })).statusCode).toBe(400);
    const huge = await t.inject({ method: 'GET', url: '/api/v1/system/submission-spool/100000000000000000000' });
    expect(huge.statusCode).toBe(400);
    // A row taken three times and still here, with no error of its own: its ingester died each
    // time (a message that crashes it). It shows as failing, and may be dropped.
    await submit(mime({ 'Message-ID': '<spool-admin-crash@erp.rgz.bj>' }));
    await t.services.db
      .updateTable('submission_spool')
      .set({ attempts: 3, lease_owner: 'dead-host:9:spool', lease_expires_at: Date.now() - 1 })
      .execute();
    const [suspect] = (await t.inject({ method: 'GET', url: '/api/v1/system/submission-spool?failing=true' })).json()
      .items as Array<{ id: number; state: string; last_error: string }>;
    expect(suspect).toMatchObject({
      state: 'failing',
      last_error: expect.stringMatching(/^Taken 3 times and not stored/),
    });
    const system = (await t.inject({ method: 'GET', url: '/api/v1/system' })).json();
    expect(system.submission_spool).toMatchObject({ waiting: 1, failing: 1 });
    expect(
      (await t.inject({ method: 'DELETE', url: `/api/v1/system/submission-spool/${suspect!.id}` })).statusCode,
    ).toBe(200);
    expect(await spooled()).toEqual([]);
    expect((await t.inject({ method: 'GET', url: '/api/v1/system/submission-spool?limit=0' })).statusCode).toBe(400);
    await t.services.db.deleteFrom('email_messages').where('id', '=', taken!).execute();
    server.ingester.start();
  });

  it('holds a 250 back while the spool is older than its limit, until it catches up or at the longest delay', async () => {
    await server.ingester.stop();
    const counter = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
    const row = (age: number, lastError: string | null = null) => ({
      received_at: Date.now() - age,
      api_key_id: null,
      envelope_from: 'billing@rgz.bj',
      recipients: '["late@example.org"]',
      message_ids: `["00000000-0000-7000-8000-00000000000${Math.floor(Math.random() * 10)}"]`,
      smtp_message_id: '<late@erp.rgz.bj>',
      from_email: 'billing@rgz.bj',
      options: null,
      send_at: Date.now(),
      raw: Buffer.from('From: billing@rgz.bj\r\n\r\nLate\r\n'),
      last_error: lastError,
    });
    const db = t.services.db;
    // A message that failed to be stored waits for its retry, not for the ingester: no delay for it.
    await db.insertInto('submission_spool').values(row(60_000, 'disk I/O error')).execute();
    const delays = await counter('postier_submission_flow_delays_total');
    await new SpoolFlow(db, { maxAgeMs: 10_000, maxDelayMs: 30_000 }).admit();
    expect(await counter('postier_submission_flow_delays_total')).toBe(delays);

    // One waiting for a minute: held back until the spool is young again...
    const old = await db.insertInto('submission_spool').values(row(60_000)).returning('id').executeTakeFirstOrThrow();
    const flow = new SpoolFlow(db, { maxAgeMs: 10_000, maxDelayMs: 30_000 });
    const t0 = Date.now();
    let admitted = false;
    const admit = flow.admit().then(() => (admitted = true));
    await new Promise((r) => setTimeout(r, 400));
    expect(admitted).toBe(false);
    await db.deleteFrom('submission_spool').where('id', '=', old.id).execute();
    await admit;
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(await counter('postier_submission_flow_delays_total')).toBe(delays + 1);
    expect(await counter('postier_submission_flow_delay_seconds_total')).toBeGreaterThanOrEqual(0.4);

    // ...or at the longest delay, then spooled all the same (never refused).
    await db.insertInto('submission_spool').values(row(60_000)).execute();
    const spool = new SubmissionSpool({
      ...t.services,
      config: { submission: { ...t.services.config.submission, spoolMaxAgeMs: 10_000, flowDelayMs: 300 } },
    });
    const t1 = Date.now();
    await spool.admit();
    await spool.put(row(0));
    expect(Date.now() - t1).toBeGreaterThanOrEqual(290);

    expect(await counter('postier_submission_flow_delays_total')).toBe(delays + 2);
    expect(await spooled()).toHaveLength(3);
    // A row taken three times and still here (its ingester died each time) holds nobody back.
    await db.updateTable('submission_spool').set({ attempts: 3 }).where('last_error', 'is', null).execute();
    const t3 = Date.now();
    await new SpoolFlow(db, { maxAgeMs: 10_000, maxDelayMs: 30_000 }).admit();
    expect(Date.now() - t3).toBeLessThan(20_000);
    expect(await counter('postier_submission_flow_delays_total')).toBe(delays + 2);
    // Switched off with 0.
    const t2 = Date.now();
    await new SubmissionSpool({
      ...t.services,
      config: { submission: { ...t.services.config.submission, spoolMaxAgeMs: 0, flowDelayMs: 30_000 } },
    }).admit();
    expect(Date.now() - t2).toBeLessThan(20_000);
    // A client that went away while it waited gets nothing spooled: it never saw a 250.
    await expect(
      new SubmissionSpool({
        ...t.services,
        config: { submission: { ...t.services.config.submission, spoolMaxAgeMs: 0 } },
      }).admit(() => true),
    ).rejects.toMatchObject({ responseCode: 421, reason: 'disconnected' });
    expect(await counter('postier_submission_flow_delays_total')).toBe(delays + 2);
    await db.deleteFrom('submission_spool').execute();
    server.ingester.start();
  });

  it('stores a spooled message at once after its 250 while the listener runs', async () => {
    const reply = await submit(mime({ 'Message-ID': '<spool-now@erp.rgz.bj>' }));
    await server.ingested();
    expect((await messagesWith('<spool-now@erp.rgz.bj>')).map((m) => m.id)).toEqual(idsIn(reply));
    expect(await spooled()).toEqual([]);
  });
});
