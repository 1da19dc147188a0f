/**
 * What every feedback source (a report by mail, a provider's webhook) is turned into. The same
 * shapes whatever the relay, so one piece of code can apply them to messages and suppressions.
 */

/** Why a bounce happened, as far as the status code and the diagnostic text tell. */
export type BounceCategory =
  | 'unknown_user'
  | 'mailbox_full'
  | 'domain_not_found'
  | 'policy_or_spam_block'
  | 'message_too_large'
  | 'network'
  | 'other';

export const BOUNCE_CATEGORIES: readonly BounceCategory[] = [
  'unknown_user',
  'mailbox_full',
  'domain_not_found',
  'policy_or_spam_block',
  'message_too_large',
  'network',
  'other',
];

/**
 * hard_bounce: the receiver refused for good (5.x.x). soft_bounce: a temporary failure (4.x.x), either
 * given up on (`final`) or still being retried (a delay warning). delivered: a success DSN.
 * unsubscribe: a request by mail (RFC 2369 mailto, Apple Mail's, an ARF opt-out).
 */
export type ReportKind =
  | 'hard_bounce'
  | 'soft_bounce'
  | 'complaint'
  | 'unsubscribe'
  | 'auto_reply'
  | 'delivered'
  | 'unclassified';

/** Where the category came from: the enhanced status code, the diagnostic text, or neither. */
export type CategorySource = 'status' | 'diagnostic' | 'default';

/** The family of the report, for an admin's "why" view and for the corpus figures. */
export type ReportFormat =
  | 'dsn'
  | 'arf'
  | 'mdn'
  | 'postfix'
  | 'exim'
  | 'qmail'
  | 'sendmail'
  | 'exchange'
  | 'gmail'
  | 'yahoo'
  | 'domino'
  | 'courier'
  | 'hmailserver'
  | 'smartermail'
  | 'groupwise'
  | 'mdaemon'
  | 'generic_bounce'
  | 'auto_reply'
  | 'none';

/** One recipient of a report (a DSN or ARF may cover several). */
export interface RecipientReport {
  /** Lowercased; the original recipient when the report gives it (what we sent to), else the final one. */
  recipient: string | null;
  finalRecipient: string | null;
  originalRecipient: string | null;
  /** RFC 3464 Action (failed, delayed, delivered, relayed, expanded), or null when the report has none. */
  action: string | null;
  /** Enhanced status code (RFC 3463), e.g. 5.1.1, from the Status field or the diagnostic text. */
  status: string | null;
  diagnostic: string | null;
  remoteMta: string | null;
  kind: ReportKind;
  category: BounceCategory | null;
  categorySource: CategorySource | null;
  /** The reporting MTA gave up on this recipient (false for a delay warning). */
  final: boolean;
  /** Whether this failure says the address itself is bad (see suppressesAddress). */
  suppress: boolean;
}

/** What the report says about the message it is about. */
export interface OriginalMessage {
  /** The most reliable Message-ID found (<…>), to match the report to its message when there is no VERP token. */
  messageId: string | null;
  /** Every Message-ID found, most reliable first (returned headers, DSN fields, In-Reply-To, References, text). */
  messageIdCandidates: string[];
  from: string | null;
  /** The original envelope sender (X-Postfix-Sender, ARF Original-Mail-From, the returned Return-Path): may hold a VERP address. */
  envelopeFrom: string | null;
  to: string | null;
  subject: string | null;
}

/** The report's own headers that the wiring may need (the VERP address may be in To, Delivered-To or X-Original-To). */
export interface ReportHeaders {
  from: string | null;
  subject: string | null;
  messageId: string | null;
  date: string | null;
  /** Lowercased addresses of Delivered-To, X-Original-To, To and Envelope-To, in that order. */
  addressedTo: string[];
}

export interface Classification {
  kind: ReportKind;
  /** For bounces: the worst recipient's category. Null for anything that is not a bounce. */
  category: BounceCategory | null;
  categorySource: CategorySource | null;
  /** For bounces and complaints: the failed or complaining address; for an auto-reply: its sender. Lowercased. */
  recipient: string | null;
  status: string | null;
  diagnostic: string | null;
  reportingMta: string | null;
  /** ARF Feedback-Type (abuse, fraud, virus, other, not-spam, auth-failure), lowercased. */
  feedbackType: string | null;
  /** ARF User-Agent (who sent the complaint, e.g. "Yahoo!-Mail-Feedback/2.0"). */
  feedbackAgent: string | null;
  final: boolean;
  suppress: boolean;
  /** For an unsubscribe request "unsubscribe <token>" (Postier's List-Unsubscribe mailto): the token. */
  unsubscribeToken: string | null;
  recipients: RecipientReport[];
  original: OriginalMessage;
  report: ReportHeaders;
  format: ReportFormat;
  /** A short machine-readable code for the decision, e.g. dsn_failed_permanent, vacation_subject, no_report_signals. */
  reason: string;
  /** The signals behind the decision, as short key=value strings, for an admin's "why was this a bounce" view. */
  evidence: string[];
}

export interface ClassifyOptions {
  /** Bytes of the report read at most (the rest is ignored). Default 1 MiB. */
  maxBytes?: number;
  /** MIME parts examined at most. Default 64. */
  maxParts?: number;
  /** Bytes of each text part decoded at most. Default 64 KiB. */
  maxTextBytes?: number;
  /** The report's SMTP envelope sender when known: '' for the null sender <> that bounces use. */
  envelopeFrom?: string | null;
}

/** The provider (or channel) a normalised event came from. */
export type FeedbackProvider = 'postmark' | 'mailgun' | 'sendgrid' | 'brevo' | 'report' | 'ses';

export type FeedbackEventKind =
  | 'delivered'
  | 'hard_bounce'
  | 'soft_bounce'
  | 'complaint'
  | 'unsubscribe'
  | 'resubscribe'
  | 'auto_reply'
  | 'dropped'
  | 'other';

/** One normalised feedback event, whatever its source. */
export interface FeedbackEvent {
  provider: FeedbackProvider;
  kind: FeedbackEventKind;
  /** Lowercased recipient address, or null when the source redacted it. */
  recipient: string | null;
  /** When the provider says it happened, epoch milliseconds (the receive time when it says nothing). */
  at: number;
  /** The provider's own id for the message (what its send API or SMTP 250 answered), when given. */
  providerMessageId: string | null;
  /** Our Message-ID header (<…>), when the provider echoes it. */
  messageIdHeader: string | null;
  category: BounceCategory | null;
  status: string | null;
  diagnostic: string | null;
  /** The recipient's address should stop receiving mail (hard bounce of a bad address, complaint, unsubscribe). */
  suppress: boolean;
  /** Delivery was given up (false for a deferral the provider will retry). */
  final: boolean;
  /** Stable across retries of the same event: use it to record each event once. */
  dedupeId: string;
  /** The provider's own event name and type (e.g. "failed/permanent", "HardBounce"), for the event log. */
  providerEvent: string;
  /** The provider's event as received, for the event log. */
  raw: unknown;
}
