/** Shapes of the Postier HTTP API as the admin UI reads them (see the route schemas in src/). */

export const MESSAGE_STATUSES = ['queued', 'sending', 'sent', 'delivered', 'bounced', 'complaint', 'failed', 'suppressed', 'rate_limited', 'cancelled'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface Page<T> {
  items: T[];
  total: number;
  next_cursor?: string | null;
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
  at: string | null;
  data: unknown;
}

export interface Attachment {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
}

export interface Message extends MessageSummary {
  from?: string;
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
  bounce_type: string | null;
  bounce_subtype: string | null;
  error_message: string | null;
  is_test: boolean;
  resent_from_id: string | null;
  updated_at: string | null;
  attachments: Attachment[];
  events: MessageEvent[];
}

export interface MessageFilter {
  to?: string;
  status?: MessageStatus | '';
  template_key?: string;
  category?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: number;
}

export type StatusCounts = Record<MessageStatus, number>;

export interface Stats {
  generated_at: string;
  days: number;
  today: StatusCounts;
  period: StatusCounts;
  series: { day: string; sent: number; delivered: number; bounced: number; failed: number }[];
  queue: { depth: number; oldest_queued_at: string | null; oldest_age_seconds: number | null };
  latest_failures: { id: string; to: string; subject: string; status: MessageStatus; template_key: string; reason: string | null; at: string }[];
}

export interface LocaleContent {
  subject: string;
  html_content: string;
  text_content: string | null;
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
  priority: 'urgent' | 'normal' | 'low';
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
  locales: Record<string, LocaleContent>;
  updated_at: string | null;
  version_created_by: string | null;
  version_created_at: string | null;
}

export interface TemplateVersionSummary {
  version: number;
  created_at: string | null;
  created_by: string | null;
  comment: string | null;
  is_active?: boolean;
}

export interface RenderError {
  message: string;
  line?: number | null;
  column?: number | null;
  field?: string | null;
}

export interface PreviewRequest {
  subject: string;
  html_content: string;
  text_content?: string | null;
  layout?: string | null;
  variables: Record<string, unknown>;
  locale?: string;
  required_variables?: string[];
}

export interface PreviewResult {
  subject: string;
  html: string;
  text: string;
  missing_variables: string[];
  errors?: RenderError[];
  undeclared_variables?: string[];
  unused_variables?: string[];
}

export interface TestSendRequest {
  variables: Record<string, unknown>;
  to?: string;
  version?: number;
  locale?: string;
}

export interface NewVersionRequest {
  locales: Record<string, LocaleContent>;
  required_variables?: string[];
  optional_variables?: string[];
  sample_variables?: Record<string, unknown>;
  comment?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  scope: 'admin' | 'send';
  prefix: string;
  created_by: string | null;
  created_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface Suppression {
  email: string;
  reason: string;
  source?: string | null;
  created_at: string | null;
  expires_at?: string | null;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  enabled?: boolean;
  description?: string | null;
  created_at: string | null;
  secret?: string;
}

export interface WebhookDelivery {
  id: string | number;
  event: string;
  status: string;
  response_status?: number | null;
  attempts?: number;
  created_at: string | null;
  error?: string | null;
}

export interface InboxSummary {
  id: string;
  from: string;
  to: string | string[];
  subject: string;
  date: string | null;
  size?: number;
}

export interface InboxMessage extends InboxSummary {
  html: string | null;
  text: string | null;
  headers: Record<string, string | string[]> | { key: string; value: string }[];
  attachments: { filename: string; content_type: string; size: number }[];
}
