/**
 * Feedback from any relay: Amazon SES through SNS (ses-sns/: received, verified and applied,
 * its route in http.ts), and, not wired yet, the report classifier (bounces, complaints,
 * auto-replies received by mail), the VERP return path, and other providers' webhook verifiers
 * and parsers (pure functions over bytes and objects).
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
export type { HeaderBag, VerifyFailure, VerifyResult, BasicCredentials } from './webhooks/common.js';
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
export { SNS_DEDUPE_DAYS, SnsReceiver, type Outcome as SnsOutcome } from './ses-sns/receiver.js';
