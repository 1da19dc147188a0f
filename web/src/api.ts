/**
 * The one module that talks to the Postier HTTP API. Components call these functions, never
 * fetch. Every call carries the session's admin token; a 401 ends the session.
 */
import type {
  ApiKey,
  InboxMessage,
  InboxSummary,
  Message,
  MessageFilter,
  MessageSummary,
  NewVersionRequest,
  Page,
  PreviewRequest,
  PreviewResult,
  Stats,
  Suppression,
  Template,
  TemplateSummary,
  TemplateVersionSummary,
  TestSendRequest,
  Webhook,
  WebhookDelivery,
} from './api-types.js';
import { getToken, setToken } from './session.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** True when the server has no such route (an API this server version does not offer yet). */
export const isNotAvailable = (e: unknown): boolean =>
  e instanceof ApiError && (e.status === 404 || e.status === 405) && e.code === 'not_found' && /^No route/.test(e.message);

type Query = Record<string, string | number | boolean | undefined | null>;

function url(path: string, query?: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return `/api/v1${path}${s ? `?${s}` : ''}`;
}

async function send(method: string, path: string, opts: { query?: Query; body?: unknown; token?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = opts.token ?? getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url(path, opts.query), { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
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
  throw new ApiError(res.status, code, message, details);
}

const json = async <T>(method: string, path: string, opts?: { query?: Query; body?: unknown; token?: string }): Promise<T> => {
  const res = await send(method, path, opts);
  return (res.status === 204 ? undefined : await res.json()) as T;
};

const seg = encodeURIComponent;

export const api = {
  /** Checks a token before keeping it: only admin keys may use the UI. */
  checkToken: (token: string) => json<Page<ApiKey>>('GET', '/keys', { token }),

  stats: (days: number) => json<Stats>('GET', '/email/stats', { query: { days, tz_offset: -new Date().getTimezoneOffset() } }),

  messages: (f: MessageFilter) => json<Page<MessageSummary>>('GET', '/email/messages', { query: { ...f } }),
  message: (id: string) => json<Message>('GET', `/email/messages/${seg(id)}`),
  retryMessage: (id: string) => json<unknown>('POST', `/email/messages/${seg(id)}/retry`, { body: {} }),
  cancelMessage: (id: string) => json<unknown>('DELETE', `/email/messages/${seg(id)}`),
  attachment: async (messageId: string, attachmentId: string): Promise<Blob> =>
    (await send('GET', `/email/messages/${seg(messageId)}/attachments/${seg(attachmentId)}`)).blob(),

  templates: () => json<Page<TemplateSummary>>('GET', '/email/templates', { query: { include_inactive: true } }),
  template: (key: string) => json<Template>('GET', `/email/templates/${seg(key)}`),
  templateVersions: (key: string) => json<Page<TemplateVersionSummary>>('GET', `/email/templates/${seg(key)}/versions`),
  templateVersion: (key: string, version: number) => json<Template>('GET', `/email/templates/${seg(key)}/versions/${version}`),
  saveTemplateVersion: (key: string, body: NewVersionRequest) => json<Template>('PUT', `/email/templates/${seg(key)}`, { body }),
  activateTemplateVersion: (key: string, version: number) => json<Template>('POST', `/email/templates/${seg(key)}/activate`, { body: { version } }),
  testTemplate: (key: string, body: TestSendRequest) =>
    json<PreviewResult & { message_id?: string; id?: string }>('POST', `/email/templates/${seg(key)}/test`, { body }),
  preview: (body: PreviewRequest) => json<PreviewResult>('POST', '/email/templates/preview', { body }),

  keys: () => json<Page<ApiKey>>('GET', '/keys'),
  createKey: (name: string, scope: 'admin' | 'send') => json<ApiKey & { token: string }>('POST', '/keys', { body: { name, scope } }),
  revokeKey: (id: string) => json<ApiKey>('DELETE', `/keys/${seg(id)}`),

  suppressions: (email?: string) => json<Page<Suppression>>('GET', '/email/suppressions', { query: { email } }),
  addSuppression: (email: string, reason: string) => json<Suppression>('POST', '/email/suppressions', { body: { email, reason } }),
  removeSuppression: (email: string) => json<unknown>('DELETE', `/email/suppressions/${seg(email)}`),

  webhooks: () => json<Page<Webhook>>('GET', '/webhooks'),
  createWebhook: (url: string, events: string[]) => json<Webhook>('POST', '/webhooks', { body: { url, events } }),
  deleteWebhook: (id: string) => json<unknown>('DELETE', `/webhooks/${seg(id)}`),
  webhookDeliveries: (id: string) => json<Page<WebhookDelivery>>('GET', `/webhooks/${seg(id)}/deliveries`),

  inbox: () => json<Page<InboxSummary>>('GET', '/dev/inbox'),
  inboxMessage: (id: string) => json<InboxMessage>('GET', `/dev/inbox/${seg(id)}`),
  inboxRaw: async (id: string) => (await send('GET', `/dev/inbox/${seg(id)}/raw`)).text(),
};
