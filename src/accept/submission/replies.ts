import { AppError } from '../../platform/errors.js';

/**
 * An SMTP refusal: the reply code, the enhanced status code (RFC 3463) written at the start of
 * the text, and a short machine-readable reason (the `reason` label of the refused counter, and
 * the first word after the enhanced code). smtp-server sends `responseCode` and `message`.
 */
export class SmtpReply extends Error {
  readonly responseCode: number;
  constructor(
    code: number,
    readonly enhanced: string,
    readonly reason: string,
    text: string,
  ) {
    // One line, bounded: a reply is at most 512 octets (RFC 5321 §4.5.3.1.5).
    super(`${enhanced} ${reason}: ${text.replace(/[\r\n]+/g, ' ').slice(0, 400)}`);
    this.responseCode = code;
  }
}

/** Refusals of what the client sent: a retry of the same message would meet the same answer. */
const PERMANENT: Record<string, [number, string]> = {
  invalid_address: [553, '5.1.3'],
  too_many_recipients: [452, '4.5.3'],
  from_not_allowed: [550, '5.7.1'],
  domain_not_verified: [550, '5.7.1'],
};

/**
 * The reply for an error of the send path. The caller's mistakes (AppError 4xx) are permanent
 * refusals with the error's code; anything else (the database is unavailable, a commit failed) is
 * a temporary failure: nothing was stored, and the client tries again later.
 */
export function replyFor(e: unknown): SmtpReply {
  if (e instanceof SmtpReply) return e;
  if (e instanceof AppError && e.status < 500) {
    const [code, enhanced] = PERMANENT[e.code] ?? [554, '5.6.0'];
    return new SmtpReply(code, enhanced, e.code, e.message);
  }
  return new SmtpReply(451, '4.3.0', 'unavailable', 'The message could not be stored; try again later');
}
