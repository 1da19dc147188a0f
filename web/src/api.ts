/**
 * The one module that talks to the Postier HTTP API. Components call these functions, never
 * fetch. Every call carries the session's admin token; a 401 ends the session.
 */
import type {
  Answer,
  Classification,
  BodyOf,
  EraseResult,
  FeedbackReportDetail,
  HtmlCheck,
  InboxMessage,
  Message,
  MessageFilter,
  PreviewRequest,
  QueryOf,
  PreviewResult,
  ResendResult,
  RetryResult,
  SpamReport,
  Stats,
  Template,
  TemplateUpdate,
  TemplateVersions,
  TestSendRequest,
  TestSendResult,
  WebhookDeliveries,
} from './api-types.js';
import { getToken, setToken } from './session.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Retry-After, in seconds, when the server sent one (429 too_many_failed_logins, 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** True when the server has no such route (an API this server version does not offer yet). */
export const isNotAvailable = (e: unknown): boolean =>
  e instanceof ApiError &&
  (e.status === 404 || e.status === 405) &&
  e.code === 'not_found' &&
  /^No route/.test(e.message);

type Query = Record<string, string | number | boolean | undefined | null>;

function url(path: string, query?: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return `/api/v1${path}${s ? `?${s}` : ''}`;
}

async function send(
  method: string,
  path: string,
  opts: {
    query?: Query;
    body?: unknown;
    token?: string;
    raw?: { type: string; text: string };
    signal?: AbortSignal;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = opts.token ?? getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.raw) headers['content-type'] = opts.raw.type;
  const res = await fetch(url(path, opts.query), {
    method,
    headers,
    body: opts.raw ? opts.raw.text : opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
  });
  if (res.ok) return res;
  let code = 'http_error';
  let message = `${res.status} ${res.statusText}`;
  let details: unknown;
  try {
    const j = (await res.json()) as { error?: { code?: string; message?: string; details?: unknown } };
    code = j.error?.code ?? code;
    message = j.error?.message ?? message;
    details = j.error?.details;
  } catch {
    /* not JSON: keep the status line */
  }
  if (res.status === 401 && !opts.token) setToken(null);
  const retryAfter = Number(res.headers.get('retry-after') ?? Number.NaN);
  throw new ApiError(res.status, code, message, details, Number.isFinite(retryAfter) ? retryAfter : undefined);
}

const json = async <T>(
  method: string,
  path: string,
  opts?: { query?: Query; body?: unknown; token?: string },
): Promise<T> => {
  const res = await send(method, path, opts);
  return (res.status === 204 ? undefined : await res.json()) as T;
};

const seg = encodeURIComponent;

export const api = {
  /** Checks a token before keeping it: only admin keys may use the UI. */
  checkToken: (token: string) => json<Answer<'/api/v1/keys', 'get'>>('GET', '/keys', { token }),

  relayStatus: () => json<Answer<'/api/v1/delivery/relay', 'get'>>('GET', '/delivery/relay'),
  /** Mode (relay or capture), transports, DKIM, feedback, readiness, version, database. */
  system: () => json<Answer<'/api/v1/system', 'get'>>('GET', '/system'),
  /** Spooled SMTP submissions that could not be stored (docs/submission.md#the-spool). */
  spoolFailing: () =>
    json<Answer<'/api/v1/system/submission-spool', 'get'>>('GET', '/system/submission-spool', {
      query: { failing: true, limit: 100 },
    }),
  spoolRaw: async (id: number): Promise<Blob> => (await send('GET', `/system/submission-spool/${id}/raw`)).blob(),
  retrySpooled: (id: number) =>
    json<Answer<'/api/v1/system/submission-spool/{id}/retry', 'post'>>('POST', `/system/submission-spool/${id}/retry`),
  dropSpooled: (id: number) =>
    json<Answer<'/api/v1/system/submission-spool/{id}', 'delete'>>('DELETE', `/system/submission-spool/${id}`),
  /** The sending domains and their last DNS check. */
  domains: () => json<Answer<'/api/v1/domains', 'get'>>('GET', '/domains'),
  /** Checks a sending domain's DNS now. */
  checkDomain: (domain: string) =>
    json<Answer<'/api/v1/domains/{domain}/check', 'post'>>('POST', `/domains/${seg(domain)}/check`),
  stats: (days: number) =>
    json<Stats>('GET', '/email/stats', { query: { days, tz_offset: -new Date().getTimezoneOffset() } }),

  messages: (f: MessageFilter) =>
    json<Answer<'/api/v1/email/messages', 'get'>>('GET', '/email/messages', { query: { ...f } }),
  message: (id: string) => json<Message>('GET', `/email/messages/${seg(id)}`),
  /** Only a failed message: back to the queue with a fresh attempt budget. */
  retryMessage: (id: string) => json<RetryResult>('POST', `/email/messages/${seg(id)}/retry`),
  /** Only a queued message. */
  cancelMessage: (id: string) =>
    json<Answer<'/api/v1/email/messages/{id}', 'delete'>>('DELETE', `/email/messages/${seg(id)}`),
  /** A new message with the archived content; 409 when the archive is masked or erased. */
  resendMessage: (id: string) => json<ResendResult>('POST', `/email/messages/${seg(id)}/resend`),
  /** Checks of the archived content (sensitive values stay masked); each loads when its tab opens. */
  messageHtmlCheck: (id: string) => json<HtmlCheck>('GET', `/email/messages/${seg(id)}/html-check`),
  messageLinkCheck: (id: string) =>
    json<Answer<'/api/v1/email/messages/{id}/link-check', 'get'>>('GET', `/email/messages/${seg(id)}/link-check`),
  /** 409 spam_check_unavailable without a spamd (SPAMD_ADDRESS). */
  messageSpamCheck: (id: string) => json<SpamReport>('GET', `/email/messages/${seg(id)}/spam-check`),
  attachment: async (messageId: string, attachmentId: string): Promise<Blob> =>
    (await send('GET', `/email/messages/${seg(messageId)}/attachments/${seg(attachmentId)}`)).blob(),

  templates: () =>
    json<Answer<'/api/v1/email/templates', 'get'>>('GET', '/email/templates', { query: { include_inactive: true } }),
  template: (key: string) => json<Template>('GET', `/email/templates/${seg(key)}`),
  templateVersions: (key: string) => json<TemplateVersions>('GET', `/email/templates/${seg(key)}/versions`),
  templateVersion: (key: string, version: number) =>
    json<Template>('GET', `/email/templates/${seg(key)}/versions/${version}`),
  /** A new version (made active) when the content changed; `saved` says what happened. */
  saveTemplateVersion: (key: string, body: TemplateUpdate) =>
    json<Answer<'/api/v1/email/templates/{key}', 'put'>>('PUT', `/email/templates/${seg(key)}`, { body }),
  activateTemplateVersion: (key: string, version: number) =>
    json<Answer<'/api/v1/email/templates/{key}/activate', 'post'>>('POST', `/email/templates/${seg(key)}/activate`, {
      body: { version },
    }),
  createTemplate: (body: BodyOf<'/api/v1/email/templates', 'post'>) =>
    json<Answer<'/api/v1/email/templates', 'post', 201>>('POST', '/email/templates', { body }),
  duplicateTemplate: (key: string, newKey: string, name?: string) =>
    json<Answer<'/api/v1/email/templates/{key}/duplicate', 'post', 201>>(
      'POST',
      `/email/templates/${seg(key)}/duplicate`,
      { body: { key: newKey, ...(name ? { name } : {}) } },
    ),
  /** Sends of the key are refused until it is activated again; every version stays. */
  deactivateTemplate: (key: string) =>
    json<Answer<'/api/v1/email/templates/{key}', 'delete'>>('DELETE', `/email/templates/${seg(key)}`),
  activateTemplate: (key: string) =>
    json<Answer<'/api/v1/email/templates/{key}/activate', 'post'>>('POST', `/email/templates/${seg(key)}/activate`, {
      body: {},
    }),
  /** Deletes a template no message used (409 otherwise: deactivate it instead). */
  deleteTemplate: (key: string) =>
    json<Answer<'/api/v1/email/templates/{key}/delete', 'post'>>('POST', `/email/templates/${seg(key)}/delete`),
  testTemplate: (key: string, body: TestSendRequest) =>
    json<TestSendResult>('POST', `/email/templates/${seg(key)}/test`, { body }),
  preview: (body: PreviewRequest) => json<PreviewResult>('POST', '/email/templates/preview', { body }),
  layouts: () => json<Answer<'/api/v1/email/layouts', 'get'>>('GET', '/email/layouts'),

  keys: () => json<Answer<'/api/v1/keys', 'get'>>('GET', '/keys'),
  createKey: (name: string, scope: 'admin' | 'send', allowedFrom?: string[]) =>
    json<Answer<'/api/v1/keys', 'post', 201>>('POST', '/keys', {
      body: { name, scope, ...(allowedFrom?.length ? { allowed_from: allowedFrom } : {}) },
    }),
  revokeKey: (id: string) => json<Answer<'/api/v1/keys/{id}', 'delete'>>('DELETE', `/keys/${seg(id)}`),

  suppressions: (email?: string) =>
    json<Answer<'/api/v1/email/suppressions', 'get'>>('GET', '/email/suppressions', { query: { email, limit: 200 } }),
  addSuppression: (email: string, details?: string) =>
    json<Answer<'/api/v1/email/suppressions', 'post', 201>>('POST', '/email/suppressions', {
      body: { email, ...(details ? { details } : {}) },
    }),
  removeSuppressionById: (id: string) => json<void>('DELETE', `/email/suppressions/${seg(id)}`),
  /** Lifts every suppression of the address (all scopes). */
  removeSuppression: (email: string) =>
    json<Answer<'/api/v1/email/suppressions', 'delete'>>('DELETE', '/email/suppressions', { query: { email } }),
  /** Right to erasure: hashes the address, drops bodies and attachments, cancels what was not sent. */
  eraseRecipient: (email: string) => json<EraseResult>('POST', `/email/recipients/${seg(email)}/erase`),

  webhooks: () => json<Answer<'/api/v1/webhooks', 'get'>>('GET', '/webhooks'),
  createWebhook: (url: string, event_types: string[]) =>
    json<Answer<'/api/v1/webhooks', 'post', 201>>('POST', '/webhooks', { body: { url, event_types } }),
  deleteWebhook: (id: string) => json<void>('DELETE', `/webhooks/${seg(id)}`),
  updateWebhook: (id: string, body: BodyOf<'/api/v1/webhooks/{id}', 'patch'>) =>
    json<Answer<'/api/v1/webhooks/{id}', 'patch'>>('PATCH', `/webhooks/${seg(id)}`, { body }),
  testWebhook: (id: string) =>
    json<Answer<'/api/v1/webhooks/{id}/test', 'post', 202>>('POST', `/webhooks/${seg(id)}/test`),
  retryWebhookDelivery: (id: string, deliveryId: string) =>
    json<Answer<'/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry', 'post', 202>>(
      'POST',
      `/webhooks/${seg(id)}/deliveries/${seg(deliveryId)}/retry`,
    ),
  /** A new signing secret, shown once. */
  rotateWebhookSecret: (id: string) =>
    json<Answer<'/api/v1/webhooks/{id}/secret', 'post'>>('POST', `/webhooks/${seg(id)}/secret`),
  webhookDeliveries: (id: string) =>
    json<WebhookDeliveries>('GET', `/webhooks/${seg(id)}/deliveries`, { query: { limit: 20 } }),

  /** Reports received by mail: a message's (`message_id`), or those needing an admin (`attention`). */
  feedbackReports: (query: QueryOf<'/api/v1/feedback/reports', 'get'>) =>
    json<Answer<'/api/v1/feedback/reports', 'get'>>('GET', '/feedback/reports', { query: { limit: 100, ...query } }),
  feedbackReport: (id: string) => json<FeedbackReportDetail>('GET', `/feedback/reports/${seg(id)}`),
  /** Back to pending: a worker classifies it again shortly. */
  reclassifyReport: (id: string) =>
    json<Answer<'/api/v1/feedback/reports/{id}/reclassify', 'post', 202>>(
      'POST',
      `/feedback/reports/${seg(id)}/reclassify`,
    ),
  /** What the classifier says of a raw message; changes nothing. */
  classify: async (raw: string): Promise<Classification> =>
    (
      await send('POST', '/feedback/classify', { raw: { type: 'message/rfc822', text: raw } })
    ).json() as Promise<Classification>,

  inbox: (query: { q?: string; cursor?: string | null; limit?: number } = {}) =>
    json<Answer<'/api/v1/dev/inbox', 'get'>>('GET', '/dev/inbox', { query: { limit: 50, ...query } }),
  deleteInboxMail: (id: string) => json<void>('DELETE', `/dev/inbox/${seg(id)}`),
  deleteInboxMails: (ids: string[]) =>
    json<Answer<'/api/v1/dev/inbox/delete', 'post'>>('POST', '/dev/inbox/delete', { body: { ids } }),
  inboxSpam: (id: string) => json<Answer<'/api/v1/dev/inbox/{id}/spam', 'get'>>('GET', `/dev/inbox/${seg(id)}/spam`),
  inboxHtmlCheck: (id: string) => json<HtmlCheck>('GET', `/dev/inbox/${seg(id)}/html-check`),
  inboxEml: async (id: string): Promise<Blob> => (await send('GET', `/dev/inbox/${seg(id)}/raw`)).blob(),
  /**
   * Live updates of the inbox (server-sent events), read with fetch so the token goes in a header
   * (EventSource cannot send one, and a token never goes in a URL). Resolves when the stream ends.
   */
  inboxEvents: async (onChange: (state: { total: number; newest: string | null }) => void, signal: AbortSignal) => {
    const res = await send('GET', '/dev/inbox/events', { signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        if (data) onChange(JSON.parse(data) as { total: number; newest: string | null });
      }
    }
  },
  inboxMessage: (id: string) => json<InboxMessage>('GET', `/dev/inbox/${seg(id)}`),
  inboxRaw: async (id: string) => (await send('GET', `/dev/inbox/${seg(id)}/raw`)).text(),
  inboxAttachment: async (id: string, index: number): Promise<Blob> =>
    (await send('GET', `/dev/inbox/${seg(id)}/attachments/${index}`)).blob(),
  clearInbox: () => json<Answer<'/api/v1/dev/inbox', 'delete'>>('DELETE', '/dev/inbox'),
};
