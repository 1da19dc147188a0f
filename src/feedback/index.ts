/**
 * Feedback from any relay, all applied by one function (apply.ts): Amazon SES through SNS
 * (ses-sns/), Postmark, Mailgun, SendGrid and Brevo webhooks (providers.ts over webhooks/),
 * and reports received by mail (intake/: the inbound SMTP listener and the IMAP poller store
 * them raw, the processor classifies them off the API's loop). The VERP return path
 * (return-path.ts, verp.ts) names each message in its envelope sender.
 *
 * The delivery thread imports return-path.ts and intake/processor.ts directly, not this index:
 * it must not load the listener's smtp-server (`.dependency-cruiser-threads.cjs`).
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
export {
  applyFeedback,
  type AppliedFeedback,
  type ApplyContext,
  type FeedbackSource,
  findFeedbackMessage,
  type SuppressionRules,
} from './apply.js';
export { returnPathFor, verpKey, verpMessageId } from './return-path.js';
export { DatabaseReplayCache, PROVIDERS, type ProviderName, ProviderWebhooks } from './providers.js';
export { type IncomingReport, storeReport } from './intake/store.js';
export { FeedbackProcessor, MAX_REPORT_ATTEMPTS } from './intake/processor.js';
export { type InboundListener, startInboundListener } from './intake/listener.js';
export { ImapPoller, parseImapUrl, type PollResult } from './intake/imap.js';
