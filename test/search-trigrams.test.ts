import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ftsMatch } from '../src/messages/search.js';
import { parseSearchQuery } from '../src/messages/search-query.js';
import { TrigramSample, trigramsOf } from '../src/messages/trigram-sample.js';
import { sendOk } from './helpers/archive.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

/**
 * SQLite's search looks a fragment up by its rare trigrams only, then tests the fragment on each
 * message found: with addresses that all look alike (`client…@isp….bj`), a phrase would read the
 * list of `cli` (every message). The answer must be exactly the phrase's, whatever the sample says.
 */
describe('search by rare trigrams (SQLite)', () => {
  let t: TestContext;
  const address = (i: number) => `client${i}@isp${i % 7}.bj`;
  const addresses = Array.from({ length: 300 }, (_, i) => address(i));

  beforeAll(async () => {
    t = await createTestContext('sqlite');
    for (let i = 0; i < addresses.length; i += 50) {
      await sendOk(t, { ...incidentExample(), to: addresses.slice(i, i + 50) });
    }
  });
  afterAll(() => t.close());

  const context = (trigrams?: TrigramSample) => ({
    dialect: 'sqlite' as const,
    defaultFrom: 'noreply@rgz.bj',
    hashAddress: (a: string) => a,
    ...(trigrams ? { trigrams } : {}),
  });

  it('looks up only the trigrams the sample found rare, and the whole fragment without a sample', async () => {
    const sample = new TrigramSample(t.services.db);
    const terms = parseSearchQuery('to:client123@');
    // No sample yet (being taken): the phrase.
    expect(ftsMatch(terms, context(sample))).toBe('recipient : "client123@"');
    await sample.ready();
    const match = ftsMatch(terms, context(sample))!;
    // "cli", "lie", "ien", "ent" are in every address: never looked up.
    expect(match).toMatch(/^recipient : \("[^"]{3}"( AND "[^"]{3}"){0,3}\)$/);
    const looked = [...match.matchAll(/"([^"]{3})"/g)].map((m) => m[1]);
    for (const common of ['cli', 'lie', 'ien', 'ent']) expect(looked).not.toContain(common);
    for (const tri of looked) expect(trigramsOf('client123@')).toContain(tri);
    // Non-ASCII or short fragments keep the phrase.
    expect(ftsMatch(parseSearchQuery('subject:"FÉV"'), context(sample))).toBe('subject : "FÉV"');
    expect(ftsMatch(parseSearchQuery('to:123'), context(sample))).toBe('recipient : "123"');
  });

  it('answers exactly what the fragment matches', async () => {
    const search = async (q: string) => {
      const res = await t.inject({ method: 'GET', url: `/api/v1/email/messages?limit=500&q=${encodeURIComponent(q)}` });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json().items as Array<{ to: string }>).map((i) => i.to).sort();
    };
    const fragments = ['client123@', 'client12', 't29@isp', '@isp3.bj', 'isp3.bj', 'nt2', 'CLIENT7@', '99@', 'client1'];
    const expected = (f: string) => addresses.filter((a) => a.includes(f.toLowerCase())).sort();
    for (const f of fragments) expect(await search(`to:${f}`), f).toEqual(expected(f));
    expect(await search('domain:isp3.bj')).toEqual(expected('@isp3.bj'));
    expect(await search('client123@isp4')).toEqual(expected('client123@isp4'));
    // LIKE's wildcards in a fragment are plain characters.
    expect(await search('to:client1_3')).toEqual([]);
    expect(await search('to:client%3')).toEqual([]);
  });
});
