import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressOf, recipientOf, seedMessagesSql } from '../bench/lib/archive-seed.js';
import { listQueries, listSource, type MessageFilter } from '../src/messages/queries.js';
import { parseSearchQuery } from '../src/messages/search-query.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

/**
 * The archive list filtered by a category (migration 0025, email_messages_category). 12,000
 * messages written as bench/archive.ts seeds them: four categories of about 3,000 each (common:
 * more than the 2,000 under which queries.ts calls an equality rare), and `security` on about 120
 * (rare). Before 0025 a rare category read every row of email_messages on SQLite (1.8 s on
 * 2,000,000 messages, the event loop blocked).
 */
const N = 12_000;

describe.each(backends)('the list filtered by a category (%s)', (backend) => {
  let t: TestContext;
  let rows: Array<{
    id: string;
    status: string;
    recipient_email: string;
    template_key: string | null;
    category: string;
    subject: string;
    created_at: number;
  }>;
  const address = addressOf(recipientOf(1234));

  beforeAll(async () => {
    t = await createTestContext(backend);
    await sql`insert into email_bodies (id, encoding, data) values (1, 'gzip', ${Buffer.from([])})`.execute(
      t.services.db,
    );
    const seed = seedMessagesSql(backend === 'postgres', Date.now(), N, 1, N).replace(/i \/ 50 \+ 1/, '1');
    await sql.raw(seed).execute(t.services.db);
    // A rare category on one message in a hundred, whatever its template; one of them to `address`.
    await sql`update email_messages set category = 'security' where subject like '%INV-%37'`.execute(t.services.db);
    await sql`update email_messages set category = 'security'
      where id = (select max(id) from email_messages where recipient_email = ${address})`.execute(t.services.db);
    if (backend === 'postgres') await sql`analyze email_messages`.execute(t.services.db);
    rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'status', 'recipient_email', 'template_key', 'category', 'subject', 'created_at'])
      .orderBy('id', 'desc')
      .execute();
  });
  afterAll(() => t.close());

  const list = async (query: string) => {
    const res = await t.inject({ method: 'GET', url: `/api/v1/email/messages?${query}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { items: { id: string; category: string }[]; total: number; next_cursor: string | null };
  };

  /** Every page of the list, in order, with each page's total. */
  const all = async (query: string, limit: number) => {
    const seen: string[] = [];
    const totals = new Set<number>();
    let cursor: string | null = null;
    do {
      const page = await list(`${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      totals.add(page.total);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor);
    return { seen, totals: [...totals] };
  };

  const iso = (ms: number) => new Date(ms).toISOString();

  it('gives the same messages in the same order, page after page, whatever the other filters', async () => {
    const count = (c: string) => rows.filter((r) => r.category === c).length;
    expect(count('security')).toBeGreaterThan(50);
    expect(count('security')).toBeLessThan(2000);
    expect(count('billing')).toBeGreaterThan(2000);
    const mine = rows.filter((r) => r.recipient_email === address);
    expect(mine.some((r) => r.category === 'security')).toBe(true);
    const since = rows[Math.floor(rows.length * 0.6)]!.created_at;
    const until = rows[Math.floor(rows.length * 0.3)]!.created_at;
    type Row = (typeof rows)[number];
    const cases: Array<[string, (r: Row) => boolean, number]> = [
      ['category=security', (r) => r.category === 'security', 7],
      ['category=billing', (r) => r.category === 'billing', 500],
      ['category=newsletter', () => false, 50],
      ['category=security&status=delivered', (r) => r.category === 'security' && r.status === 'delivered', 9],
      ['category=billing&status=bounced', (r) => r.category === 'billing' && r.status === 'bounced', 11],
      ['category=billing&status=delivered', (r) => r.category === 'billing' && r.status === 'delivered', 500],
      ['category=support&status=rate_limited', (r) => r.category === 'support' && r.status === 'rate_limited', 3],
      [
        `category=security&to=${encodeURIComponent(address.toUpperCase())}`,
        (r) => r.category === 'security' && r.recipient_email === address,
        1,
      ],
      [
        `category=${mine[0]!.category}&to=${encodeURIComponent(address)}`,
        (r) => r.category === mine[0]!.category && r.recipient_email === address,
        1,
      ],
      [
        'category=billing&template_key=billing_reminder',
        (r) => r.category === 'billing' && r.template_key === 'billing_reminder',
        300,
      ],
      [
        'category=security&template_key=incident_resolved',
        (r) => r.category === 'security' && r.template_key === 'incident_resolved',
        2,
      ],
      ['category=billing&template_key=account_welcome', () => false, 50],
      [
        `category=billing&since=${iso(since)}&until=${iso(until)}`,
        (r) => r.category === 'billing' && r.created_at >= since && r.created_at < until,
        100,
      ],
      [`category=security&since=${iso(since)}`, (r) => r.category === 'security' && r.created_at >= since, 5],
      [
        `category=billing&status=sent&until=${iso(until)}`,
        (r) => r.category === 'billing' && r.status === 'sent' && r.created_at < until,
        13,
      ],
      // The same filters as search terms, and with a fragment (a rare category reads the
      // messages, not message_search: see offTheSearchIndex).
      [`q=${encodeURIComponent('category:security')}`, (r) => r.category === 'security', 10],
      [
        `q=${encodeURIComponent('category:billing status:bounced')}`,
        (r) => r.category === 'billing' && r.status === 'bounced',
        17,
      ],
      [
        `q=${encodeURIComponent('inv-1 category:security')}`,
        (r) => r.category === 'security' && r.subject.toLowerCase().includes('inv-1'),
        4,
      ],
      [
        `q=${encodeURIComponent('inv-1 category:billing status:delivered')}`,
        (r) => r.category === 'billing' && r.status === 'delivered' && r.subject.toLowerCase().includes('inv-1'),
        200,
      ],
    ];
    for (const [query, want, limit] of cases) {
      const expected = rows.filter(want).map((r) => r.id);
      const { seen, totals } = await all(query, limit);
      expect(seen, query).toEqual(expected);
      expect(totals, query).toEqual([expected.length]);
    }
  });

  /** SQLite's plan of each of a list's queries, one string each. */
  const plans = async (filter: MessageFilter, cursor?: string) => {
    const { page, count } = await listQueries(t.services.db, { ...filter, dialect: 'sqlite' }, 50, cursor);
    const plan = async (q: { compile(): CompiledQuery }) => {
      const c = q.compile();
      const r = await t.services.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${c.sql}`, [...c.parameters]),
      );
      return r.rows.map((x) => x.detail).join(' | ');
    };
    return { page: await plan(page), count: await plan(count) };
  };
  const onCategory = /SEARCH email_messages USING (COVERING )?INDEX email_messages_category \(category=/;

  it.runIf(backend === 'sqlite')(
    'a category, rare or common, is read on its index, newest first, not by a scan of email_messages',
    async () => {
      const cursor = Buffer.from(rows[100]!.id).toString('base64url');
      const filters: Array<[MessageFilter, string?]> = [
        [{ category: 'security' }],
        [{ category: 'billing' }],
        [{ category: 'newsletter' }],
        [{ category: 'billing' }, cursor],
        [{ category: 'security' }, cursor],
        [{ category: 'security', status: 'delivered' }],
        [{ category: 'billing', since: rows[5000]!.created_at, until: rows[2000]!.created_at }],
        [{ search: { terms: parseSearchQuery('category:security'), context: ctx() } }],
      ];
      for (const [filter, c] of filters) {
        const p = await plans(filter, c);
        const what = JSON.stringify({ filter, c });
        for (const q of [p.page, p.count]) {
          expect(q, what).toMatch(onCategory);
          expect(q, what).not.toMatch(/SCAN email_messages/);
        }
        // The page in the index's order: no sort of the category's messages.
        expect(p.page, what).not.toMatch(/TEMP B-TREE/);
      }
      // A common category with a common status (delivered, 90 %) walks the category newest
      // first; its count reads the smaller of the two (here the category's ~3,000).
      const delivered = await plans({ category: 'billing', status: 'delivered' });
      expect(delivered.page).toMatch(onCategory);
      expect(delivered.page).not.toMatch(/TEMP B-TREE/);
      expect(delivered.count).toMatch(onCategory);
      // A status of fewer than 2,000 messages (bounced, 2 %) is read on its own index.
      const bounced = await plans({ category: 'billing', status: 'bounced' });
      for (const q of [bounced.page, bounced.count]) {
        expect(q).toMatch(/SEARCH email_messages USING (COVERING )?INDEX email_messages_due \(status=/);
        expect(q).not.toMatch(/SCAN email_messages/);
      }
      // A template of fewer than 2,000 messages (here 1,000) is as narrow: its own index.
      const template = await plans({ category: 'security', template_key: 'incident_resolved' });
      for (const q of [template.page, template.count]) {
        expect(q).toMatch(/SEARCH email_messages USING INDEX email_messages_template/);
        expect(q).not.toMatch(/SCAN email_messages/);
      }
      // A whole address is narrower than any category: its own index.
      const toAddress = await plans({ category: 'security', to: address });
      expect(toAddress.page).toMatch(/email_messages_recipient_lower/);
      expect(toAddress.count).toMatch(/email_messages_recipient_lower/);
      // A rare category with a search fragment is read off message_search.
      const source = await listSource(t.services.db, {
        search: { terms: parseSearchQuery('inv-1 category:security'), context: ctx() },
        dialect: 'sqlite',
      });
      expect(source).toBe('messages');
    },
  );

  const ctx = () => ({
    dialect: backend,
    defaultFrom: 'noreply@example.com',
    hashAddress: (a: string) => a,
  });
});
