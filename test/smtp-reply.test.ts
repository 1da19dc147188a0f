import { describe, expect, it } from 'vitest';
import type { SmtpErrorKind, SmtpPhase } from '../src/delivery/smtp-client/index.js';
import { classifyReply, type RelayProblemKind, type ReplyClass } from '../src/delivery/smtp-reply.js';

type Row = [
  phase: SmtpPhase,
  kind: SmtpErrorKind,
  code: number | null,
  enhanced: string | null,
  text: string,
  expected: ReplyClass,
  relay?: RelayProblemKind,
];

/** The README's "SMTP replies" table, row by row. */
const TABLE: Row[] = [
  // 4xx: another try, wherever it comes.
  ['mail', 'reply', 451, '4.3.0', '451 4.3.0 Temporary failure', 'transient'],
  ['rcpt', 'reply', 450, '4.2.0', '450 4.2.0 <cc@example.com>: Recipient address rejected: Greylisted', 'transient'],
  ['rcpt', 'reply', 452, '4.5.3', '452 4.5.3 Too many recipients', 'transient'],
  ['data', 'reply', 451, null, '451 Try again', 'transient'],
  ['data_end', 'reply', 452, '4.3.1', '452 4.3.1 Insufficient system storage', 'transient'],
  ['mail', 'reply', 454, '4.7.0', '454 4.7.0 Temporary authentication failure', 'transient'],
  // 503: the session was out of step, not a refusal.
  ['rcpt', 'reply', 503, '5.5.1', '503 5.5.1 Error: need MAIL command', 'transient'],
  ['data_end', 'reply', 503, null, '503 Bad sequence of commands', 'transient'],
  // 5xx at RCPT: that recipient, for good; 552 there is temporary (RFC 5321 §4.5.3.1.10).
  [
    'rcpt',
    'reply',
    550,
    '5.1.1',
    '550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown',
    'recipient_permanent',
  ],
  ['rcpt', 'reply', 553, '5.1.3', '553 5.1.3 Bad recipient address syntax', 'recipient_permanent'],
  [
    'rcpt',
    'reply',
    550,
    '5.7.1',
    '550 5.7.1 <x@example.com>: Recipient address rejected: Access denied',
    'recipient_permanent',
  ],
  ['rcpt', 'reply', 552, '5.2.2', '552 5.2.2 Mailbox full', 'transient'],
  // ... unless it is the relay refusing to relay or asking for a login.
  ['rcpt', 'reply', 554, '5.7.1', '554 5.7.1 <x@example.com>: Relay access denied', 'relay_problem', 'relaying_denied'],
  ['rcpt', 'reply', 550, null, '550 Relaying denied', 'relay_problem', 'relaying_denied'],
  ['rcpt', 'reply', 550, '5.7.1', '550 5.7.1 Unable to relay', 'relay_problem', 'relaying_denied'],
  ['rcpt', 'reply', 530, '5.7.0', '530 5.7.0 Authentication required', 'relay_problem', 'auth'],
  ['rcpt', 'reply', 550, '5.7.0', '550 5.7.0 Must issue a STARTTLS command first', 'relay_problem', 'tls'],
  // 5xx at MAIL FROM: the message, unless it is about the session or our configured sender.
  ['mail', 'reply', 552, '5.3.4', '552 5.3.4 Message size exceeds fixed limit', 'message_permanent'],
  ['mail', 'reply', 550, null, '550 Sender refused', 'message_permanent'],
  ['mail', 'reply', 530, '5.7.0', '530 5.7.0 Authentication required', 'relay_problem', 'auth'],
  ['mail', 'reply', 530, null, '530 Authentication required', 'relay_problem', 'auth'],
  ['mail', 'reply', 535, '5.7.8', '535 5.7.8 Authentication credentials invalid', 'relay_problem', 'auth'],
  ['mail', 'reply', 534, '5.7.9', '534 5.7.9 Authentication mechanism is too weak', 'relay_problem', 'auth'],
  [
    'mail',
    'reply',
    538,
    '5.7.11',
    '538 5.7.11 Encryption required for requested authentication mechanism',
    'relay_problem',
    'auth',
  ],
  ['mail', 'reply', 550, '5.7.10', '550 5.7.10 Encryption needed', 'relay_problem', 'tls'],
  [
    'mail',
    'reply',
    553,
    '5.7.1',
    '553 5.7.1 <noreply@rgz.bj>: Sender address rejected: not owned by user postier',
    'relay_problem',
    'sender_rejected',
  ],
  [
    'mail',
    'reply',
    550,
    '5.7.1',
    '550 5.7.1 Client does not have permissions to send as this sender',
    'relay_problem',
    'sender_rejected',
  ],
  ['mail', 'reply', 553, '5.1.8', '553 5.1.8 Sender domain does not exist', 'relay_problem', 'sender_rejected'],
  ['mail', 'reply', 550, '5.7.1', '550 5.7.1 Policy refusal', 'relay_problem', 'sender_rejected'],
  ['mail', 'reply', 550, null, '550 Relaying denied', 'relay_problem', 'relaying_denied'],
  // 5xx at DATA and after the final dot: the message, for the recipients it was offered to.
  ['data', 'reply', 554, '5.5.1', '554 5.5.1 Error: no valid recipients', 'message_permanent'],
  ['data_end', 'reply', 554, '5.7.1', '554 5.7.1 Rejected: spam content', 'message_permanent'],
  ['data_end', 'reply', 552, '5.3.4', '552 5.3.4 Message too big', 'message_permanent'],
  ['data_end', 'reply', 550, '5.6.0', '550 5.6.0 Invalid message', 'message_permanent'],
  [
    'data_end',
    'reply',
    554,
    null,
    '554 Message rejected: Email address is not verified. The following identities failed the check: noreply@rgz.bj',
    'relay_problem',
    'sender_rejected',
  ],
  ['data_end', 'reply', 535, null, '535 Authentication credentials invalid', 'relay_problem', 'auth'],
  // 421 anywhere: the relay is closing the channel.
  ['greeting', 'reply', 421, '4.3.2', '421 4.3.2 Service not available', 'relay_problem', 'unavailable'],
  ['mail', 'reply', 421, null, '421 Too many connections', 'relay_problem', 'unavailable'],
  ['rcpt', 'reply', 421, null, '421 Shutting down', 'relay_problem', 'unavailable'],
  ['data_end', 'reply', 421, '4.4.2', '421 4.4.2 Timeout', 'relay_problem', 'unavailable'],
  // Before the transaction nothing about the message was said: the relay's problem, always.
  ['greeting', 'reply', 554, '5.3.2', '554 5.3.2 No SMTP service here', 'relay_problem', 'refused_session'],
  ['greeting', 'reply', 450, null, '450 Too busy', 'relay_problem', 'refused_session'],
  ['ehlo', 'reply', 550, null, '550 Access denied', 'relay_problem', 'protocol'],
  ['starttls', 'reply', 454, '4.7.0', '454 4.7.0 TLS not available', 'relay_problem', 'tls'],
  ['starttls', 'tls', null, null, 'STARTTLS not offered', 'relay_problem', 'tls'],
  ['connect', 'tls', null, null, 'self-signed certificate', 'relay_problem', 'tls'],
  ['starttls', 'tls', null, null, 'unable to verify the first certificate', 'relay_problem', 'tls'],
  ['auth', 'reply', 535, '5.7.8', '535 5.7.8 Error: authentication failed', 'relay_problem', 'auth'],
  ['auth', 'reply', 454, '4.7.0', '454 4.7.0 Temporary authentication failure', 'relay_problem', 'auth'],
  ['auth', 'protocol', null, null, 'No supported AUTH mechanism', 'relay_problem', 'protocol'],
  ['connect', 'connection', null, null, 'connect ECONNREFUSED 127.0.0.1:25', 'relay_problem', 'connection'],
  ['greeting', 'connection', null, null, 'read ECONNRESET', 'relay_problem', 'connection'],
  ['connect', 'timeout', null, null, 'Connection timed out', 'relay_problem', 'timeout'],
  ['greeting', 'timeout', null, null, 'No complete reply to greeting', 'relay_problem', 'timeout'],
  ['ehlo', 'timeout', null, null, 'No complete reply to ehlo', 'relay_problem', 'timeout'],
  ['ehlo', 'protocol', null, null, 'Malformed reply line', 'relay_problem', 'protocol'],
  // MAIL FROM carries only our sender: a silence or a cut there is the relay's.
  ['mail', 'timeout', null, null, 'No complete reply to mail', 'relay_problem', 'timeout'],
  ['mail', 'connection', null, null, 'Connection closed by the server during mail', 'relay_problem', 'connection'],
  // So does DATA (the recipients were accepted, no byte of the message sent yet).
  ['data', 'timeout', null, null, 'No complete reply to data', 'relay_problem', 'timeout'],
  ['data', 'connection', null, null, 'Connection closed by the server during data', 'relay_problem', 'connection'],
  ['data', 'reply', 421, '4.4.2', '421 4.4.2 Closing connection', 'relay_problem', 'unavailable'],
  // At RCPT (this message's recipient) and from the bytes on, a silence or a cut may be this message's doing: an attempt spent.
  ['rcpt', 'timeout', null, null, 'No complete reply to rcpt', 'transient'],
  ['data_end', 'timeout', null, null, 'No complete reply to data_end', 'transient'],
  ['data_end', 'connection', null, null, 'Connection closed by the server during data_end', 'transient'],
  ['rcpt', 'protocol', null, null, 'Reply longer than 65536 bytes', 'transient'],
];

describe('SMTP reply semantics', () => {
  it.each(TABLE)('%s %s %s %s "%s" → %s %s', (phase, kind, code, enhanced, text, expected, relay) => {
    expect(classifyReply({ phase, kind, code, enhanced, text })).toEqual({
      class: expected,
      relayProblem: relay ?? null,
    });
  });
});
