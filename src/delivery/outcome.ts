import { cutWhole, storable } from '../platform/storable.js';
import { SmtpError, type SendResult, type SmtpErrorKind, type SmtpPhase } from './smtp-client/index.js';

/**
 * What one attempt produced, as the transport reports it to the delivery rules (decide.ts):
 * either the transaction ran (each recipient's RCPT reply and the reply to the final dot), or
 * something ended it before that (the session, MAIL FROM, DATA, a deadline, the build).
 */
export interface ReplyFacts {
  code: number | null;
  enhanced: string | null;
  response: string;
}

export interface RecipientFacts extends ReplyFacts {
  address: string;
  /** The relay said 2xx to RCPT TO. */
  accepted: boolean;
}

export interface TransactionOutcome {
  type: 'transaction';
  /** The relay that answered, when there are fallbacks (its transportName). */
  relay?: string;
  recipients: RecipientFacts[];
  /** The reply to the final dot; null when no recipient was accepted. */
  data: ReplyFacts | null;
}

export interface FailureOutcome extends ReplyFacts {
  type: 'failure';
  /** The relay that answered, when there are fallbacks (its transportName). */
  relay?: string;
  phase: SmtpPhase | 'build';
  kind: SmtpErrorKind | 'build';
  /** A build failure that no retry can cure (attachment bytes purged). */
  permanent?: boolean;
}

export type SmtpOutcome = TransactionOutcome | FailureOutcome;

/** The most of a reply's text an attempt keeps (RFC 5321 allows 512 octets a line; refusals run to a few lines). */
export const MAX_REPLY_CHARS = 2000;
const HEAD_CHARS = 1000;
const TAIL_CHARS = 900;

/**
 * A relay's text as the attempt records it: in smtp_response, error_message, recipient_status,
 * the events and relay_status. Whatever the relay sent (up to the client's 64 KiB a reply, NUL,
 * a 10,000-line reply), it is storable on both databases (a NUL made PostgreSQL refuse the
 * whole batch of completions, and the messages in it were sent again) and at most about
 * MAX_REPLY_CHARS: its start and its end (the last line carries a relay's queue id), the middle
 * cut out and counted. Costs nothing measurable on an ordinary reply.
 */
export function replyText(s: string): string {
  if (s.length <= MAX_REPLY_CHARS) return storable(s);
  // Cut between characters: a UTF-8 reply's emoji or CJK extension is not split into U+FFFD.
  const head = cutWhole(s, HEAD_CHARS);
  const tail = /^[\uDC00-\uDFFF]/.test(s.slice(-TAIL_CHARS)) ? s.slice(1 - TAIL_CHARS) : s.slice(-TAIL_CHARS);
  return storable(`${head}\n[… ${s.length - head.length - tail.length} characters cut …]\n${tail}`);
}

export function transactionOutcome(r: SendResult): TransactionOutcome {
  return {
    type: 'transaction',
    recipients: r.recipients.map((x) => ({
      address: x.address,
      accepted: x.accepted,
      code: x.code,
      enhanced: x.enhanced,
      response: replyText(x.response),
    })),
    data: r.data ? { code: r.data.code, enhanced: r.data.enhanced, response: replyText(r.data.text) } : null,
  };
}

export function failureOutcome(e: unknown): FailureOutcome {
  if (e instanceof SmtpError)
    return {
      type: 'failure',
      phase: e.phase,
      kind: e.kind,
      code: e.code,
      enhanced: e.enhanced,
      response: replyText(e.response),
    };
  // Not an SMTP failure (a bug, a closed pool): worth another try, like a broken connection.
  return {
    type: 'failure',
    phase: 'connect',
    kind: 'connection',
    code: null,
    enhanced: null,
    response: replyText(e instanceof Error ? e.message : String(e)),
  };
}

/** The short code an attempt event carries (continuity with earlier events: ETIMEDOUT, ECONNECTION, …). */
export function errorCodeOf(o: FailureOutcome): string {
  switch (o.kind) {
    case 'timeout':
      return 'ETIMEDOUT';
    case 'connection':
      return 'ECONNECTION';
    case 'tls':
      return 'ETLS';
    case 'protocol':
      return 'EPROTOCOL';
    case 'build':
      return 'EBUILD';
    case 'reply':
      if (o.phase === 'auth') return 'EAUTH';
      if (o.phase === 'mail' || o.phase === 'rcpt') return 'EENVELOPE';
      if (o.phase === 'data' || o.phase === 'data_end') return 'EMESSAGE';
      return 'EPROTOCOL';
  }
}
