/**
 * Feedback from any relay: the report classifier (bounces, complaints, auto-replies received by
 * mail), the VERP return path, and the providers' webhook verifiers and parsers. Pure functions
 * over bytes and objects: the wiring (SMTP listener, IMAP, routes, database) lives elsewhere.
 */
export type {
  BounceCategory,
  CategorySource,
  Classification,
  ClassifyOptions,
  FeedbackEvent,
  FeedbackEventKind,
  FeedbackProvider,
  OriginalMessage,
  RecipientReport,
  ReportFormat,
  ReportHeaders,
  ReportKind,
} from './types.js';
export { BOUNCE_CATEGORIES } from './types.js';
export { classifyReport } from './classify.js';
export { categorise, suppressesAddress, type Categorised } from './category.js';
export { decodeVerpAddress, encodeVerpAddress, type VerpOptions, type VerpSecret } from './verp.js';
export { eventsFromReport, type ReportEventOptions } from './report-events.js';
export { type HeaderBag, type VerifyFailure, type VerifyResult, type BasicCredentials } from './webhooks/common.js';
export { MemoryReplayCache, type ReplayCache } from './webhooks/replay-cache.js';
export { parsePostmark, verifyPostmark, type PostmarkAuth } from './webhooks/postmark.js';
export { parseMailgun, verifyMailgun, type MailgunVerifyOptions } from './webhooks/mailgun.js';
export {
  parseSendGrid,
  sendGridPublicKey,
  verifySendGrid,
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  type SendGridVerifyOptions,
} from './webhooks/sendgrid.js';
export { parseBrevo, verifyBrevo, type BrevoAuth } from './webhooks/brevo.js';
