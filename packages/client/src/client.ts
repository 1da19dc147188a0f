import { PostierError } from './errors.js';
import type { ListMessagesQuery, Message, MessagePage, SendRequest, SendResult, Template, TemplateSummary } from './types.js';

export interface PostierClientOptions {
  /** e.g. `https://mail.example.com` (no trailing /api). */
  baseUrl: string;
  /** An API key: `send` scope to send, `admin` to read the archive. */
  token: string;
  /** Per request, including reading the body. Default 10 000 ms. */
  timeoutMs?: number;
  /** For tests or proxies; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface SendOptions {
  /** Sent as `Idempotency-Key`: a retry with the same key cannot send twice. */
  idempotencyKey?: string;
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number;
}

/** A small typed wrapper over the HTTP API: one method per endpoint, errors as PostierError. */
export class PostierClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: PostierClientOptions) {
    if (!opts.baseUrl) throw new TypeError('PostierClient: baseUrl is required');
    if (!opts.token) throw new TypeError('PostierClient: token is required');
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
  }

  send(req: SendRequest, opts: SendOptions = {}): Promise<SendResult> {
    const headers: Record<string, string> = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
    return this.request<SendResult>('POST', '/api/v1/email/send', { body: req, headers, timeoutMs: opts.timeoutMs });
  }

  getMessage(id: string): Promise<Message> {
    return this.request<Message>('GET', `/api/v1/email/messages/${encodeURIComponent(id)}`);
  }

  listMessages(query: ListMessagesQuery = {}): Promise<MessagePage> {
    return this.request<MessagePage>('GET', `/api/v1/email/messages${queryString(query)}`);
  }

  listTemplates(query: { category?: string; include_inactive?: boolean } = {}): Promise<{ items: TemplateSummary[]; total: number }> {
    return this.request('GET', `/api/v1/email/templates${queryString(query)}`);
  }

  getTemplate(key: string): Promise<Template> {
    return this.request<Template>('GET', `/api/v1/email/templates/${encodeURIComponent(key)}`);
  }

  private async request<T>(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        // The signal also bounds reading the body: a server that stalls mid-answer times out too.
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new PostierError(0, 'timeout', `${method} ${path}: no answer within ${timeoutMs} ms`);
      }
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new PostierError(0, 'network_error', `${method} ${path}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new PostierError(res.status, 'invalid_response', `${method} ${path}: HTTP ${res.status}, not JSON`);
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new PostierError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `${method} ${path}: HTTP ${res.status}`, err?.details);
    }
    return json as T;
  }
}

function queryString(q: object): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
