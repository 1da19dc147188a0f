import { describe, expect, it } from 'vitest';
import { draftKey, parseDraft, sameLocales } from '../../web/src/lib/drafts.js';
import { scheduledFor } from '../../web/src/lib/scheduled.js';

const fr = { subject: 'Facture {{ month }}', html_content: '<p>Bonjour</p>', text_content: 'Bonjour' };

describe('template drafts', () => {
  it('reads back a stored draft, and nothing from what is not one', () => {
    const draft = {
      base_version: 3,
      locales: { fr },
      variables: '{"month":"mars"}',
      comment: 'wip',
      saved_at: '2026-03-01T10:00:00.000Z',
    };
    expect(parseDraft(JSON.stringify(draft))).toEqual(draft);
    expect(
      parseDraft(JSON.stringify({ ...draft, locales: { fr: { ...fr, text_content: null } } }))?.locales.fr
        ?.text_content,
    ).toBeNull();
    const wrong = [
      { base_version: '3' },
      { locales: {} },
      { locales: { fr: { subject: 1, html_content: '' } } },
      { locales: [fr] },
      { variables: {} },
    ];
    for (const bad of [null, '', '{', '[]', 'null', '42', ...wrong.map((w) => JSON.stringify({ ...draft, ...w }))]) {
      expect(parseDraft(bad), String(bad)).toBeNull();
    }
    expect(draftKey('billing_invoice_monthly')).toBe('postier.draft.billing_invoice_monthly');
  });

  it('tells an edit from the saved texts (an absent text part is an empty one)', () => {
    expect(sameLocales({ fr }, { fr: { ...fr } })).toBe(true);
    expect(sameLocales({ fr: { ...fr, text_content: null } }, { fr: { ...fr, text_content: '' } })).toBe(true);
    expect(sameLocales({ fr }, { fr: { ...fr, html_content: '<p>Bonsoir</p>' } })).toBe(false);
    expect(sameLocales({ fr }, { fr, en: fr })).toBe(false);
  });
});

describe('scheduled messages', () => {
  const now = Date.parse('2026-03-01T08:00:00Z');
  const queued = (data: unknown, next: string | null, attempts = 0, status = 'queued') => ({
    status,
    attempts,
    next_attempt_at: next,
    events: [{ type: 'queued', data }],
  });
  it('are queued messages whose queued event has a send_at and whose first attempt is ahead', () => {
    expect(scheduledFor(queued({ send_at: '2026-03-01T10:00:00.000Z' }, '2026-03-01T10:00:00.000Z'), now)).toBe(
      '2026-03-01T10:00:00.000Z',
    );
  });
  it('are not messages sent at once, due already, tried already, or no longer queued', () => {
    expect(scheduledFor(queued({ template_key: 'x' }, '2026-03-01T10:00:00.000Z'), now)).toBeNull();
    expect(scheduledFor(queued({ send_at: '2026-03-01T07:00:00.000Z' }, '2026-03-01T07:00:00.000Z'), now)).toBeNull();
    expect(
      scheduledFor(queued({ send_at: '2026-03-01T10:00:00.000Z' }, '2026-03-01T11:00:00.000Z', 1), now),
    ).toBeNull();
    expect(
      scheduledFor(queued({ send_at: '2026-03-01T10:00:00.000Z' }, '2026-03-01T10:00:00.000Z', 0, 'cancelled'), now),
    ).toBeNull();
    expect(scheduledFor(queued(null, '2026-03-01T10:00:00.000Z'), now)).toBeNull();
  });
});
