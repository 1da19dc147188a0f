import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyReport, type ReportKind } from '../src/feedback/index.js';

const KINDS: ReportKind[] = [
  'hard_bounce',
  'soft_bounce',
  'complaint',
  'unsubscribe',
  'auto_reply',
  'delivered',
  'unclassified',
];
const report = (name: string) =>
  readFileSync(path.join(import.meta.dirname, 'fixtures', 'feedback', 'reports', `${name}.eml`));

describe('classifyReport on hostile input', () => {
  it('never throws and always answers a known kind, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), (bytes) => {
        expect(KINDS).toContain(classifyReport(Buffer.from(bytes)).kind);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on mail-shaped noise (headers, boundaries, report parts in any order)', () => {
    const line = fc.oneof(
      fc.constantFrom(
        'Content-Type: multipart/report; report-type=delivery-status; boundary=b',
        'Content-Type: message/delivery-status',
        'Content-Type: message/feedback-report',
        'Content-Type: message/rfc822',
        'Content-Transfer-Encoding: base64',
        'Content-Transfer-Encoding: quoted-printable',
        '--b',
        '--b--',
        'Final-Recipient: rfc822; a@example.com',
        'Action: failed',
        'Status: 5.1.1',
        'From: MAILER-DAEMON@example.com',
        'Subject: =?utf-8?B?',
        'Auto-Submitted: auto-replied',
        'X-Failed-Recipients: <a@example.com',
        '',
      ),
      fc.string({ maxLength: 80 }),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 80 }), (lines) => {
        const c = classifyReport(Buffer.from(lines.join('\r\n')));
        expect(KINDS).toContain(c.kind);
        expect(typeof c.reason).toBe('string');
      }),
      { numRuns: 400 },
    );
  });

  it('classifies a 50 MB report from its first megabyte and says it stopped there', () => {
    const dsn = report('dsn-postfix-unknown-user-virtual').toString('latin1');
    // The returned message carries a 50 MB attachment: the verdict is in the parts before it.
    const close = dsn.lastIndexOf('\r\n--');
    const huge = `${dsn.slice(0, close)}\r\n--_NmP-attachment\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
    const raw = Buffer.concat([Buffer.from(huge, 'latin1'), Buffer.alloc(50 * 1024 * 1024, 0x41)]);
    const c = classifyReport(raw);
    expect(c).toMatchObject({ kind: 'hard_bounce', category: 'unknown_user', recipient: 'jdoe@example.com' });
    expect(c.evidence).toContain('input=truncated_at_limits');
  });

  it('reads at most the part limit of a report with 10,000 parts', () => {
    const parts = Array.from({ length: 10_000 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}`).join(
      '\r\n',
    );
    const raw = Buffer.from(
      `From: someone@example.com\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${parts}\r\n--b--\r\n`,
    );
    const c = classifyReport(raw);
    expect(c.kind).toBe('unclassified');
    expect(c.evidence).toContain('input=truncated_at_limits');
  });

  it('reads DSN parts even when the body is cut in the middle of the returned message (no closing boundary)', () => {
    const dsn = report('dsn-gmail-address-not-found').toString('latin1');
    const c = classifyReport(Buffer.from(dsn.slice(0, Math.floor(dsn.length * 0.8)), 'latin1'));
    expect(c).toMatchObject({ kind: 'hard_bounce', recipient: 'j.dossou@example.org' });
  });

  it('reads a report given as text the same as its UTF-8 bytes', () => {
    const bytes = readFileSync(
      path.join(import.meta.dirname, 'fixtures', 'feedback', 'reports', 'auto-exchange-ru.eml'),
    );
    const text = classifyReport(bytes.toString('utf8'));
    expect(text).toEqual(classifyReport(bytes));
    expect(text.kind).toBe('auto_reply');
  });

  it('answers unclassified with a reason for empty input, no headers, and deep nesting', () => {
    expect(classifyReport(Buffer.alloc(0))).toMatchObject({ kind: 'unclassified', reason: 'empty_input' });
    expect(classifyReport(Buffer.from('\r\n\r\njust a body'))).toMatchObject({
      kind: 'unclassified',
      reason: 'no_headers',
    });
    let nested = 'leaf';
    for (let i = 0; i < 200; i++)
      nested = `Content-Type: multipart/mixed; boundary=n${i}\r\n\r\n--n${i}\r\n${nested}\r\n--n${i}--`;
    expect(classifyReport(Buffer.from(`Subject: deep\r\n${nested}`)).kind).toBe('unclassified');
  });

  // Inputs built to make a backtracking regex take quadratic time: each must still be answered (the
  // suite's timeout catches a regression; the figures live in bench/feedback.ts, not here).
  const head =
    'From: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered Mail Returned to Sender\r\nX-Failed-Recipients: ' +
    'a@b.example.com\r\nContent-Type: text/TYPE\r\n\r\n';
  const hostile: Record<string, string> = {
    'a long local part': `${'a'.repeat(60_000)}@`,
    'a long domain': `x@${'a.'.repeat(30_000)}`,
    'unclosed angle brackets': '<'.repeat(60_000),
    'address-colon lines': 'a@b.example.com:\n'.repeat(3_500),
    'blank lines': '\n'.repeat(60_000),
    spaces: ' '.repeat(60_000),
    'transcript lines': `RCPT TO:<a@b.example.com>${'x'.repeat(50)}\n`.repeat(1_000),
    'sendmail lines': `<a@b.example.com>... ${'x'.repeat(40)}\n`.repeat(1_200),
    'encoded-word starts': '=?'.repeat(30_000),
    'reply codes': '550 5.1.1 '.repeat(6_000),
  };
  it.each(Object.keys(hostile))('answers a report made of %s', (name) => {
    for (const type of ['plain', 'html']) {
      const c = classifyReport(Buffer.from(head.replace('TYPE', type) + hostile[name]));
      expect(KINDS).toContain(c.kind);
    }
  });
});
