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

export interface SendRequest {
  /** One address, a comma-separated list, or an array: one message per recipient. */
  to: string | string[];
  template_key: string;
  variables?: Record<string, unknown>;
  attachments?: AttachmentInput[];
  cc?: string | string[];
  bcc?: string | string[];
  reply_to?: string;
  locale?: string;
  template_version?: number;
  /** ISO 8601 with a time zone, at most 30 days ahead: when to send instead of now. */
  send_at?: string;
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
  template_key: string;
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
  template_version: number;
  locale: string;
  class: string;
  source_endpoint: string;
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
