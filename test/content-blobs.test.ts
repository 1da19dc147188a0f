import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOB_GRACE_MS } from '../src/content/collect.js';
import { INLINE_MAX_BYTES } from '../src/content/store.js';
import { PART_BYTES } from '../src/content/blobs.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import { anonymizeOld } from '../src/retention/anonymize.js';
import { eraseRecipient } from '../src/retention/erase.js';
import { housekeeping } from '../src/retention/housekeeping.js';
import { purgeExpired } from '../src/retention/purge.js';
import { age, detail, sendOk } from './helpers/archive.js';
import { everyReferenceComplete, bigPdf, invoiceWith, sha256, stored } from './helpers/content.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { waitForStatus } from './helpers/delivery.js';
import { SmtpSink } from './support/smtp-sink.js';

const MB = 1024 * 1024;
const recipients = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `r${i}.${tag}@example.com`);

describe.each(backends)('attachment contents stored once, on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_AUTO_ANONYMIZE_AFTER_DAYS: '90', EMAIL_AUDIT_RETENTION_DAYS: '365' });
  });
  afterAll(() => t.close());

  const download = async (id: string) => {
    const m = await detail(t, id);
    return t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}/attachments/${m.attachments[0].id}` });
  };

  it('stores one 2.5 MB attachment sent to 50 recipients once: one blob, its bytes once, 50 references', async () => {
    const pdf = bigPdf(2.5 * MB, 1);
    const ids = await sendOk(t, invoiceWith(recipients(50, 'once'), pdf));
    expect(ids).toHaveLength(50);
    const parts = Math.ceil(pdf.length / PART_BYTES);
    expect(await stored(t, sha256(pdf))).toEqual({
      blobs: 1,
      size: pdf.length,
      parts,
      bytes: pdf.length,
      references: 50,
      inlineData: 0,
    });
    for (const id of [ids[0]!, ids[27]!, ids[49]!]) {
      const dl = await download(id);
      expect(dl.statusCode).toBe(200);
      expect(dl.headers['content-type']).toBe('application/pdf');
      expect(Buffer.compare(dl.rawPayload, pdf)).toBe(0);
    }
    expect((await detail(t, ids[3]!)).attachments[0]).toMatchObject({ size_bytes: pdf.length, sha256: sha256(pdf) });
  });

  it('stores a small attachment (inside the commit) once too', async () => {
    const pdf = bigPdf(20_000, 2);
    expect(pdf.length).toBeLessThan(INLINE_MAX_BYTES);
    const ids = await sendOk(t, invoiceWith(recipients(50, 'small'), pdf));
    expect(await stored(t, sha256(pdf))).toEqual({
      blobs: 1,
      size: pdf.length,
      parts: 1,
      bytes: pdf.length,
      references: 50,
      inlineData: 0,
    });
    expect(Buffer.compare((await download(ids[10]!)).rawPayload, pdf)).toBe(0);
  });

  it('shares one blob between requests and within a request that carries the same content twice; another content is another blob', async () => {
    const a = bigPdf(1.5 * MB, 3);
    const b = bigPdf(1.5 * MB, 4);
    await sendOk(t, invoiceWith('first@example.com', a));
    await sendOk(t, invoiceWith(['second@example.com', 'third@example.com'], a));
    const [twice] = await sendOk(t, invoiceWith('twice@example.com', a, a, b));
    expect(await stored(t, sha256(a))).toMatchObject({ blobs: 1, bytes: a.length, references: 1 + 2 + 2 });
    expect(await stored(t, sha256(b))).toMatchObject({ blobs: 1, bytes: b.length, references: 1 });
    const m = await detail(t, twice!);
    expect(m.attachments.map((x: { sha256: string }) => x.sha256)).toEqual([sha256(a), sha256(a), sha256(b)]);
  });

  it('keeps a content while any message references it, through erasure, anonymization and purge, and deletes it with the last reference', async () => {
    const pdf = bigPdf(1.2 * MB, 5);
    const hash = sha256(pdf);
    const [alice, bob, carol] = await sendOk(
      t,
      invoiceWith(['alice@shared.bj', 'bob@shared.bj', 'carol@shared.bj'], pdf),
    );

    const erased = await eraseRecipient(t.services, 'alice@shared.bj', Date.now());
    expect(erased).toMatchObject({ messages: 1, attachments: 1 });
    expect(await stored(t, hash)).toMatchObject({ blobs: 1, bytes: pdf.length, references: 2 });
    expect((await download(alice!)).statusCode).toBe(404);
    expect(Buffer.compare((await download(bob!)).rawPayload, pdf)).toBe(0);
    // Erasure keeps the metadata, hash included.
    expect((await detail(t, alice!)).attachments[0]).toMatchObject({ sha256: hash, size_bytes: pdf.length });

    await age(t, [bob!], 100);
    expect(await anonymizeOld(t.services, Date.now())).toMatchObject({ messages: 1, attachments: 1, blobs: 0 });
    expect(await stored(t, hash)).toMatchObject({ blobs: 1, references: 1 });
    expect(Buffer.compare((await download(carol!)).rawPayload, pdf)).toBe(0);

    await age(t, [carol!], 400);
    expect(await purgeExpired(t.services, Date.now())).toMatchObject({ messages: 1, attachments: 1, blobs: 1 });
    expect(await stored(t, hash)).toEqual({ blobs: 0, size: 0, parts: 0, bytes: 0, references: 0, inlineData: 0 });
  });

  it('erasing the only recipient of a content deletes the content at once', async () => {
    const pdf = bigPdf(300_000, 6);
    await sendOk(t, invoiceWith('only@private.bj', pdf));
    expect(await stored(t, sha256(pdf))).toMatchObject({ blobs: 1, references: 1 });
    await eraseRecipient(t.services, 'only@private.bj', Date.now());
    expect(await stored(t, sha256(pdf))).toMatchObject({ blobs: 0, parts: 0, references: 0 });
  });

  it('a send that fails after storing leaves no reference; a content it wrote first is swept once the grace period is over, not before', async () => {
    const pdf = bigPdf(1.5 * MB, 7);
    const hash = sha256(pdf);
    const failing = t.services.send.send(invoiceWith('rollback@example.com', pdf), {
      principal: null,
      hooks: {
        after: async () => {
          throw new Error('refused after the rows were written');
        },
      },
    });
    await expect(failing).rejects.toThrow('refused after the rows were written');
    const left = await stored(t, hash);
    expect(left.references).toBe(0);
    expect(
      await t.services.db
        .selectFrom('email_messages')
        .select('id')
        .where('recipient_email', '=', 'rollback@example.com')
        .execute(),
    ).toEqual([]);
    // SQLite: the writer thread committed the content before the failed commit; PostgreSQL: in it, rolled back with it.
    expect(left.blobs).toBe(backend === 'sqlite' ? 1 : 0);

    const now = Date.now();
    await housekeeping(t.services, now);
    expect((await stored(t, hash)).blobs).toBe(left.blobs);
    const swept = await housekeeping(t.services, now + BLOB_GRACE_MS + 60_000);
    expect(swept.content_blobs).toBeGreaterThanOrEqual(left.blobs);
    expect(await stored(t, hash)).toMatchObject({ blobs: 0, parts: 0 });
  });

  it('the sweep never deletes a referenced content, however old', async () => {
    const pdf = bigPdf(400_000, 8);
    const [id] = await sendOk(t, invoiceWith('kept@example.com', pdf));
    await t.services.db.updateTable('content_blobs').set({ created_at: 0 }).where('sha256', '=', sha256(pdf)).execute();
    await housekeeping(t.services, Date.now() + BLOB_GRACE_MS * 24);
    expect(await stored(t, sha256(pdf))).toMatchObject({ blobs: 1, bytes: pdf.length, references: 1 });
    expect(Buffer.compare((await download(id!)).rawPayload, pdf)).toBe(0);
  });

  it('stores the content again when it vanished between its early write and the commit', async () => {
    const pdf = bigPdf(1.5 * MB, 9);
    const hash = sha256(pdf);
    const { items } = await t.services.send.send(invoiceWith('late@example.com', pdf), {
      principal: null,
      hooks: {
        before: async (trx) => void (await trx.deleteFrom('content_blobs').where('sha256', '=', hash).execute()),
      },
    });
    expect(await stored(t, hash)).toMatchObject({ blobs: 1, bytes: pdf.length, references: 1 });
    expect(Buffer.compare((await download(items[0]!.id)).rawPayload, pdf)).toBe(0);
  });

  it('concurrent requests with the same new content all succeed and share one blob', async () => {
    const pdf = bigPdf(1.5 * MB, 10);
    const send = (i: number) =>
      t.inject({ method: 'POST', url: '/api/v1/email/send', payload: invoiceWith(recipients(2, `c${i}`), pdf) });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => send(i)));
    expect(results.map((r) => r.statusCode)).toEqual(Array(8).fill(201));
    expect(await stored(t, sha256(pdf))).toMatchObject({ blobs: 1, bytes: pdf.length, references: 16 });
  });

  it('sends racing the erasure of the content’s other references never lose it', async () => {
    const pdf = bigPdf(300_000, 11);
    const hash = sha256(pdf);
    await sendOk(t, invoiceWith('race0@example.com', pdf));
    for (let i = 1; i <= 12; i++) {
      const [sent] = await Promise.all([
        t.inject({ method: 'POST', url: '/api/v1/email/send', payload: invoiceWith(`race${i}@example.com`, pdf) }),
        eraseRecipient(t.services, `race${i - 1}@example.com`, Date.now()),
      ]);
      expect(sent.statusCode).toBe(201);
    }
    expect(await everyReferenceComplete(t)).toEqual([]);
    expect(await stored(t, hash)).toMatchObject({ blobs: 1, bytes: pdf.length, references: 1 });
    await eraseRecipient(t.services, 'race12@example.com', Date.now());
    expect(await stored(t, hash)).toMatchObject({ blobs: 0, parts: 0 });
  });

  it('a resend references the content it already has', async () => {
    const pdf = bigPdf(500_000, 12);
    const [id] = await sendOk(t, invoiceWith('resend@example.com', pdf));
    // Resent once it went out (a message still queued is not: it would go twice).
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id!).execute();
    const res = await t.inject({ method: 'POST', url: `/api/v1/email/messages/${id}/resend` });
    expect(res.statusCode).toBe(201);
    expect(await stored(t, sha256(pdf))).toMatchObject({ blobs: 1, bytes: pdf.length, references: 2 });
    expect(Buffer.compare((await download(res.json().id)).rawPayload, pdf)).toBe(0);
  });
});

describe.each(backends)('delivering one stored content to many recipients, on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(backend, sink.env({ WORKER_POLL_MS: '20' }));
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });

  it("gives each recipient's MIME the bytes of its own request's attachment", async () => {
    const shared = bigPdf(1.2 * MB, 20);
    const other = bigPdf(700_000, 21);
    const sharedIds = await sendOk(t, invoiceWith(recipients(6, 'shared'), shared));
    const otherIds = await sendOk(t, invoiceWith(recipients(2, 'other'), other));
    const worker = startWorker(t.services, smtpTarget(t.services, null));
    try {
      await waitForStatus(t, [...sharedIds, ...otherIds], ['sent'], 60_000);
    } finally {
      await worker.stop();
    }
    expect(sink.accepted).toHaveLength(8);
    for (const m of sink.accepted) {
      const mail = await sink.parse(m);
      const expected = m.envelope.to[0]!.includes('.shared@') ? shared : other;
      expect(mail.attachments).toHaveLength(1);
      expect(mail.attachments[0]!.contentType).toBe('application/pdf');
      expect(Buffer.compare(mail.attachments[0]!.content, expected)).toBe(0);
    }
    expect(new Set(sink.accepted.map((m) => m.envelope.to[0]))).toEqual(
      new Set([...recipients(6, 'shared'), ...recipients(2, 'other')]),
    );
  });
});
