import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brotliCompressSync } from 'node:zlib';
import { BODY_ENCODING, decodeBody, encodeAllAhead, moveInlineBodies, withBodies } from '../src/content/index.js';
import { MimeCache } from '../src/delivery/mime.js';
import { messageWithBodies } from '../src/messages/index.js';
import { anonymizeOld } from '../src/retention/anonymize.js';
import { eraseRecipient } from '../src/retention/erase.js';
import { housekeeping } from '../src/retention/housekeeping.js';
import { purgeExpired } from '../src/retention/purge.js';
import { age, detail, sendOk } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample } from './helpers/fixtures.js';
import { recordStatements } from './support/statements.js';

describe.each(backends)('message bodies on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_AUTO_ANONYMIZE_AFTER_DAYS: '90', EMAIL_AUDIT_RETENTION_DAYS: '365' });
  });
  afterAll(() => t.close());

  const rows = (ids: string[]) =>
    t.services.db
      .selectFrom('email_messages')
      .select(['id', 'body_id', 'html_content', 'text_content'])
      .where('id', 'in', ids)
      .orderBy('id')
      .execute();
  const bodyCount = async (ids: number[]) =>
    ids.length === 0
      ? 0
      : (await t.services.db.selectFrom('email_bodies').select('id').where('id', 'in', ids).execute()).length;

  it('stores the rendering of a request once, compressed, and every reader gets it back', async () => {
    const ids = await sendOk(t, { ...invoiceExample(), to: ['a@example.com', 'b@example.com', 'c@example.com'] });
    const stored = await rows(ids);
    expect(new Set(stored.map((r) => r.body_id)).size).toBe(1);
    expect(stored.every((r) => r.body_id !== null && r.html_content === null && r.text_content === null)).toBe(true);
    const body = await t.services.db
      .selectFrom('email_bodies')
      .selectAll()
      .where('id', '=', stored[0]!.body_id!)
      .executeTakeFirstOrThrow();
    expect(body.encoding).toBe(BODY_ENCODING);
    // Compressed: the amount in clear is not in the stored bytes.
    expect(Buffer.from(body.data).toString('latin1')).not.toContain('450000');

    const d = await detail(t, ids[1]!);
    expect(d.html_content).toContain('450000');
    expect(d.text_content).toContain('Montant: 450000 FCFA');

    // The delivery worker builds the MIME from it.
    const row = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', ids[0]!)
      .executeTakeFirstOrThrow();
    const built = await new MimeCache(t.services.db, MimeCache.senderOf(t.config), t.services.seal).get(row);
    expect(built.raw.toString('latin1')).toContain('450000');

    // A resend carries the same content in a body of its own.
    // Resent once it went out (a message still queued is not: it would go twice).
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', ids[0]!).execute();
    const res = await t.inject({ method: 'POST', url: `/api/v1/email/messages/${ids[0]}/resend` });
    expect(res.statusCode, res.body).toBe(201);
    const [copy] = await rows([res.json().id]);
    expect(copy!.body_id).not.toBeNull();
    expect(copy!.body_id).not.toBe(stored[0]!.body_id);
    expect((await detail(t, res.json().id)).html_content).toBe(d.html_content);
  });

  it('the delivery worker reads a leased batch’s shared body once, ahead of the builds', async () => {
    const ids = await sendOk(t, { ...invoiceExample(), to: ['p1@example.com', 'p2@example.com'] });
    const leased = await t.services.db.selectFrom('email_messages').selectAll().where('id', 'in', ids).execute();
    const mime = new MimeCache(t.services.db, MimeCache.senderOf(t.config), t.services.seal);
    await mime.prefetch(leased);
    // Gone from the database after the read ahead: the builds use what was read.
    const bodyId = leased[0]!.body_id!;
    await t.services.db.updateTable('email_messages').set({ body_id: null }).where('body_id', '=', bodyId).execute();
    await t.services.db.deleteFrom('email_bodies').where('id', '=', bodyId).execute();
    for (const row of leased) {
      const built = await mime.get(row);
      expect(built.raw.toString('latin1')).toContain('450000');
    }
    // Without the read ahead the body is read at build time: gone, so no HTML part.
    const cold = await new MimeCache(t.services.db, MimeCache.senderOf(t.config), t.services.seal).get(leased[0]!);
    expect(cold.raw.toString('latin1')).not.toContain('450000');
  });

  it('reads a message with its body in one statement, and a row without a body as it is', async () => {
    const [id] = await sendOk(t, invoiceExample());
    const recorded = recordStatements(t.services.db);
    const m = await messageWithBodies(recorded.db, id!);
    expect(recorded.statements).toHaveLength(1);
    expect(m.html_content).toContain('450000');
    expect(m.text_content).toContain('Montant: 450000 FCFA');
    expect(m.id).toBe(id);
    expect(m).not.toHaveProperty('joined_body_data');
    // Written before bodies had a table of their own: the columns are the content.
    const bodyId = (await rows([id!]))[0]!.body_id;
    await t.services.db
      .updateTable('email_messages')
      .set({ body_id: null, html_content: '<p>En ligne 888</p>', text_content: 'En ligne 888' })
      .where('id', '=', id!)
      .execute();
    const inline = await messageWithBodies(t.services.db, id!);
    expect([inline.html_content, inline.text_content]).toEqual(['<p>En ligne 888</p>', 'En ligne 888']);
    // As it was: the other tests count the rows with bodies in their columns.
    await t.services.db
      .updateTable('email_messages')
      .set({ body_id: bodyId, html_content: null, text_content: null })
      .where('id', '=', id!)
      .execute();
    await expect(messageWithBodies(t.services.db, 'no-such-message')).rejects.toMatchObject({
      code: 'message_not_found',
    });
  });

  it('reads bodies written with Brotli (br-json) before bodies were deflated', async () => {
    const [id] = await sendOk(t, invoiceExample());
    const row = await t.services.db
      .selectFrom('email_messages')
      .select('body_id')
      .where('id', '=', id!)
      .executeTakeFirstOrThrow();
    const data = brotliCompressSync(Buffer.from(JSON.stringify(['<p>Ancien corps 777</p>', 'Ancien corps 777'])));
    await t.services.db
      .updateTable('email_bodies')
      .set({ encoding: 'br-json', data })
      .where('id', '=', row.body_id!)
      .execute();
    const d = await detail(t, id!);
    expect(d.html_content).toBe('<p>Ancien corps 777</p>');
    expect(d.text_content).toBe('Ancien corps 777');
  });

  it('stores the distinct renderings of one commit (a batch) each once, each message reading back its own', async () => {
    const amounts = ['111111', '222222', '333333', '222222'];
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/batch',
      payload: {
        messages: amounts.map((amount_fcfa, i) => ({
          ...invoiceExample(),
          to: `batch-body-${i}@example.com`,
          variables: { ...invoiceExample().variables, amount_fcfa },
        })),
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const ids = (res.json().items as Array<{ items: Array<{ id: string }> }>).map((i) => i.items[0]!.id);
    const stored = await rows(ids);
    const bodyIds = stored.map((r) => r.body_id);
    expect(bodyIds.every((b) => b !== null)).toBe(true);
    // Four requests, each with its own rendering: four bodies (two of them with the same amount, but other recipients).
    expect(await bodyCount([...new Set(bodyIds.map(Number))])).toBe(new Set(bodyIds).size);
    for (const [i, id] of ids.entries()) expect((await detail(t, id)).html_content).toContain(amounts[i]);
  });

  it('moves the bodies of rows written before, in batches, while sends go on, with nothing lost', async () => {
    // Rows as the previous version wrote them: bodies in their own columns.
    const legacy = [
      ...(await sendOk(t, { ...invoiceExample(), to: ['old1@example.com', 'old2@example.com'] })),
      ...(await sendOk(t, { ...invoiceExample(), to: 'old3@example.com' })),
    ];
    const before = await withBodies(t.services.db, await rows(legacy));
    for (const r of before) {
      await t.services.db
        .updateTable('email_messages')
        .set({ html_content: r.html_content, text_content: r.text_content, body_id: null })
        .where('id', '=', r.id)
        .execute();
    }
    await t.services.db
      .deleteFrom('email_bodies')
      .where('id', 'in', [...new Set(before.map((r) => r.body_id!))])
      .execute();
    // Readers take the old form as it is.
    expect((await detail(t, legacy[0]!)).html_content).toBe(before[0]!.html_content);

    // One batch at a time (two rows each), a send in between as the live service would take.
    let moved = 0;
    for (let i = 0; i < 10; i++) {
      const r = await moveInlineBodies(t.services.db, t.services.dialect, { maxBatches: 1, batch: 2 });
      moved += r.messages;
      await sendOk(t, { ...invoiceExample(), to: `during${i}@example.com` });
      if (r.messages === 0) break;
    }
    expect(moved).toBe(3);
    const after = await rows(legacy);
    expect(after.every((r) => r.html_content === null && r.text_content === null && r.body_id !== null)).toBe(true);
    const read = await withBodies(t.services.db, after);
    expect(read.map((r) => [r.html_content, r.text_content])).toEqual(
      before.map((r) => [r.html_content, r.text_content]),
    );
    for (const id of legacy) expect((await detail(t, id)).html_content).toBe(before[0]!.html_content);
    // Nothing left to move; the job is then a no-op.
    expect(await moveInlineBodies(t.services.db, t.services.dialect)).toEqual({ messages: 0, bodies: 0, batches: 0 });
  });

  it('erasure drops a shared body for everyone when it names the erased address, and only their link otherwise', async () => {
    const naming = await sendOk(t, {
      ...invoiceExample(),
      to: ['Named.Person@Forget.example', 'colleague@example.com'],
      variables: { ...invoiceExample().variables, reseller_name: 'named.person@forget.example' },
    });
    const plain = await sendOk(t, { ...invoiceExample(), to: ['quiet.person@forget.example', 'other@example.com'] });
    const namingBody = (await rows(naming))[0]!.body_id!;
    const plainBody = (await rows(plain))[0]!.body_id!;

    await eraseRecipient(t.services, 'named.person@forget.example', Date.now());
    expect((await rows(naming)).map((r) => r.body_id)).toEqual([null, null]);
    expect(await bodyCount([namingBody])).toBe(0);
    expect((await detail(t, naming[1]!)).html_content).toBeNull();

    await eraseRecipient(t.services, 'quiet.person@forget.example', Date.now());
    expect((await detail(t, plain[0]!)).html_content).toBeNull();
    expect((await detail(t, plain[1]!)).html_content).toContain('450000');
    expect(await bodyCount([plainBody])).toBe(1);
  });

  it('anonymization and the purge delete a body with the last message that referenced it', async () => {
    const ids = await sendOk(t, { ...invoiceExample(), to: ['aged1@example.com', 'aged2@example.com'] });
    const bodyId = (await rows(ids))[0]!.body_id!;
    await age(t, [ids[0]!], 100);
    await anonymizeOld(t.services, Date.now());
    expect(await bodyCount([bodyId])).toBe(1);
    expect((await detail(t, ids[1]!)).html_content).toContain('450000');
    await age(t, [ids[1]!], 100);
    await anonymizeOld(t.services, Date.now());
    expect(await bodyCount([bodyId])).toBe(0);

    const purged = await sendOk(t, { ...invoiceExample(), to: ['p1@example.com', 'p2@example.com'] });
    const purgedBody = (await rows(purged))[0]!.body_id!;
    await age(t, purged, 400);
    await purgeExpired(t.services, Date.now());
    expect(await bodyCount([purgedBody])).toBe(0);
    // Housekeeping finds no body without a message.
    expect((await housekeeping(t.services, Date.now())).email_bodies).toBe(0);
  });
});

describe('distinct renderings compressed ahead of a commit', () => {
  it('compresses each distinct (html, text) pair once, whatever the order and the string objects', () => {
    // Equal contents as different string objects, as separate renders make them.
    const copy = (s: string) => [...s].join('');
    const a = { html: '<p>a</p>'.repeat(50), text: 'a' };
    const b = { html: '<p>b</p>'.repeat(50), text: 'b' };
    const sameHtmlOtherText = { html: copy(a.html), text: 'other' };
    const bodies = [a, { html: copy(a.html), text: copy(a.text) }, b, { ...a }, sameHtmlOtherText, { ...b }, { ...a }];
    const out = encodeAllAhead(bodies);
    expect(out.map((e) => decodeBody(BODY_ENCODING, e.data))).toEqual(bodies.map(({ html, text }) => ({ html, text })));
    // One compression per distinct pair: the same object for equal pairs, another for the rest.
    expect(new Set(out).size).toBe(3);
    expect(out[1]).toBe(out[0]);
    expect(out[3]).toBe(out[0]);
    expect(out[6]).toBe(out[0]);
    expect(out[5]).toBe(out[2]);
    expect(out[4]).not.toBe(out[0]);
  });
});
