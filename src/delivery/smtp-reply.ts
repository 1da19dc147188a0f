import type { SmtpErrorKind, SmtpPhase } from './smtp-client/index.js';

/**
 * What an SMTP outcome means, as one pure function of the phase it happened in, the kind of
 * failure, the reply code, the enhanced code (RFC 3463) and the reply text. The README's
 * "SMTP replies" table is this function in prose; test/smtp-reply.test.ts holds it row by row.
 *
 * - transient: worth another attempt; spends one of the message's attempts.
 * - recipient_permanent: that recipient is refused for good; the others go on.
 * - message_permanent: the message is refused for good (for the recipients it was offered to).
 * - relay_problem: the relay (or our configuration of it) is at fault, not the message: retried
 *   without spending attempts, reported to the operator, failed only after
 *   RELAY_PROBLEM_MAX_HOURS of nothing but relay problems.
 */
export type ReplyClass = 'transient' | 'recipient_permanent' | 'message_permanent' | 'relay_problem';

/** Why the relay is at fault: the `kind` label of postier_smtp_relay_problems_total. */
export const RELAY_PROBLEM_KINDS = [
  'auth',
  'tls',
  'relaying_denied',
  'sender_rejected',
  'unavailable',
  'refused_session',
  'connection',
  'timeout',
  'protocol',
] as const;
export type RelayProblemKind = (typeof RELAY_PROBLEM_KINDS)[number];

export interface SmtpFacts {
  phase: SmtpPhase;
  kind: SmtpErrorKind;
  code: number | null;
  enhanced: string | null;
  text: string;
}

export interface Classification {
  class: ReplyClass;
  /** Set when class is relay_problem. */
  relayProblem: RelayProblemKind | null;
}

/** Before MAIL FROM: nothing about the message has been said, so nothing can be its fault. */
const SESSION_PHASES = new Set<SmtpPhase>(['connect', 'greeting', 'ehlo', 'starttls', 'auth']);

// Texts relays use for refusals that are about the relay's setup, not the message or recipient.
const RELAYING_DENIED = new RegExp(
  [
    String.raw`relay(ing)?\s+(access\s+)?(is\s+)?(denied|not\s+(permitted|allowed)|prohibited|disallowed)`,
    String.raw`unable\s+to\s+relay`,
    String.raw`(not\s+(permitted|allowed|authori[sz]ed)|no\s+permission)\s+to\s+relay`,
    String.raw`we\s+do\s+not\s+relay`,
  ].join('|'),
  'i',
);
const AUTH_NEEDED = /authenticat|credentials|\blog\s?in\b/i;
const TLS_NEEDED = /starttls|\btls\b|encryption\s+(is\s+)?(required|needed)/i;
const SENDER_REFUSED = new RegExp(
  [
    String.raw`sender\s+address\s+rejected`,
    String.raw`not\s+(authori[sz]ed|allowed|permitted)\s+to\s+send`,
    String.raw`permissions?\s+to\s+send`,
    String.raw`address\s+is\s+not\s+verified`,
    String.raw`identit(y|ies)\s+failed`,
    String.raw`sender\s+(address\s+)?(is\s+)?not\s+(allowed|permitted|authori[sz]ed|verified)`,
  ].join('|'),
  'i',
);

// RFC 4954 and RFC 5248: the security codes that say the session is not allowed, not the mail.
const AUTH_CODES = new Set([530, 534, 535, 538]);
const AUTH_ENHANCED = new Set(['5.7.8', '5.7.9', '5.7.11', '5.7.12', '5.7.13', '5.7.14']);

const relay = (relayProblem: RelayProblemKind): Classification => ({ class: 'relay_problem', relayProblem });
const plain = (c: Exclude<ReplyClass, 'relay_problem'>): Classification => ({ class: c, relayProblem: null });

export function classifyReply(f: SmtpFacts): Classification {
  const setup = SESSION_PHASES.has(f.phase);
  // A failure without a reply: before the transaction it is the relay's (refused, unreachable,
  // silent, speaking something else), and so is one waiting for MAIL FROM's reply, which
  // carries nothing but our configured sender (a relay that greets, then hangs at its first
  // command, burnt every message's attempts in minutes), or for the reply to the DATA command
  // (its recipients were accepted, and nothing of the message was sent). At RCPT (this message's
  // recipient) and from the message's bytes on, the message itself may be the cause (a relay
  // that crashes or stalls on this content), so it spends an attempt like any transient failure.
  if (f.kind === 'tls') return relay('tls');
  if (f.kind !== 'reply' || f.code === null) {
    if (!setup && f.phase !== 'mail' && f.phase !== 'data') return plain('transient');
    return relay(f.kind === 'timeout' ? 'timeout' : f.kind === 'protocol' ? 'protocol' : 'connection');
  }
  const { code, enhanced, text } = f;
  // 421: the server is closing the channel, whatever the command (RFC 5321 §3.8).
  if (code === 421) return relay('unavailable');
  if (setup) {
    if (f.phase === 'greeting') return relay('refused_session');
    if (f.phase === 'starttls') return relay('tls');
    if (f.phase === 'auth') return relay('auth');
    return relay('protocol');
  }
  // Bad sequence of commands: the session was out of step, the message was not refused.
  if (code === 503) return plain('transient');
  // Any other 4xx (and anything that is not a 5xx refusal) is worth another try.
  if (code < 500 || code >= 600) return plain('transient');

  const problem = relayProblemOf(f.phase, code, enhanced, text);
  if (problem) return relay(problem);
  if (f.phase === 'rcpt') {
    // "552 too many recipients / storage exceeded" at RCPT is temporary (RFC 5321 §4.5.3.1.10).
    if (code === 552) return plain('transient');
    return plain('recipient_permanent');
  }
  return plain('message_permanent');
}

/** A 5xx inside the transaction that is about the relay's setup (login, TLS, relaying, our sender). */
function relayProblemOf(
  phase: SmtpPhase,
  code: number,
  enhanced: string | null,
  text: string,
): RelayProblemKind | null {
  if (AUTH_CODES.has(code) || (enhanced !== null && AUTH_ENHANCED.has(enhanced))) return 'auth';
  if (enhanced === '5.7.10') return 'tls';
  if (RELAYING_DENIED.test(text)) return 'relaying_denied';
  if (enhanced === '5.7.0' || enhanced === '5.7.1' || enhanced === null) {
    if (AUTH_NEEDED.test(text)) return 'auth';
    if (TLS_NEEDED.test(text)) return 'tls';
  }
  if (SENDER_REFUSED.test(text)) return 'sender_rejected';
  // MAIL FROM carries nothing but our configured sender (and the size): a security or sender
  // address refusal there is the same for every message.
  if (
    phase === 'mail' &&
    enhanced !== null &&
    (enhanced.startsWith('5.7.') || enhanced === '5.1.7' || enhanced === '5.1.8')
  )
    return 'sender_rejected';
  return null;
}

/**
 * The relay's own id for the message, from its 2xx reply. Amazon SES answers
 * `250 Ok <ses-message-id>` (bounce notifications quote that id); Postfix answers
 * `250 2.0.0 Ok: queued as 4F1AB2C3`. Other replies carry no id we can rely on.
 */
export function providerMessageId(response: string): string | null {
  const line = response.trim().split(/\r?\n/).pop() ?? '';
  const queued = /queued as\s+<?([^\s<>]+)>?/i.exec(line);
  const ses = queued ? null : /^2\d\d[ -](?:\d\.\d\.\d\s+)?Ok:?\s+<?([^\s<>]+)>?\s*$/i.exec(line);
  const id = (queued ?? ses)?.[1];
  // provider_message_id holds 255 characters (PostgreSQL refused a longer one, and with it the
  // whole batch of results); a longer "id" is no id a feedback will quote.
  return id !== undefined && id.length <= MAX_PROVIDER_ID ? id : null;
}

const MAX_PROVIDER_ID = 255;
