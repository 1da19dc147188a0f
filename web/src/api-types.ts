/** Shapes of the Postier HTTP API as the admin UI reads them (see the route schemas in src/). */

export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'sent',
  'partially_sent',
  'delivered',
  'bounced',
  'complaint',
  'failed',
  'suppressed',
  'rate_limited',
  'cancelled',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface Page<T> {
  items: T[];
  total: number;
  /** Message lists count up to 10,000: above, `total` is 10,000 and this is true. */
  total_capped?: boolean;
  next_cursor?: string | null;
}

export interface List<T> {
  items: T[];
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

/** GET /delivery/relay: the relay's health as the workers last saw it change. */
export interface RelayStatus {
  name: string;
  address: string;
  state: 'ok' | 'problem';
  since: string;
  problem_kind: string | null;
  last_problem: string | null;
  last_problem_at: string | null;
  last_ok_at: string | null;
  updated_at: string;
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
  recipients?: MessageRecipient[];
  bounce_type: string | null;
  bounce_subtype: string | null;
  error_message: string | null;
  is_test: boolean;
  resent_from_id: string | null;
  anonymized_at: string | null;
  updated_at: string | null;
  attachments: Attachment[];
  events: MessageEvent[];
}

export interface MessageFilter {
  /** The search box (operators, partial and case-insensitive matches); see lib/message-search.ts. */
  q?: string;
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
  latest_failures: {
    id: string;
    to: string;
    subject: string;
    status: MessageStatus;
    template_key: string;
    reason: string | null;
    at: string;
  }[];
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
  /** The default locale's content. */
  subject: string;
  html_content: string;
  text_content: string | null;
  locales: Record<string, LocaleContent>;
  created_by: string | null;
  created_at: string | null;
  updated_by: string | null;
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

/** A Liquid problem found by the preview: the part it is in, and where when Liquid says. */
export interface RenderError {
  part: string;
  message: string;
  line?: number;
  column?: number;
}

export interface PreviewRequest {
  subject: string;
  html_content: string;
  text_content?: string | null;
  layout?: string | null;
  variables: Record<string, unknown>;
  locale?: string;
  required_variables?: string[];
  optional_variables?: string[];
  sensitive_variables?: string[];
}

/** What the template reads, against what it declares. */
export interface VariableCheck {
  used: string[];
  undeclared: string[];
  unused: string[];
}

/** POST /email/templates/preview: every problem is data, never a 4xx. Null parts when it could not render. */
export interface PreviewResult {
  subject: string | null;
  html: string | null;
  text: string | null;
  missing_variables: string[];
  errors: RenderError[];
  variables: VariableCheck | null;
}

export interface TestSendRequest {
  variables?: Record<string, unknown>;
  to?: string | string[];
  version?: number;
  locale?: string;
}

export interface SendResultItem {
  id: string;
  to: string;
  status: MessageStatus;
}

/** POST /email/templates/:key/test: the render of the saved version, and with `to` the messages sent. */
export interface TestSendResult {
  template_key: string;
  version: number;
  locale: string;
  subject: string;
  html: string;
  text: string;
  missing_variables: string[];
  messages?: SendResultItem[];
}

/** PUT /email/templates/:key: only what changes; `locales[l] = null` removes a locale. */
export interface TemplateUpdate {
  locales?: Record<string, Partial<LocaleContent> | null>;
  required_variables?: string[];
  optional_variables?: string[];
  sensitive_variables?: string[];
  sample_variables?: Record<string, unknown>;
  layout?: string | null;
  comment?: string;
  /** The version the edit started from: a concurrent save makes this one a 409. */
  base_version?: number;
}

export interface SaveOutcome {
  key: string;
  action: 'created' | 'new_version' | 'unchanged';
  version: number;
  metadata_updated: boolean;
}

export interface TemplateVersionSummary {
  version: number;
  active: boolean;
  comment: string | null;
  default_locale: string;
  locales: string[];
  layout: string | null;
  created_by: string | null;
  created_at: string | null;
}

export interface TemplateVersions {
  key: string;
  active_version: number;
  is_active: boolean;
  items: TemplateVersionSummary[];
  total: number;
}

export interface RetryResult {
  id: string;
  status: 'queued';
}

export interface CancelResult {
  id: string;
  status: 'cancelled';
  cancelled_at: string;
}

export interface ResendResult extends SendResultItem {
  resent_from_id: string;
}

/** POST /email/recipients/:email/erase */
export interface EraseResult {
  address_hash: string;
  messages: number;
  attachments: number;
  copies: number;
  cancelled: number;
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
  id: string;
  email: string;
  /** 'all' or a sending class */
  scope: string;
  reason: 'bounce' | 'complaint' | 'unsubscribe' | 'manual';
  source: string | null;
  source_event: string | null;
  message_id: string | null;
  details: string | null;
  created_by: string | null;
  created_at: string | null;
}

export const WEBHOOK_EVENT_TYPES = ['sent', 'partially_sent', 'delivered', 'bounced', 'complaint', 'failed'] as const;

export interface Webhook {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  is_active: boolean;
  created_by: string | null;
  created_at: string | null;
  updated_at: string | null;
  /** Only in the answer to the creation. */
  secret?: string;
}

export interface WebhookDelivery {
  id: string;
  event_type: string;
  message_id: string | null;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string | null;
  completed_at: string | null;
  payload: unknown;
  attempt_log: { at: string | null; status_code: number | null; duration_ms: number | null; error: string | null }[];
}

export interface WebhookDeliveries {
  items: WebhookDelivery[];
  next_before: string | null;
}

export interface InboxSummary {
  id: string;
  from: string;
  /** The SMTP envelope's recipients. */
  to: string[];
  subject: string;
  date: string | null;
  received_at: string | null;
  size: number;
}

/** GET /dev/inbox/:id: the mail as mailparser reads it. */
export interface InboxMessage {
  id: string;
  received_at: string | null;
  envelope: { from: string; to: string[] };
  size: number;
  message_id: string | null;
  date: string | null;
  from: string;
  to: string;
  cc: string;
  reply_to: string;
  subject: string;
  /** Each header as received (`line` is the whole "Name: value" line). */
  headers: { name: string; line: string }[];
  text: string | null;
  html: string | null;
  attachments: {
    index: number;
    filename: string | null;
    content_type: string;
    size: number;
    content_id: string | null;
  }[];
}
