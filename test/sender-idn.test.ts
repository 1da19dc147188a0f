import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';

// FROM_ALLOWED_DOMAINS and a key's allowed_from hold a domain in ASCII; a From may name an
// internationalized domain in Unicode. The same domain is allowed in either of its two spellings,
// and only in those.
describe('sender identity with an internationalized domain', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite', { FROM_ALLOWED_DOMAINS: 'xn--bcher-kva.de, kontakt@xn--caf-dma.fr' });
  });
  afterAll(() => t.close());

  const send = (from: string, token?: string) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'client@example.com', from, subject: 'Rechnung', text: 'Hallo' },
      token,
    });

  it('allows the Unicode spelling of an allowed punycode domain or address, and nothing it merely maps to', async () => {
    expect((await send('rechnung@xn--bcher-kva.de')).statusCode).toBe(201);
    expect((await send('rechnung@bücher.de')).statusCode).toBe(201);
    expect((await send('Rechnung@BÜCHER.de')).statusCode).toBe(201);
    expect((await send('kontakt@café.fr')).statusCode).toBe(201);
    expect((await send('autre@café.fr')).statusCode).toBe(403);
    // Fullwidth letters map onto the same domain under UTS #46 but are not its spelling.
    expect([403, 422]).toContain((await send('rechnung@ｂüｃｈｅｒ.de')).statusCode);
    expect((await send('rechnung@bucher.de')).statusCode).toBe(403);

    const key = await t.inject({
      method: 'POST',
      url: '/api/v1/keys',
      payload: { name: 'shop', scope: 'send', allowed_from: ['xn--bcher-kva.de'] },
    });
    expect(key.statusCode, key.body).toBe(201);
    const token = key.json().token as string;
    expect((await send('rechnung@bücher.de', token)).statusCode).toBe(201);
    expect((await send('kontakt@café.fr', token)).statusCode).toBe(403);
  });
});
