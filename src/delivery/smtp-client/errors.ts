/**
 * The steps of an SMTP session, each with its own deadline. `data` is the DATA command (its 354),
 * `data_end` the message bytes and the reply to the final dot.
 */
export const SMTP_PHASES = [
  'connect',
  'greeting',
  'ehlo',
  'starttls',
  'auth',
  'mail',
  'rcpt',
  'data',
  'data_end',
  'rset',
  'quit',
] as const;
export type SmtpPhase = (typeof SMTP_PHASES)[number];

/**
 * - timeout: the phase outlasted its deadline (the connection is closed);
 * - connection: refused, reset or closed by the other side;
 * - tls: the handshake failed, or STARTTLS was required and not offered;
 * - protocol: the server said something that is not SMTP, or we had nothing valid to say;
 * - reply: the server answered with a refusal (code, enhanced code and text are set).
 */
export type SmtpErrorKind = 'timeout' | 'connection' | 'tls' | 'protocol' | 'reply';

export interface SmtpErrorDetails {
  phase: SmtpPhase;
  kind: SmtpErrorKind;
  code?: number | null;
  enhanced?: string | null;
  response?: string;
  /** No byte of this transaction had been written (a send may then safely go out elsewhere). */
  nothingSent?: boolean;
}

/** Anything that ended a session or a transaction other than per-recipient refusals. */
export class SmtpError extends Error {
  readonly phase: SmtpPhase;
  readonly kind: SmtpErrorKind;
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly response: string;
  readonly nothingSent: boolean;

  constructor(message: string, details: SmtpErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SmtpError';
    this.phase = details.phase;
    this.kind = details.kind;
    this.code = details.code ?? null;
    this.enhanced = details.enhanced ?? null;
    this.response = details.response ?? message;
    this.nothingSent = details.nothingSent ?? false;
  }
}
