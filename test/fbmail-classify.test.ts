import { describe, expect, it } from 'vitest';
import { classifyReport } from '../src/feedback/index.js';
import { dsn } from './helpers/reports.js';

const to = 'postmaster@bounces.rgz.bj';

/** Classification safety: what may suppress a good address at once. */
describe('classifier: a temporary refusal is never a hard bounce', () => {
  it('a DSN with a permanent Status over the remote server’s 4xx reply (a retry timeout) is a final soft bounce', () => {
    for (const [status, diagnostic] of [
      // Exim writes 5.0.0 for "retry timeout exceeded", quoting the remote's last reply.
      ['5.0.0', 'smtp; 450 4.1.1 <a@example.com>: Recipient address rejected: User unknown in local table, try later'],
      ['5.4.7', 'smtp; 451 4.1.1 user unknown (temporary lookup failure)'],
      ['5.1.1', 'smtp; 450 4.1.1 <a@example.com>: Recipient address rejected: unverified address'],
    ] as const) {
      const c = classifyReport(dsn({ to, recipient: 'a@example.com', messageId: '<x@y>', status, diagnostic }));
      expect(c, `${status} ${diagnostic}`).toMatchObject({ kind: 'soft_bounce', final: true, suppress: false });
      expect(c.recipients[0]).toMatchObject({ kind: 'soft_bounce', final: true, suppress: false });
    }
  });

  it('a 5xx reply is still a hard bounce that suppresses, whatever the Status says', () => {
    for (const status of ['5.1.1', '5.0.0', '4.0.0'])
      expect(
        classifyReport(
          dsn({
            to,
            recipient: 'a@example.com',
            messageId: '<x@y>',
            status,
            diagnostic: 'smtp; 550 5.1.1 <a@example.com>: Recipient address rejected: User unknown',
          }),
        ),
        status,
      ).toMatchObject(
        // A 4.x.x Status with Action: failed is the reporting MTA's own word that it gave up early.
        status.startsWith('4')
          ? { kind: 'soft_bounce', suppress: false }
          : { kind: 'hard_bounce', category: 'unknown_user', suppress: true },
      );
  });

  it('an out-of-office that quotes a bounce, from a null sender or with a bounce-like subject, is never a bounce', () => {
    const ooo = (subject: string, extra: string[]) =>
      [
        'From: Jane <jane@example.com>',
        `To: ${to}`,
        `Subject: ${subject}`,
        ...extra,
        'Content-Type: text/plain',
        '',
        'I am away. Your message to jane@example.com could not be delivered: 550 5.1.1 user unknown',
        '',
      ].join('\r\n');
    for (const [raw, env] of [
      [ooo('Out of Office: Incident', []), 'jane@example.com'],
      [ooo('Automatic reply: Undeliverable', ['Auto-Submitted: auto-replied']), ''],
      [ooo('Re: Incident', []), ''],
      [ooo('Undeliverable: Incident', ['Precedence: bulk']), 'jane@example.com'],
    ] as const) {
      const c = classifyReport(raw, { envelopeFrom: env });
      expect(['auto_reply', 'unclassified']).toContain(c.kind);
      expect(c.suppress).toBe(false);
    }
  });
});
