import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eraseRecipient } from '../src/retention/erase.js';
import { purgeExpired } from '../src/retention/purge.js';
import { age, sendOk } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample, invoiceExample } from './helpers/fixtures.js';

describe.each(backends)('message search (q) on %s', (backend) => {
  let t: TestContext;
  let invoice: string;
  let incident: string[];
  let tagged: string;
  let other: string;

  const search = async (q: string, extra = '') => {
    const res = await t.inject({
      method: 'GET',
      url: `/api/v1/email/messages?q=${encodeURIComponent(q)}${extra}`,
    });
    return res;
  };
  const ids = async (q: string, extra = '') => {
    const res = await search(q, extra);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { items: { id: string }[]; total: number; total_capped: boolean };
    expect(body.total).toBe(body.items.length);
    expect(body.total_capped).toBe(false);
    return body.items.map((i) => i.id).sort();
  };
  const sorted = (...xs: string[]) => [...xs].sort();

  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_AUDIT_RETENTION_DAYS: '365' });
    [invoice] = (await sendOk(t, { ...invoiceExample(), to: 'Reseller@TechConnect.bj' })) as [string];
    incident = await sendOk(t, incidentExample());
    [tagged] = (await sendOk(t, { ...invoiceExample(), to: 'ops.team@example.org' })) as [string];
    [other] = (await sendOk(t, { ...invoiceExample(), to: 'zoe@sub.example.net' })) as [string];
    // Tags and a sender of its own, as raw sends write them: the search index follows updates.
    await t.services.db
      .updateTable('email_messages')
      .set({ tags: JSON.stringify(['Billing', 'march-run']), from_email: 'Factures@Billing.rgz.bj' })
      .where('id', '=', tagged)
      .execute();
  });
  afterAll(() => t.close());

  it('finds a whole address whatever its case, with q and with the to parameter', async () => {
    // The incident's second message went to reseller@techconnect.bj too.
    const both = sorted(invoice, incident[1]!);
    expect(await ids('to:reseller@techconnect.bj')).toEqual(both);
    expect(await ids('to:RESELLER@techconnect.BJ')).toEqual(both);
    const legacy = await t.inject({ method: 'GET', url: '/api/v1/email/messages?to=reseller@TECHCONNECT.bj' });
    expect(
      legacy
        .json()
        .items.map((i: { id: string }) => i.id)
        .sort(),
    ).toEqual(both);
  });

  it('matches fragments of addresses, subjects and tags, whatever the case', async () => {
    // The incident went to noc@rgz.bj and reseller@techconnect.bj: one message per recipient.
    const toTechconnect = sorted(invoice, ...incident.slice(1));
    expect(await ids('techconnect')).toEqual(toTechconnect);
    expect(await ids('TechConn')).toEqual(toTechconnect);
    expect(await ids('to:seller@tech')).toEqual(toTechconnect);
    expect(await ids('subject:facture')).toEqual(sorted(invoice, tagged, other));
    expect(await ids('subject:"RGZ — FÉV"')).toEqual(sorted(invoice, tagged, other));
    expect(await ids('tag:billing')).toEqual([tagged]);
    // A whole tag only: a fragment of one is not a tag.
    expect(await ids('tag:bill')).toEqual([]);
    expect(await ids('march-run')).toEqual([tagged]);
  });

  it('domain: matches the part after the @ only', async () => {
    expect(await ids('domain:techconnect.bj')).toEqual(sorted(invoice, ...incident.slice(1)));
    expect(await ids('domain:@example.net')).toEqual([other]);
    expect(await ids('domain:example')).toEqual(sorted(tagged, other));
    // "ops" is in ops.team@example.org's local part, not in any domain.
    expect(await ids('domain:ops')).toEqual([]);
  });

  it('from: matches a sender of its own, and the configured sender for the others', async () => {
    expect(await ids('from:billing.rgz')).toEqual([tagged]);
    const all = sorted(invoice, ...incident, tagged, other);
    expect(await ids('from:noreply@rgz.bj')).toEqual(all.filter((id) => id !== tagged));
    // "rgz.bj" is in both senders.
    expect(await ids('from:rgz.bj')).toEqual(all);
  });

  it('id: takes a whole id, a prefix or a Message-ID; template:, status:, category: and dates narrow', async () => {
    expect(await ids(`id:${invoice.toUpperCase()}`)).toEqual([invoice]);
    expect(await ids(`id:<${invoice}@rgz.bj>`)).toEqual([invoice]);
    expect(await ids(`id:${invoice.slice(0, 30)}`)).toContain(invoice);
    expect(await ids('template:incident_alert_critical')).toEqual(sorted(...incident));
    expect(await ids('template:incident_alert_critical status:queued noc')).toEqual([incident[0]!]);
    expect(await ids('status:delivered')).toEqual([]);
    expect(await ids('category:billing techconnect')).toEqual([invoice]);
    const today = new Date().toISOString().slice(0, 10);
    expect(await ids(`after:${today} to:zoe@sub.example.net`)).toEqual([other]);
    expect(await ids(`before:${today} to:zoe@sub.example.net`)).toEqual([]);
    // Filters and q combine.
    expect(await ids('techconnect', '&template_key=billing_invoice_monthly')).toEqual([invoice]);
  });

  it('answers 400 invalid_search for what it cannot read, and takes wildcards literally', async () => {
    for (const q of ['subject:"Facture', 'status:lost', 'after:2026-13-45', 'before:2026-02-30', 'ab', 'to:ab']) {
      const res = await search(q);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error.code, q).toBe('invalid_search');
    }
    expect(await ids('subject:"%%%"')).toEqual([]);
    expect(await ids('to:_______@techconnect.bj')).toEqual([]);
    // An unknown operator is a word: nothing has "10:30" in it.
    expect(await ids('10:30')).toEqual([]);
  });

  it('pages through a search newest first with its cursor, each match once', async () => {
    const sent: string[] = [];
    for (let i = 0; i < 5; i++)
      sent.push(...(await sendOk(t, { ...invoiceExample(), to: `pager${i}@paging.example` })));
    for (const q of ['paging.example', 'to:pager status:queued', 'domain:paging.example']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await search(q, `&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json() as { items: { id: string }[]; total: number; next_cursor: string | null };
        expect(body.total, q).toBe(5);
        seen.push(...body.items.map((i) => i.id));
        cursor = body.next_cursor;
      } while (cursor);
      expect(seen, q).toEqual([...sent].reverse());
    }
    // A cursor is for the list that gave it.
    const bad = await search('paging.example', '&cursor=Z2FyYmFnZQ');
    expect(bad.statusCode).toBe(400);
  });

  it('an erased address is no longer found by a fragment, only by the whole address (hashed)', async () => {
    const [mine] = (await sendOk(t, { ...invoiceExample(), to: 'Erase.Me@Forget.example' })) as [string];
    expect(await ids('forget.example')).toEqual([mine]);
    await eraseRecipient(t.services, 'erase.me@forget.example', Date.now());
    expect(await ids('forget.example')).toEqual([]);
    expect(await ids('erase.me')).toEqual([]);
    expect(await ids('to:Erase.Me@Forget.example')).toEqual([mine]);
  });

  it('a purged message leaves the index with it', async () => {
    const [gone] = (await sendOk(t, { ...invoiceExample(), to: 'purged@old-archive.example' })) as [string];
    expect(await ids('old-archive')).toEqual([gone]);
    await age(t, [gone], 400);
    await purgeExpired(t.services, Date.now());
    expect(await ids('old-archive')).toEqual([]);
    const [again] = (await sendOk(t, { ...invoiceExample(), to: 'new@old-archive.example' })) as [string];
    expect(await ids('old-archive')).toEqual([again]);
  });
});
