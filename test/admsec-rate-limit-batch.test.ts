import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admission } from '../src/accept/index.js';
import { rateLimitPolicy } from '../src/rate-limits/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { recordStatements } from './support/statements.js';

const marketing: Admission = { class: 'marketing', category: 'news', locale: null, trustedCategory: false };
const digest: Admission = { class: 'digest', category: 'news', locale: null, trustedCategory: false };
const transactional: Admission = { ...marketing, class: 'transactional' };

// A commit of 500 limited messages (a batch, or a group of requests) used to cost two statements
// per message (a lock and a count) inside the accepting transaction, which on SQLite holds the
// database's one write lock meanwhile: every other send waited for 1,000 round trips.
describe.each(backends)('rate limits judge a whole commit in a few statements on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_RATE_LIMIT_MARKETING: '2/day', EMAIL_RATE_LIMIT_DIGEST: '1/hour' });
  });
  afterAll(() => t.close());

  it('500 messages in two classes, some over their limit: exact verdicts from at most 4 statements', async () => {
    // Already stored: two marketing messages to a@ (its allowance spent), one to b@.
    for (const to of ['a@example.com', 'A@example.com', 'b@example.com']) {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { to, subject: 'Offer', text: 'Hello', class: 'marketing' },
      });
      expect(res.json().items[0].status).toBe('queued');
    }
    const items = [
      { recipient: 'a@example.com', message: marketing },
      { recipient: 'B@example.com', message: marketing },
      { recipient: 'b@example.com', message: marketing },
      { recipient: 'c@bücher.de', message: digest },
      { recipient: 'c@xn--bcher-kva.de', message: digest },
      { recipient: 'c@bücher.de', message: transactional },
      ...Array.from({ length: 494 }, (_, i) => ({ recipient: `n${i}@example.com`, message: marketing })),
    ];
    const recorded = recordStatements(t.services.db);
    const policy = rateLimitPolicy(t.config.email.rateLimits, backend);
    const verdicts = await recorded.db.transaction().execute((trx) => policy.admitMany!(trx, items, Date.now()));
    expect(verdicts.slice(0, 6).map((v) => v.status)).toEqual([
      'rate_limited',
      'queued',
      'rate_limited',
      'queued',
      'rate_limited',
      'queued',
    ]);
    expect(verdicts.slice(6).every((v) => v.status === 'queued')).toBe(true);
    // PostgreSQL: the locks (one statement), then one count per class (SQLite: the counts only).
    expect(recorded.statements.length).toBeLessThanOrEqual(backend === 'postgres' ? 4 : 3);
  });
});
