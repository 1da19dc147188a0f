import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/platform/ids.js';
import { addSuppression } from '../src/suppressions/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

// One mailbox, several spellings: an internationalized domain in Unicode or in punycode (how a
// relay's bounce spells it), any case, a final dot. A suppression under one must stop mail under
// every other, or an address that bounced or unsubscribed is mailed again.
describe.each(backends)('suppressions match every spelling of an address on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const send = async (to: string | string[]) => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to, subject: 'Hello', text: 'Hello' },
    });
    expect(res.statusCode).toBe(201);
    return res.json().items.map((i: { to: string; status: string }) => [i.to, i.status]);
  };
  const suppress = (email: string) =>
    t.inject({ method: 'POST', url: '/api/v1/email/suppressions', payload: { email } });

  it('a punycode entry (a bounce) stops the Unicode spelling, alone or among other recipients', async () => {
    expect((await suppress('u@xn--bcher-kva.de')).statusCode).toBe(201);
    expect(await send('u@bücher.de')).toEqual([['u@bücher.de', 'suppressed']]);
    expect(await send(['ok@example.com', 'U@BÜCHER.de'])).toEqual([
      ['ok@example.com', 'queued'],
      ['U@bücher.de', 'suppressed'],
    ]);
  });

  it('a Unicode entry is stored in punycode and stops, lists and lifts under either spelling', async () => {
    const added = await suppress('v@Bücher.de');
    expect(added.statusCode).toBe(201);
    expect(added.json().email).toBe('v@xn--bcher-kva.de');
    expect((await suppress('v@xn--bcher-kva.de')).statusCode).toBe(200);
    expect(await send('v@xn--bcher-kva.de')).toEqual([['v@xn--bcher-kva.de', 'suppressed']]);
    const listed = await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?email=v@bücher.de' });
    expect(listed.json()).toMatchObject({ total: 1, items: [{ email: 'v@xn--bcher-kva.de' }] });
    const lifted = await t.inject({ method: 'DELETE', url: '/api/v1/email/suppressions?email=V@XN--BCHER-KVA.DE' });
    expect(lifted.json()).toEqual({ deleted: 1 });
    expect(await send('v@bücher.de')).toEqual([['v@bücher.de', 'queued']]);
  });

  it('an entry stored in Unicode before punycode was the rule still stops, answers and lifts', async () => {
    await t.services.db
      .insertInto('email_suppressions')
      .values({
        id: newId(),
        email: 'w@bücher.de',
        scope: 'all',
        reason: 'bounce',
        source: 'report',
        source_event: null,
        message_id: null,
        details: null,
        created_by: null,
        created_at: Date.now(),
      })
      .execute();
    expect(await send('w@xn--bcher-kva.de')).toEqual([['w@xn--bcher-kva.de', 'suppressed']]);
    const again = await suppress('W@xn--bcher-kva.de');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ email: 'w@bücher.de', reason: 'bounce' });
    const lifted = await t.inject({ method: 'DELETE', url: '/api/v1/email/suppressions?email=w@xn--bcher-kva.de' });
    expect(lifted.json()).toEqual({ deleted: 1 });
  });

  it('an entry with a final dot (as a bounce may spell the domain) stops the address without it', async () => {
    await addSuppression(t.services.db, {
      email: 'Dot@Example.com.',
      scope: 'all',
      reason: 'bounce',
      source: 'report',
      at: Date.now(),
    });
    expect(await send('dot@example.com')).toEqual([['dot@example.com', 'suppressed']]);
  });

  it('does not fold plus-addressing: u+tag@ is another mailbox', async () => {
    expect((await suppress('plus@example.com')).statusCode).toBe(201);
    expect(await send(['plus+news@example.com', 'PLUS@example.com'])).toEqual([
      ['plus+news@example.com', 'queued'],
      ['PLUS@example.com', 'suppressed'],
    ]);
  });

  it('keeps a reported address whose punycode spelling would not fit the column as given, and stores it', async () => {
    // 316 characters as reported (a provider's webhook may name any address up to 320); 349 in punycode.
    const domain = '中文中文中文中文中文.中文中文中文中文中文.中文中文中文中文中文.cn';
    const long = `${'x'.repeat(316 - domain.length - 1)}@${domain}`;
    const added = await addSuppression(t.services.db, {
      email: long,
      scope: 'all',
      reason: 'bounce',
      source: 'postmark',
      at: Date.now(),
    });
    expect(added).toBe(true);
    const listed = await t.inject({
      method: 'GET',
      url: `/api/v1/email/suppressions?email=${encodeURIComponent(long)}`,
    });
    expect(listed.json()).toMatchObject({ total: 1, items: [{ email: long }] });
  });
});
