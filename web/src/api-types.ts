/**
 * Shapes of the Postier HTTP API as the admin UI reads them: aliases of the types generated from the
 * routes' own schemas (api-schema.ts, `npm run contract`). Nothing here is written by hand but names.
 */
import type { Answer, BodyOf, QueryOf } from './api-schema.js';

export type { Answer, BodyOf, QueryOf };
type Item<T> = T extends { items: (infer I)[] } ? I : never;

export type MessageSummary = Item<Answer<'/api/v1/email/messages', 'get'>>;
export type Message = Answer<'/api/v1/email/messages/{id}', 'get'>;
export type MessageStatus = Message['status'];
export type MessageEvent = Message['events'][number];
export type Attachment = Message['attachments'][number];
/** One envelope recipient (to, cc, bcc) of a message and where it stands. */
export type MessageRecipient = NonNullable<Message['recipients']>[number];
/** GET /delivery/relay: the relay's health as the workers last saw it change. */
export type RelayStatus = Item<Answer<'/api/v1/delivery/relay', 'get'>>;
export type MessagePage = Answer<'/api/v1/email/messages', 'get'>;
/** `q` is the search box (operators, partial and case-insensitive matches); see lib/message-search.ts. */
export type MessageFilter = QueryOf<'/api/v1/email/messages', 'get'>;

export type Stats = Answer<'/api/v1/email/stats', 'get'>;
export type StatusCounts = Stats['today'];

export type TemplateSummary = Item<Answer<'/api/v1/email/templates', 'get'>>;
export type Template = Answer<'/api/v1/email/templates/{key}', 'get'>;
export type LocaleContent = Template['locales'][string];
export type TemplateVersions = Answer<'/api/v1/email/templates/{key}/versions', 'get'>;
export type TemplateVersionSummary = TemplateVersions['items'][number];
export type PreviewRequest = BodyOf<'/api/v1/email/templates/preview', 'post'>;
/** POST /email/templates/preview: every problem is data, never a 4xx. Null parts when it could not render. */
export type PreviewResult = Answer<'/api/v1/email/templates/preview', 'post'>;
/** A Liquid problem found by the preview: the part it is in, and where when Liquid says. */
export type RenderError = PreviewResult['errors'][number];
/** What the template reads, against what it declares. */
export type VariableCheck = NonNullable<PreviewResult['variables']>;
export type TestSendRequest = BodyOf<'/api/v1/email/templates/{key}/test', 'post'>;
/** POST /email/templates/:key/test: the render of the saved version, and with `to` the messages sent. */
export type TestSendResult = Answer<'/api/v1/email/templates/{key}/test', 'post'>;
/** PUT /email/templates/:key: only what changes; `locales[l] = null` removes a locale. */
export type TemplateUpdate = BodyOf<'/api/v1/email/templates/{key}', 'put'>;
export type SaveOutcome = Answer<'/api/v1/email/templates/{key}', 'put'>;

export type SendResultItem = Answer<'/api/v1/email/send', 'post', 201>['items'][number];
export type RetryResult = Answer<'/api/v1/email/messages/{id}/retry', 'post'>;
export type ResendResult = Answer<'/api/v1/email/messages/{id}/resend', 'post', 201>;
/** POST /email/recipients/:email/erase */
export type EraseResult = Answer<'/api/v1/email/recipients/{email}/erase', 'post'>;

export type ApiKey = Item<Answer<'/api/v1/keys', 'get'>>;
export type Suppression = Item<Answer<'/api/v1/email/suppressions', 'get'>>;

export type Webhook = Item<Answer<'/api/v1/webhooks', 'get'>> & {
  /** Only in the answer to the creation. */
  secret?: string;
};
export type WebhookDeliveries = Answer<'/api/v1/webhooks/{id}/deliveries', 'get'>;
export type WebhookDelivery = WebhookDeliveries['items'][number];
/** Reports received by mail (the inbound listener, an IMAP mailbox): GET /feedback/reports. */
export type FeedbackReport = Item<Answer<'/api/v1/feedback/reports', 'get'>>;
export type FeedbackReportDetail = Answer<'/api/v1/feedback/reports/{id}', 'get'>;
/** POST /feedback/classify: what the classifier says of a raw message. */
export type Classification = Answer<'/api/v1/feedback/classify', 'post'>;
export type InboxSummary = Item<Answer<'/api/v1/dev/inbox', 'get'>>;
/** GET /dev/inbox/:id: the mail as mailparser reads it. */
export type InboxMessage = Answer<'/api/v1/dev/inbox/{id}', 'get'>;
/** GET …/html-check: which email clients will not render what the HTML uses (caniemail.com data). */
export type HtmlCheck = Answer<'/api/v1/email/messages/{id}/html-check', 'get'>;
/** One link or image source and what is wrong with it. */
export type LinkCheck = Answer<'/api/v1/email/messages/{id}/link-check', 'get'>['links'][number];
/** GET /email/messages/:id/spam-check: SpamAssassin's report. */
export type SpamReport = Answer<'/api/v1/email/messages/{id}/spam-check', 'get'>;

/** Every status a message can have, in the order the UI lists them (the type checks it is complete). */
export const MESSAGE_STATUSES = [
  'scheduled',
  'queued',
  'sending',
  'sent',
  'partially_sent',
  'delivered',
  'captured',
  'bounced',
  'complaint',
  'failed',
  'suppressed',
  'rate_limited',
  'cancelled',
] as const satisfies readonly MessageStatus[];
type Missing = Exclude<MessageStatus, (typeof MESSAGE_STATUSES)[number]>;
/** Fails to compile when the API gains a status the list above lacks. */
export const STATUSES_COMPLETE: [Missing] extends [never] ? true : Missing = true;

export const WEBHOOK_EVENT_TYPES = [
  'sent',
  'partially_sent',
  'captured',
  'delivered',
  'bounced',
  'complaint',
  'failed',
  'auto_replied',
] as const;
/** A sending domain and its last DNS check (GET /domains). */
export type SendingDomain = Item<Answer<'/api/v1/domains', 'get'>>;
/** GET /system: the mode and health an operator checks first. */
export type SystemInfo = Answer<'/api/v1/system', 'get'>;
/** A bounce or complaint as its feedback said it. */
export type Feedback = NonNullable<Message['feedback']>;
