import type { Expression, ExpressionBuilder, Generated, Insertable, Selectable, SqlBool } from 'kysely';

/**
 * Row types of every table. Times are epoch milliseconds; flags are 0/1 integers (SQLite has
 * no boolean and better-sqlite3 cannot bind one); lists and maps are JSON text, so one
 * query layer serves SQLite and PostgreSQL alike.
 */

export interface ApiKeysTable {
  id: string;
  name: string;
  scope: 'admin' | 'send';
  token_hash: string;
  token_prefix: string;
  created_by: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** JSON array of From addresses or domains this key may use; null: any the installation allows. */
  allowed_from: string | null;
}

export interface EmailTemplatesTable {
  id: string;
  key: string;
  name: string;
  description: string;
  category: string;
  class: string;
  priority: number;
  max_attempts: number;
  version: number;
  is_active: number;
  created_by: string | null;
  created_at: number;
  updated_by: string | null;
  updated_at: number;
}

export interface EmailTemplateVersionsTable {
  id: string;
  template_key: string;
  version: number;
  default_locale: string;
  layout: string | null;
  attachments_allowed: number;
  required_variables: string;
  optional_variables: string;
  sensitive_variables: string;
  sample_variables: string;
  comment: string | null;
  created_by: string | null;
  created_at: number;
}

export interface EmailTemplateContentsTable {
  template_key: string;
  version: number;
  locale: string;
  subject: string;
  html_content: string;
  text_content: string | null;
}

export const MESSAGE_STATUSES = [
  /** Accepted with a send_at in the future; becomes `queued` when due. */
  'scheduled',
  'queued',
  'sending',
  'sent',
  /** Final: some envelope recipients accepted, the others refused or given up (see recipient_status). */
  'partially_sent',
  /** Final: delivered to the embedded capture server (no SMTP_HOST), never to a recipient. */
  'captured',
  'delivered',
  'bounced',
  'complaint',
  'failed',
  'suppressed',
  'rate_limited',
  'cancelled',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface EmailMessagesTable {
  id: string;
  /** Null for mail that came without a stored template (raw and batch sends, SMTP submission). */
  template_key: string | null;
  template_version: number | null;
  locale: string | null;
  category: string;
  class: string;
  source_endpoint: string;
  recipient_email: string;
  cc: string | null;
  bcc: string | null;
  reply_to: string | null;
  headers: string | null;
  subject: string;
  /** Bodies written before email_bodies (moved out by a background job; see content/bodies.ts). */
  html_content: string | null;
  text_content: string | null;
  /** The bodies, in email_bodies (shared by the messages of one request); NULL once dropped. */
  body_id: number | null;
  attachments_count: number;
  status: MessageStatus;
  priority: number;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  smtp_message_id: string;
  provider_message_id: string | null;
  smtp_response: string | null;
  sealed_content: Buffer | null;
  sent_at: number | null;
  delivered_at: number | null;
  bounce_type: string | null;
  bounce_subtype: string | null;
  error_message: string | null;
  is_test: number;
  resent_from_id: string | null;
  api_key_id: string | null;
  created_at: number;
  updated_at: number;
  /** Set when retention or erasure hashed the addresses and dropped the bodies. */
  anonymized_at: number | null;
  /** Per envelope recipient (to, cc, bcc): JSON map address → state (see delivery/recipient-status.ts). */
  recipient_status: string | null;
  /** Start of the current run of attempts that met only relay problems (RELAY_PROBLEM_MAX_HOURS). */
  relay_problem_since: number | null;
  /** The sender of this message; null: the configured SMTP_FROM_EMAIL / SMTP_FROM_NAME. */
  from_email: string | null;
  from_name: string | null;
  /** JSON array of the caller's tags, and JSON object of its metadata (both returned in webhooks). */
  tags: string | null;
  metadata: string | null;
  /** The door the message came in by: api, batch, smtp, resend, test, cli. */
  source: Generated<string>;
  /** SMTP submission: the MIME as submitted, in content_blobs (delivered from it, minus Bcc and X-Postier-*). */
  raw_sha256: string | null;
  /** Why the message bounced (feedback/types.ts BounceCategory), when feedback said so. */
  bounce_category: string | null;
  /** A scheduled message: the time it was held until (the queue's age counts from then). */
  send_at: number | null;
}

export interface EmailAttachmentsTable {
  id: string;
  message_id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  /** Of the content, kept as metadata after anonymization or erasure drop the bytes. */
  sha256: string;
  /** Bytes stored in the row by versions before content_blobs (migrated since); not written any more. */
  data: Buffer | null;
  created_at: number;
  /** The content (content_blobs.sha256, a foreign key); NULL once anonymization or erasure dropped it. */
  blob_sha256: string | null;
}

/**
 * Each distinct content once, keyed by its SHA-256 (see src/content/store.ts): a blob lives
 * while a row references it, the collector removes it after that. Its bytes are its parts.
 */
export interface ContentBlobsTable {
  sha256: string;
  /** Of the content (decoded). */
  size_bytes: number;
  /** How the parts hold the content: 'identity' (as is). */
  encoding: string;
  created_at: number;
}

/** Rendered bodies, each once, compressed (content/bodies.ts), referenced by email_messages.body_id. */
export interface EmailBodiesTable {
  id: Generated<number>;
  /** `deflate-json`: raw deflate of the JSON array [html, text]; `br-json`: Brotli of it (bodies written before). */
  encoding: string;
  data: Buffer;
}

/** A content's bytes, 1 MiB a row in `part` order (deleted with their blob). */
export interface ContentBlobPartsTable {
  sha256: string;
  part: number;
  data: Buffer;
}

export interface EmailEventsTable {
  id: Generated<number>;
  message_id: string;
  type: string;
  data: string | null;
  created_at: number;
}

export interface EmailSuppressionsTable {
  id: string;
  email: string;
  /** 'all', or the class an unsubscribe applies to. */
  scope: string;
  reason: 'bounce' | 'complaint' | 'unsubscribe' | 'manual';
  /** ses, api, unsubscribe_link, or the feedback channel: report (by mail), postmark, mailgun, sendgrid, brevo. */
  source: 'ses' | 'api' | 'unsubscribe_link' | 'report' | 'postmark' | 'mailgun' | 'sendgrid' | 'brevo';
  source_event: string | null;
  message_id: string | null;
  details: string | null;
  created_by: string | null;
  created_at: number;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number;
  response_body: string;
  created_at: number;
  expires_at: number;
}

export interface SnsMessagesTable {
  message_id: string;
  type: string;
  topic_arn: string;
  received_at: number;
}

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string;
  event_types: string;
  secret: string;
  is_active: number;
  /** Why Postier paused it itself (a 410 Gone answer); null when active or paused by an operator. */
  paused_reason: string | null;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  message_id: string | null;
  /** The email_events row announced (unique per endpoint); NULL for rows enqueued before the log was tailed. */
  event_id: number | null;
  event_type: string;
  payload: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  completed_at: number | null;
}

export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: string;
  attempted_at: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

/** How far a reader of email_events has read (the webhook enqueuer: `webhooks`). */
export interface EventCursorsTable {
  name: string;
  /** The last email_events.id handled. */
  position: number;
  updated_at: number;
}

/** One row per periodic job: whoever holds an unexpired lease runs it. */
export interface JobLocksTable {
  name: string;
  owner: string | null;
  expires_at: number;
  last_started_at: number | null;
  last_finished_at: number | null;
  last_result: string | null;
}

/** The last DNS check of a sending domain (domains/). */
export interface DomainChecksTable {
  domain: string;
  /** 1 when every check the domain needs passed. */
  verified: number;
  /** The checks as JSON (domains/checks.ts DomainChecks). */
  result: string;
  checked_at: number;
}

/** A running worker and its heartbeat (see platform/workers.ts). */
export interface WorkersTable {
  id: string;
  host: string;
  pid: number;
  process_start: string | null;
  kind: string;
  started_at: number;
  heartbeat_at: number;
  stopping: Generated<number>;
}

export interface CapturedMailTable {
  id: string;
  received_at: number;
  mail_from: string;
  rcpt_to: string;
  from_header: string;
  to_header: string;
  subject: string;
  date: number | null;
  message_id: string | null;
  size: number;
  raw: Buffer;
}

/** The relay's health as the delivery workers last saw it change (GET /api/v1/delivery/relay). */
export interface RelayStatusTable {
  /** `relay` (SMTP_HOST) or `capture`. */
  name: string;
  /** host:port. */
  address: string;
  state: 'ok' | 'problem';
  /** When the current state began. */
  since: number;
  /** The kind and text of the last relay problem (auth, tls, …). */
  problem_kind: string | null;
  last_problem: string | null;
  last_problem_at: number | null;
  last_ok_at: number | null;
  updated_at: number;
}

/** A report received by mail (listener or IMAP), raw, then classified (see src/feedback/reports.ts). */
/** Messages submitted over SMTP, stored before their 250 and not yet turned into messages (accept/submission/spool.ts). */
/**
 * A spooled message taken this many times and still spooled is a suspect: it failed or its
 * ingester died each time. It is stored alone, shown as failing, may be dropped, and no longer
 * holds senders back (flow control). Here, not in accept/, so the System page can count them
 * without loading the accept feature (the delivery thread imports the observability parts).
 */
export const SUSPECT_ATTEMPTS = 3;

/**
 * A spooled message that could not be stored: it has an error, or it is a suspect. The one
 * definition for the spool's list and drop, the System page's count, and flow control (which
 * ignores these rows).
 */
export const spoolRowFailing = (eb: ExpressionBuilder<DB, 'submission_spool'>): Expression<SqlBool> =>
  eb.or([eb('last_error', 'is not', null), eb('attempts', '>=', SUSPECT_ATTEMPTS)]);

export interface SubmissionSpoolTable {
  id: Generated<number>;
  received_at: number;
  api_key_id: string | null;
  envelope_from: string;
  /** JSON array of the envelope recipients (normalized). */
  recipients: string;
  /** JSON array: the id of each recipient's message, given in the 250. */
  message_ids: string;
  smtp_message_id: string;
  from_email: string;
  /** JSON of the X-Postier-* options (category, tags, metadata). */
  options: string | null;
  send_at: number;
  raw: Buffer;
  attempts: Generated<number>;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
}

export interface FeedbackReportsTable {
  id: string;
  received_at: number;
  /** smtp or imap. */
  source: string;
  envelope_from: string | null;
  /** JSON array of the RCPT TO addresses (the listener), or the mailbox it was read from. */
  envelope_to: string | null;
  size: number;
  raw: Buffer;
  dedupe_key: string;
  state: 'pending' | 'classified' | 'failed';
  attempts: Generated<number>;
  lease_owner: string | null;
  lease_expires_at: number | null;
  classified_at: number | null;
  kind: string | null;
  category: string | null;
  recipient: string | null;
  status_code: string | null;
  diagnostic: string | null;
  reason: string | null;
  /** The classifier's whole answer (JSON). */
  classification: string | null;
  message_id: string | null;
  /** verp, message_id, provider_id or none. */
  match_method: string | null;
  /** JSON array of the addresses this report suppressed. */
  suppressed: string | null;
  error: string | null;
}

/** Each applied feedback event once (by its source's dedupe id); the soft-bounce window reads it. */
export interface FeedbackEventsTable {
  id: string;
  dedupe_id: string;
  source: string;
  kind: string;
  recipient: string | null;
  category: string | null;
  final: number;
  message_id: string | null;
  report_id: string | null;
  at: number;
  created_at: number;
}

/** One-time tokens of signed provider webhooks (Mailgun), until their timestamp expires. */
export interface FeedbackReplayTokensTable {
  token: string;
  expires_at: number;
}

export interface DB {
  api_keys: ApiKeysTable;
  email_templates: EmailTemplatesTable;
  email_template_versions: EmailTemplateVersionsTable;
  email_template_contents: EmailTemplateContentsTable;
  email_messages: EmailMessagesTable;
  email_attachments: EmailAttachmentsTable;
  content_blobs: ContentBlobsTable;
  content_blob_parts: ContentBlobPartsTable;
  email_bodies: EmailBodiesTable;
  email_events: EmailEventsTable;
  email_suppressions: EmailSuppressionsTable;
  idempotency_keys: IdempotencyKeysTable;
  sns_messages: SnsMessagesTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  job_locks: JobLocksTable;
  domain_checks: DomainChecksTable;
  workers: WorkersTable;
  event_cursors: EventCursorsTable;
  captured_mail: CapturedMailTable;
  relay_status: RelayStatusTable;
  feedback_reports: FeedbackReportsTable;
  submission_spool: SubmissionSpoolTable;
  feedback_events: FeedbackEventsTable;
  feedback_replay_tokens: FeedbackReplayTokensTable;
}

export type ApiKeyRow = Selectable<ApiKeysTable>;
export type TemplateRow = Selectable<EmailTemplatesTable>;
export type TemplateVersionRow = Selectable<EmailTemplateVersionsTable>;
export type TemplateContentRow = Selectable<EmailTemplateContentsTable>;
export type MessageRow = Selectable<EmailMessagesTable>;

/** A message's `cc` or `bcc` column (a JSON array of addresses, as the send path writes it) as a list. */
export const addressList = (json: string | null): string[] => (json ? (JSON.parse(json) as string[]) : []);

/** A message's copies: its cc, then its bcc. */
export const copiesOf = (m: Pick<MessageRow, 'cc' | 'bcc'>): string[] => [...addressList(m.cc), ...addressList(m.bcc)];
export type NewMessage = Insertable<EmailMessagesTable>;
export type AttachmentRow = Selectable<EmailAttachmentsTable>;
export type EventRow = Selectable<EmailEventsTable>;
export type SuppressionRow = Selectable<EmailSuppressionsTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type RelayStatusRow = Selectable<RelayStatusTable>;
export type FeedbackReportRow = Selectable<FeedbackReportsTable>;
export type SpoolRow = Selectable<SubmissionSpoolTable>;
