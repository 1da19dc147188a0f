/**
 * What an SMTP outcome means for the message. Kept apart from the transport so the rules
 * (5xx is final, everything else is worth another try) are plain functions, tested alone.
 */

export interface SmtpSuccess {
  ok: true;
  code: number;
  /** The relay's whole reply line(s), kept as smtp_response. */
  response: string;
  /** Recipients the relay refused while accepting others (cc/bcc), if any. */
  rejected: string[];
}

export interface SmtpFailure {
  ok: false;
  /** Reply code when the server answered; null for timeouts and broken connections. */
  code: number | null;
  response: string;
  /** Nodemailer's error code (ETIMEDOUT, ECONNECTION, EENVELOPE, …). */
  errorCode: string | null;
  permanent: boolean;
}

export type SmtpOutcome = SmtpSuccess | SmtpFailure;

// Not the message's fault: a wrong password or broken TLS setup must not fail every message for
// good on the first try; the backoff gives the operator time to fix it.
const CONFIG_ERRORS = new Set(['EAUTH', 'ETLS', 'ECONFIG', 'EREQUIRETLS']);

/**
 * Turns whatever Nodemailer threw into an outcome: a 5xx reply is permanent, the rest retries.
 * 503 (bad sequence of commands) is the exception RFC 5321 allows: it says the session was in
 * the wrong state for the command, not that the message was refused, and a new connection may
 * take it.
 */
export function failureFrom(error: unknown): SmtpFailure {
  const e = (error ?? {}) as { responseCode?: unknown; response?: unknown; code?: unknown; message?: unknown };
  const code = typeof e.responseCode === 'number' ? e.responseCode : null;
  const errorCode = typeof e.code === 'string' ? e.code : null;
  const response = typeof e.response === 'string' && e.response ? e.response : String(e.message ?? error);
  const permanent = code !== null && code >= 500 && code < 600 && code !== 503 && !(errorCode !== null && CONFIG_ERRORS.has(errorCode));
  return { ok: false, code, response, errorCode, permanent };
}

/** The reply code at the start of a reply line ("250 Ok …" → 250). */
export function replyCode(response: string): number {
  const m = /^(\d{3})/.exec(response.trim());
  return m ? Number(m[1]) : 250;
}

/**
 * The relay's own id for the message, from its 2xx reply. Amazon SES answers
 * `250 Ok <ses-message-id>` (bounce notifications quote that id); Postfix answers
 * `250 2.0.0 Ok: queued as 4F1AB2C3`. Other replies carry no id we can rely on.
 */
export function providerMessageId(response: string): string | null {
  const line = response.trim().split(/\r?\n/).pop() ?? '';
  const queued = /queued as\s+<?([^\s<>]+)>?/i.exec(line);
  if (queued) return queued[1]!;
  const ses = /^2\d\d[ -](?:\d\.\d\.\d\s+)?Ok:?\s+<?([^\s<>]+)>?\s*$/i.exec(line);
  return ses ? ses[1]! : null;
}
