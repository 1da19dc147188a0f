/**
 * Postier's SMTP client: sessions with a deadline on every phase, per-recipient results, and
 * the reply details (code, enhanced code, text) the delivery rules classify. Used by the pool in
 * ../smtp-pool.ts; nothing outside this folder imports its files but this one.
 */
export { SmtpConnection, parseExtensions } from './connection.js';
export type {
  Extensions,
  RecipientReply,
  SendResult,
  SmtpClientOptions,
  SmtpEnvelope,
  SmtpSecurity,
} from './connection.js';
export { dotStuff } from './dot-stuffing.js';
export { SMTP_PHASES, SmtpError } from './errors.js';
export type { SmtpErrorDetails, SmtpErrorKind, SmtpPhase } from './errors.js';
export { enhancedCode, ReplyReader } from './reply.js';
export type { Reply } from './reply.js';
