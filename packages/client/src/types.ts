/** Request and response shapes of the Postier API, written to match src/messages and src/templates. */

export type MessageStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'partially_sent'
  | 'delivered'
  | 'bounced'
  | 'complaint'
  | 'failed'
  | 'suppressed'
  | 'rate_limited'
  | 'cancelled';

export interface AttachmentInput {
  filename: string;
  content_type: string;
  /** The file's bytes in base64. */
  data_base64: string;
}

/** What every send has, from a template or raw. */
interface SendCommon {
  /** One address, a comma-separated list, or an array: one message per recipient. */
  to: string | string[];
  attachments?: AttachmentInput[];
  cc?: string | string[];
  bcc?: string | string[];
  reply_to?: string;
  /** ISO 8601 with a time zone, at most 30 days ahead: when to send instead of now. */
  send_at?: string;
  /** "Name <address>" or an address the key may use (403 from_not_allowed otherwise); default the configured sender. */
  from?: string;
  /** Default: the template's, or `general` for a raw send. */
  category?: string;
  /** At most 20 short strings. */
  tags?: string[];
  /** A JSON object, at most 4 KB as JSON. */
  metadata?: Record<string, unknown>;
}

/** A send rendered from a stored template. */
export interface TemplateSendRequest extends SendCommon {
  template_key: string;
  variables?: Record<string, unknown>;
  locale?: string;
  template_version?: number;
}

/** A send with its own subject and body: `html` and/or `text` (text is derived from html when absent). */
export interface RawSendRequest extends SendCommon {
  subject: string;
  html?: string;
  text?: string;
  /** `transactional` (default) or `marketing`: rate limits and List-Unsubscribe follow it. */
  class?: string;
}

export type SendRequest = TemplateSendRequest | RawSendRequest;

/** One message of a batch: a send, and the idempotency key that makes retrying it safe. */
export type BatchMessage = SendRequest & { idempotency_key?: string };

/** A batch's answer for one message, in request order: its messages, or its own error. */
export type BatchItem =
  | { index: number; items: SendResultItem[] }
  | { index: number; error: { code: string; message: string; details?: unknown } };

export interface BatchResult {
  items: BatchItem[];
}

export interface SendResultItem {
  id: string;
  to: string;
  status: MessageStatus;
}

export interface SendResult {
  items: SendResultItem[];
}

export interface MessageSummary {
  id: string;
  to: string;
  subject: string;
  status: MessageStatus;
  /** Null for mail sent without a stored template. */
  template_key: string | null;
  category: string;
  created_at: string;
  sent_at: string | null;
  delivered_at: string | null;
}

export interface MessageEvent {
  id: number;
  type: string;
  at: string;
  data: unknown;
}

export interface MessageAttachment {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
}

/** One envelope recipient (to, cc, bcc) of a message and where it stands. */
export interface MessageRecipient {
  address: string;
  kind: 'to' | 'cc' | 'bcc';
  status: 'accepted' | 'deferred' | 'refused' | 'failed' | 'pending' | 'not_sent';
  code: number | null;
  enhanced: string | null;
  response: string | null;
  attempts: number;
  at: string | null;
  relay_problem: string | null;
}

export interface Message extends MessageSummary {
  template_version: number | null;
  locale: string | null;
  class: string;
  source_endpoint: string;
  /** api, batch, smtp, resend, test, cli. */
  source: string;
  from_email: string | null;
  from_name: string | null;
  tags: string[];
  metadata: Record<string, unknown> | null;
  cc: string[];
  bcc: string[];
  reply_to: string | null;
  html_content: string | null;
  text_content: string | null;
  attachments_count: number;
  attempts: number;
  max_attempts: number;
  next_attempt_at: string | null;
  smtp_message_id: string;
  provider_message_id: string | null;
  smtp_response: string | null;
  recipients: MessageRecipient[];
  bounce_type: string | null;
  bounce_subtype: string | null;
  error_message: string | null;
  is_test: boolean;
  resent_from_id: string | null;
  anonymized_at?: string | null;
  updated_at: string | null;
  attachments: MessageAttachment[];
  events: MessageEvent[];
}

export interface ListMessagesQuery {
  to?: string;
  status?: MessageStatus;
  template_key?: string;
  category?: string;
  /** ISO 8601 date-time. */
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

export interface MessagePage {
  items: MessageSummary[];
  total: number;
  next_cursor: string | null;
}

export interface TemplateSummary {
  key: string;
  name: string;
  subject: string;
  category: string;
  class: string;
  version: number;
  is_active: boolean;
}

export interface Template {
  key: string;
  name: string;
  description: string;
  category: string;
  class: string;
  priority: string;
  max_attempts: number;
  is_active: boolean;
  active_version: number;
  version: number;
  default_locale: string;
  layout: string | null;
  attachments_allowed: boolean;
  required_variables: string[];
  optional_variables: string[];
  sensitive_variables: string[];
  sample_variables: Record<string, unknown>;
  subject: string;
  html_content: string;
  text_content: string | null;
  locales: Record<string, { subject: string; html_content: string; text_content: string | null }>;
  [more: string]: unknown;
}
