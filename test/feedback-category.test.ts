import { describe, expect, it } from 'vitest';
import { categorise, suppressesAddress } from '../src/feedback/index.js';

const cat = (status: string | null, diagnostic: string | null) => categorise(status, diagnostic).category;

describe('bounce categories', () => {
  it('takes the category from a specific enhanced status code', () => {
    expect(cat('5.1.1', null)).toBe('unknown_user');
    expect(cat('5.1.10', 'RESOLVER.ADR.RecipientNotFound')).toBe('unknown_user');
    expect(cat('5.2.2', null)).toBe('mailbox_full');
    expect(cat('4.2.2', null)).toBe('mailbox_full');
    expect(cat('5.1.2', null)).toBe('domain_not_found');
    expect(cat('4.4.4', null)).toBe('domain_not_found');
    expect(cat('5.3.4', null)).toBe('message_too_large');
    expect(cat('5.2.3', null)).toBe('message_too_large');
    expect(cat('4.4.7', null)).toBe('network');
    expect(cat('5.7.26', null)).toBe('policy_or_spam_block');
  });

  it('reads a 5.7.1 as a spam or policy block', () => {
    expect(
      cat('5.7.1', '554 5.7.1 Service unavailable; Client host [196.192.16.10] blocked using zen.spamhaus.org'),
    ).toBe('policy_or_spam_block');
    expect(cat('5.7.1', '550 5.7.1 Relaying denied')).toBe('policy_or_spam_block');
  });

  it('finds the code in the text when there is no Status field: a 550 with 5.1.1 in the text is an unknown user', () => {
    expect(categorise(null, '550 5.1.1 <x@example.com>: Recipient address rejected')).toMatchObject({
      category: 'unknown_user',
      status: '5.1.1',
    });
    expect(categorise(null, 'Sorry, no mailbox here by that name. (#5.1.1)')).toMatchObject({
      category: 'unknown_user',
      status: '5.1.1',
    });
    expect(categorise(null, '#550 5.2.2 STOREDRV.Deliver: mailbox full ##').status).toBe('5.2.2');
  });

  it('lets the text decide a generic code (x.0.0, x.5.x, 5.1.0) and says so', () => {
    expect(categorise('5.0.0', 'Unrouteable address')).toMatchObject({
      category: 'domain_not_found',
      source: 'diagnostic',
    });
    expect(categorise('5.5.0', '550 Requested action not taken: mailbox unavailable')).toMatchObject({
      category: 'unknown_user',
      source: 'diagnostic',
    });
    expect(categorise('5.0.0', null)).toMatchObject({ category: 'other', source: 'status' });
    expect(categorise('5.1.0', null)).toMatchObject({ category: 'unknown_user', source: 'status' });
  });

  it("prefers the remote server's own code to the reporting MTA's Status summary", () => {
    // Exim writes Status 5.0.0 for everything; Sendmail sometimes maps any 550 to 5.1.1.
    expect(categorise('5.0.0', '550 5.2.2 <a@example.com>: Mailbox full')).toMatchObject({
      category: 'mailbox_full',
      status: '5.2.2',
    });
    expect(categorise('5.1.1', '550 5.7.1 IP address blacklisted by recipient')).toMatchObject({
      category: 'policy_or_spam_block',
      status: '5.7.1',
    });
  });

  it('believes the words over a code they contradict', () => {
    expect(cat('5.1.1', '550 5.1.1 <a@example.com> - 203.0.113.222 has sent to too many recipients this hour')).toBe(
      'policy_or_spam_block',
    );
    expect(cat('5.7.1', '550 5.7.1 No such user!')).toBe('unknown_user');
    expect(cat('5.1.1', '550 5.1.1 <a@example.com>: Recipient address rejected: User unknown (see our policy)')).toBe(
      'unknown_user',
    );
  });

  it('reads a refusal after MAIL FROM as a block of our sender, unless it is about size', () => {
    expect(
      cat(
        '5.1.1',
        'SMTP error from remote mail server after MAIL FROM:<b@rgz.bj>: 553 5.1.1 sender domain does not exist',
      ),
    ).toBe('policy_or_spam_block');
    expect(
      cat(
        null,
        'SMTP error from remote mail server after MAIL FROM:<b@rgz.bj> SIZE=31457280: 552 Message size exceeds maximum permitted',
      ),
    ).toBe('message_too_large');
  });

  it('knows the special cases: Office 365 edge blocking, transient DNS failures, connection refusals', () => {
    expect(cat('5.4.1', '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)')).toBe('unknown_user');
    expect(
      cat('5.4.4', 'Name service error for name=example.org type=MX: Malformed or unexpected name server reply'),
    ).toBe('network');
    expect(
      cat('5.4.4', 'Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found'),
    ).toBe('domain_not_found');
    expect(cat('4.0.0', 'host mx.example.com[203.0.113.1] refused to talk to me: 421 Service not available')).toBe(
      'policy_or_spam_block',
    );
    expect(cat('4.4.1', 'connect to mx.example.com[203.0.113.1]:25: Connection timed out')).toBe('network');
  });

  it('reads diagnostic text in several languages', () => {
    expect(cat(null, 'utilisateur inconnu')).toBe('unknown_user');
    expect(cat(null, 'Benutzer unbekannt')).toBe('unknown_user');
    expect(cat(null, 'boîte aux lettres pleine')).toBe('mailbox_full');
    expect(cat(null, 'Пользователь не существует')).toBe('unknown_user');
  });

  it('says other when neither code nor text tells', () => {
    expect(categorise(null, 'something went wrong')).toEqual({ category: 'other', source: 'default', status: null });
  });

  it('suppresses the address only for a permanent failure about the address, a complaint or an unsubscribe', () => {
    expect(suppressesAddress('hard_bounce', 'unknown_user')).toBe(true);
    expect(suppressesAddress('hard_bounce', 'domain_not_found')).toBe(true);
    for (const c of ['mailbox_full', 'policy_or_spam_block', 'message_too_large', 'network', 'other'] as const)
      expect(suppressesAddress('hard_bounce', c)).toBe(false);
    expect(suppressesAddress('soft_bounce', 'unknown_user')).toBe(false);
    expect(suppressesAddress('complaint', null)).toBe(true);
    expect(suppressesAddress('unsubscribe', null)).toBe(true);
    expect(suppressesAddress('auto_reply', null)).toBe(false);
  });
});
