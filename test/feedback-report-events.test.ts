import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyReport, eventsFromReport } from '../src/feedback/index.js';

const report = (name: string) =>
  classifyReport(readFileSync(path.join(import.meta.dirname, 'fixtures', 'feedback', 'reports', `${name}.eml`)));
const at = Date.parse('2024-03-05T10:00:00Z');

describe('reports received by mail as feedback events', () => {
  it('gives one event per recipient of a DSN, each with its own verdict', () => {
    const events = eventsFromReport(report('dsn-postfix-two-recipients'), { at, dedupeKey: 'report:abc' });
    expect(events.map((e) => [e.recipient, e.kind, e.category, e.suppress])).toEqual([
      ['billing@example.com', 'hard_bounce', 'unknown_user', true],
      ['cfo@example.com', 'hard_bounce', 'mailbox_full', false],
    ]);
    expect(events.map((e) => e.dedupeId)).toEqual(['report:abc:billing@example.com', 'report:abc:cfo@example.com']);
    expect(events[0]).toMatchObject({ provider: 'report', at, providerMessageId: null, final: true });
    expect(events[0]!.messageIdHeader).toMatch(/^<[0-9a-f-]{36}@rgz\.bj>$/);
  });

  it('leaves a delivered recipient out of nothing and keeps the failed one (mixed report)', () => {
    const events = eventsFromReport(report('dsn-mixed-delivered-and-failed'), { at, dedupeKey: 'k' });
    expect(events.map((e) => [e.recipient, e.kind])).toEqual([
      ['ok@example.com', 'delivered'],
      ['gone@example.com', 'hard_bounce'],
    ]);
  });

  it('gives a complaint with a redacted recipient as one event that suppresses nothing', () => {
    const [e, ...rest] = eventsFromReport(report('arf-aol-scomp-redacted'), { at, dedupeKey: 'k' });
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ kind: 'complaint', recipient: null, suppress: false });
    expect(e!.messageIdHeader).not.toBeNull();
  });

  it('gives an auto-reply and an unsubscribe request (with its token) as one event each', () => {
    expect(eventsFromReport(report('auto-exchange-fr'), { at, dedupeKey: 'k' })).toEqual([
      expect.objectContaining({ kind: 'auto_reply', recipient: 'jdupont@example.com', suppress: false }),
    ]);
    const [u] = eventsFromReport(report('other-unsubscribe-mailto-token'), { at, dedupeKey: 'k' });
    expect(u).toMatchObject({ kind: 'unsubscribe', recipient: 'lecteur@example.com', suppress: true });
    expect((u!.raw as { unsubscribeToken: string }).unsubscribeToken).toBe(
      'v1.eyJlIjoibGVjdGV1ckBleGFtcGxlLmNvbSJ9.c2ln',
    );
  });

  it('gives nothing for mail that is not feedback', () => {
    expect(eventsFromReport(report('other-human-reply'), { at, dedupeKey: 'k' })).toEqual([]);
    expect(eventsFromReport(report('other-dmarc-forensic-auth-failure'), { at, dedupeKey: 'k' })).toEqual([]);
  });
});
