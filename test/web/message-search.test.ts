import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSearchQuery } from '../../src/messages/search-query.js';
import { AppError } from '../../src/platform/errors.js';
import {
  formatSearch,
  OPERATORS,
  parseSearch,
  planSearch,
  searchFromUrl,
  searchToUrl,
  withTerm,
  type SearchQuery,
} from '../../web/src/lib/message-search.js';

const dayStart = (d: string) => `${d}T00:00:00.000Z`;

describe('Messages search box', () => {
  it('reads operators, quoted values and plain words; unknown operators are words', () => {
    expect(
      parseSearch('to:Ada@Example.com STATUS:failed subject:"Facture RGZ — mars" relance "deux mots" 10:30 foo:bar'),
    ).toEqual({
      terms: { to: 'Ada@Example.com', status: 'failed', subject: 'Facture RGZ — mars' },
      text: ['relance', 'deux mots', '10:30', 'foo:bar'],
    });
    expect(parseSearch('  ')).toEqual({ terms: {}, text: [] });
    // A repeated operator keeps its last value; an empty one removes it.
    expect(parseSearch('tag:a tag:b to:x to:')).toEqual({ terms: { tag: 'b' }, text: [] });
    // Escapes inside quotes, and an unclosed quote ending with the input.
    expect(parseSearch('subject:"say \\"hi\\"" "open')).toEqual({ terms: { subject: 'say "hi"' }, text: ['open'] });
  });

  it('writes operators in a fixed order, quoting what would not read back', () => {
    const q: SearchQuery = { terms: { status: 'failed', to: 'a@b.c', subject: 'two words' }, text: ['to:x', 'word'] };
    expect(formatSearch(q)).toBe('to:a@b.c subject:"two words" status:failed "to:x" word');
    expect(formatSearch(withTerm(q, 'status', ''))).toBe('to:a@b.c subject:"two words" "to:x" word');
    expect(formatSearch(withTerm(q, 'after', ' 2026-03-01 '))).toBe(
      'to:a@b.c subject:"two words" status:failed after:2026-03-01 "to:x" word',
    );
  });

  it('reads back whatever it writes', () => {
    const value = fc
      .string({ minLength: 1, maxLength: 12 })
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    const query = fc.record({
      terms: fc.dictionary(fc.constantFrom(...OPERATORS), value, { maxKeys: 5 }),
      text: fc.array(value, { maxLength: 4 }),
    });
    fc.assert(
      fc.property(query, (q) => {
        expect(parseSearch(formatSearch(q as SearchQuery))).toEqual(q);
        expect(searchFromUrl(searchToUrl(q as SearchQuery))).toEqual(q);
      }),
      { numRuns: 500 },
    );
  });

  it('writes only what the server reads: its q is refused for a too short part or too many terms, never for syntax', () => {
    const line = fc.array(
      fc.oneof(
        fc.string({ maxLength: 10 }),
        fc.constantFrom('"', '\\', ':', ' ', 'to:', 'status:', 'after:', 'subject:"a b'),
        fc.constantFrom('status:failed', 'after:2026-03-01', 'domain:example.com', 'id:0190abcd'),
      ),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(line, (parts) => {
        const plan = planSearch(parseSearch(parts.join(' ')), dayStart);
        if (plan.filter.q === undefined) return;
        try {
          parseSearchQuery(plan.filter.q);
        } catch (e) {
          expect(e).toBeInstanceOf(AppError);
          const details = (e as AppError).details as Record<string, unknown>;
          expect('min_length' in details || 'max_terms' in details, (e as Error).message).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps the search in the URL, one parameter per operator, and reads links from before the box', () => {
    const q = parseSearch('to:a@b.c status:failed template:welcome "late invoice"');
    expect(searchToUrl(q).toString()).toBe('to=a%40b.c&template=welcome&status=failed&q=%22late+invoice%22');
    expect(searchFromUrl(new URLSearchParams('status=bounced'))).toEqual({ terms: { status: 'bounced' }, text: [] });
    // template_key, since and the inclusive until of the old filters.
    expect(searchFromUrl(new URLSearchParams('template_key=welcome&since=2026-02-01&until=2026-02-28'))).toEqual({
      terms: { template: 'welcome', after: '2026-02-01', before: '2026-03-01' },
      text: [],
    });
    expect(searchFromUrl(new URLSearchParams('until=2024-12-31')).terms.before).toBe('2025-01-01');
  });

  it('sends the whole search as q, with local days as the instants they start', () => {
    const plan = planSearch(
      parseSearch(
        'to:ada status:FAILED template:welcome after:2026-03-01 before:2026-04-01 from:billing subject:"Facture RGZ" words',
      ),
      dayStart,
    );
    expect(plan).toEqual({
      filter: {
        q:
          'to:ada from:billing subject:"Facture RGZ" template:welcome status:failed ' +
          'after:2026-03-01T00:00:00.000Z before:2026-04-01T00:00:00.000Z words',
      },
      invalid: [],
    });
    expect(planSearch(parseSearch(''), dayStart)).toEqual({ filter: {}, invalid: [] });
  });

  it('calls a bad status or date an error and leaves it out of q', () => {
    const plan = planSearch(parseSearch('status:lost after:yesterday before:2026-13-45 techconnect'), dayStart);
    expect(plan.invalid).toEqual([
      { part: 'status:lost', reason: 'status' },
      { part: 'after:yesterday', reason: 'date' },
      { part: 'before:2026-13-45', reason: 'date' },
    ]);
    expect(plan.filter).toEqual({ q: 'techconnect' });
  });
});
