import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admission } from '../src/accept/index.js';
import { rateLimitPolicy } from '../src/rate-limits/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { recordStatements } from './support/statements.js';

const marketing: Admission = { class: 'marketing', category: 'news', locale: null, trustedCategory: false };

// Migration 0026: `(recipient_email, class, created_at)` was written by every accepted message and
// read by no query since the rate limits count every spelling of a mailbox (lower(recipient_email)).
describe.each(backends)('the rate limits’ count and its index on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_RATE_LIMIT_MARKETING: '2/day' });
  });
  afterAll(() => t.close());

  const indexes = async () =>
    backend === 'sqlite'
      ? (
          await sql<{
            name: string;
          }>`select name from sqlite_master where type = 'index' and tbl_name = 'email_messages'`.execute(t.services.db)
        ).rows.map((r) => r.name)
      : (
          await sql<{ name: string }>`select indexname as name from pg_indexes
            where tablename = 'email_messages' and schemaname = current_schema()`.execute(t.services.db)
        ).rows.map((r) => r.name);

  it('keeps the lowercased recipient index and no longer has (recipient_email, class, created_at)', async () => {
    const names = await indexes();
    expect(names).toContain('email_messages_recipient_lower');
    expect(names).not.toContain('email_messages_recipient_class');
  });

  it('counts a mailbox’s messages of a class on the lowercased recipient index, and still limits', async () => {
    for (const to of ['a@example.com', 'A@example.com']) {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { to, subject: 'Offer', text: 'Hello', class: 'marketing' },
      });
      expect(res.json().items[0].status).toBe('queued');
    }
    const recorded = recordStatements(t.services.db);
    const policy = rateLimitPolicy(t.config.email.rateLimits, backend);
    const verdicts = await recorded.db.transaction().execute((trx) =>
      policy.admitMany!(
        trx,
        [
          { recipient: 'a@EXAMPLE.com', message: marketing },
          { recipient: 'b@example.com', message: marketing },
        ],
        Date.now(),
      ),
    );
    expect(verdicts.map((v) => v.status)).toEqual(['rate_limited', 'queued']);
    const counts = recorded.statements.filter((q) => /from "email_messages"/.test(q.sql ?? ''));
    expect(counts).toHaveLength(1);
    const [count] = counts;
    const plan = await t.services.db.transaction().execute(async (trx) => {
      if (backend === 'sqlite') {
        const r = await trx.executeQuery<{ detail: string }>(
          CompiledQuery.raw(`explain query plan ${count!.sql}`, [...count!.parameters]),
        );
        return r.rows.map((x) => x.detail).join('\n');
      }
      // A near-empty table is read whole whatever its indexes: ask for the index the query can use.
      await sql`set local enable_seqscan = off`.execute(trx);
      const r = await trx.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`explain ${count!.sql}`, [...count!.parameters]),
      );
      return r.rows.map((x) => x['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/email_messages_recipient_lower/);
  });
});
