import { PostierError } from './errors.js';
import type {
  BatchMessage,
  BatchResult,
  HtmlCheck,
  LinkCheck,
  ListMessagesQuery,
  Message,
  MessagePage,
  RawSendRequest,
  SendRequest,
  SendResult,
  SpamCheck,
  Template,
  TemplateSummary,
} from './types.js';

/** What a never-block call resolves to instead of rejecting. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: PostierError };

/** A call's value, or its Result on a client made with `throwOnError: false`. */
export type Outcome<T, Throws extends boolean> = Throws extends false ? Result<T> : T;

export interface PostierClientOptions<Throws extends boolean = true> {
  /** e.g. `https://mail.example.com` (no trailing /api). */
  baseUrl: string;
  /** An API key: `send` scope to send, `admin` to read the archive. */
  token: string;
  /** Per request, including reading the body. Default 10 000 ms. */
  timeoutMs?: number;
  /** For tests or proxies; defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * `false`: every call resolves to `{ok: true, value}` or `{ok: false, error}` and never
   * rejects with a PostierError: the mode for code that mail must never block. Default `true`.
   */
  throwOnError?: Throws;
}

export interface SendOptions {
  /** Sent as `Idempotency-Key`: a retry with the same key cannot send twice. */
  idempotencyKey?: string;
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number;
}

/**
 * A small typed wrapper over the HTTP API: one method per endpoint, errors as PostierError
 * (thrown, or returned in a Result with `throwOnError: false`).
 */
export class PostierClient<Throws extends boolean = true> {
  // #private, not TypeScript's private: util.inspect, console.log and JSON.stringify of the
  // client (a logger given it as context) would otherwise print the API key.
  readonly #opts: PostierClientOptions<Throws>;
  private readonly baseUrl: string;
  readonly #token: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly throwOnError: boolean;

  constructor(opts: PostierClientOptions<Throws>) {
    // Refused here, as the Python client does: fetch would fail each call with a network_error
    // marked retryable, so a caller in never-block mode would retry a typo for ever.
    if (!isHttpUrl(opts.baseUrl)) {
      throw new TypeError('PostierClient: baseUrl must be an http:// or https:// URL without user:password@');
    }
    if (!opts.token || /[^\x21-\x7e]/.test(opts.token)) {
      throw new TypeError('PostierClient: token is required (an API key: printable ASCII, no spaces)');
    }
    this.#opts = opts;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.#token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.throwOnError = opts.throwOnError ?? true;
  }

  /** This client with another timeout or mode, for some calls: `client.withOptions({ throwOnError: false, timeoutMs: 2000 })`. */
  withOptions<W extends boolean = Throws>(opts: { timeoutMs?: number; throwOnError?: W }): PostierClient<W> {
    const { throwOnError, ...rest } = this.#opts;
    return new PostierClient<W>({
      ...rest,
      throwOnError: (opts.throwOnError ?? throwOnError) as W | undefined,
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
    });
  }

  send(req: SendRequest, opts: SendOptions = {}): Promise<Outcome<SendResult, Throws>> {
    const headers: Record<string, string> = {};
    if (opts.idempotencyKey !== undefined) {
      // The server's rule. A key fetch cannot send (non-Latin-1, a line break) would otherwise be
      // a retryable network_error on every retry, and an empty one was silently left out.
      if (!/^[\x21-\x7e]{1,255}$/.test(opts.idempotencyKey)) {
        return Promise.reject(new TypeError('idempotencyKey: 1 to 255 printable ASCII characters, no spaces'));
      }
      headers['idempotency-key'] = opts.idempotencyKey;
    }
    return this.call<SendResult>('POST', '/api/v1/email/send', { body: req, headers, timeoutMs: opts.timeoutMs });
  }

  /** A send with its own subject and body (no stored template): the same endpoint as send(). */
  sendRaw(req: RawSendRequest, opts: SendOptions = {}): Promise<Outcome<SendResult, Throws>> {
    return this.send(req, opts);
  }

  /**
   * Up to 500 independent messages in one request and one commit. The answer has an entry per
   * message, in order: its `items`, or its own `error` (one bad message does not sink the rest).
   * Give each message an `idempotency_key` to make retrying the whole batch safe.
   */
  sendBatch(messages: BatchMessage[], opts: { timeoutMs?: number } = {}): Promise<Outcome<BatchResult, Throws>> {
    return this.call<BatchResult>('POST', '/api/v1/email/batch', { body: { messages }, timeoutMs: opts.timeoutMs });
  }

  getMessage(id: string): Promise<Outcome<Message, Throws>> {
    return this.call<Message>('GET', `/api/v1/email/messages/${encodeURIComponent(id)}`);
  }

  /** How well email clients support the message's HTML and CSS (caniemail.com data; admin key). */
  htmlCheck(id: string): Promise<Outcome<HtmlCheck, Throws>> {
    return this.call<HtmlCheck>('GET', `/api/v1/email/messages/${encodeURIComponent(id)}/html-check`);
  }

  /** Every link and image source of the message with its problems, without any request (admin key). */
  linkCheck(id: string): Promise<Outcome<LinkCheck, Throws>> {
    return this.call<LinkCheck>('GET', `/api/v1/email/messages/${encodeURIComponent(id)}/link-check`);
  }

  /** SpamAssassin's report on the message as delivered (admin key; 409 spam_check_unavailable without SPAMD_ADDRESS). */
  spamCheck(id: string): Promise<Outcome<SpamCheck, Throws>> {
    return this.call<SpamCheck>('GET', `/api/v1/email/messages/${encodeURIComponent(id)}/spam-check`);
  }

  listMessages(query: ListMessagesQuery = {}): Promise<Outcome<MessagePage, Throws>> {
    return this.call<MessagePage>('GET', `/api/v1/email/messages${queryString(query)}`);
  }

  listTemplates(
    query: { category?: string; include_inactive?: boolean } = {},
  ): Promise<Outcome<{ items: TemplateSummary[]; total: number }, Throws>> {
    return this.call('GET', `/api/v1/email/templates${queryString(query)}`);
  }

  getTemplate(key: string): Promise<Outcome<Template, Throws>> {
    return this.call<Template>('GET', `/api/v1/email/templates/${encodeURIComponent(key)}`);
  }

  /** The request's value, or in never-block mode its Result; anything but a PostierError (a bug) still rejects. */
  private async call<T>(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
  ) {
    if (this.throwOnError) return (await this.request<T>(method, path, opts)) as Outcome<T, Throws>;
    try {
      return { ok: true, value: await this.request<T>(method, path, opts) } as Outcome<T, Throws>;
    } catch (e) {
      if (e instanceof PostierError) return { ok: false, error: e } as Outcome<T, Throws>;
      throw e;
    }
  }

  private async request<T>(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    // Outside the try: a body JSON cannot encode (a BigInt) is a bug to throw, not a network error to retry.
    const body = opts.body !== undefined ? JSON.stringify(opts.body) : undefined;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        body,
        // The signal also bounds reading the body: a server that stalls mid-answer times out too.
        signal: AbortSignal.timeout(timeoutMs),
        // An API answer is never a redirect. Followed, a 301/302 turns a send into a GET whose
        // answer reads as success, and a 307 re-posts the message to wherever Location says.
        redirect: 'manual',
      });
      text = await res.text();
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new PostierError(0, 'timeout', `${method} ${path}: no answer within ${timeoutMs} ms`);
      }
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new PostierError(
        0,
        'network_error',
        `${method} ${path}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
      );
    }
    if (res.status >= 300 && res.status < 400) {
      throw new PostierError(
        res.status,
        'redirected',
        `${method} ${path}: HTTP ${res.status} to ${res.headers.get('location') ?? '(no location)'}; redirects are not followed: set baseUrl to the address Postier answers at`,
      );
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new PostierError(
        res.status,
        'invalid_response',
        `${method} ${path}: HTTP ${res.status}, not JSON`,
        undefined,
        res.ok ? undefined : retryAfterSeconds(res.headers.get('retry-after')),
      );
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new PostierError(
        res.status,
        err?.code ?? `http_${res.status}`,
        err?.message ?? `${method} ${path}: HTTP ${res.status}`,
        err?.details,
        retryAfterSeconds(res.headers.get('retry-after')),
      );
    }
    // Every endpoint answers an object: null, a list or an empty 200 (a proxy's) would reach the
    // caller typed as the answer and fail there, on r.value.items.
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new PostierError(
        res.status,
        'invalid_response',
        `${method} ${path}: HTTP ${res.status}, not a JSON object`,
      );
    }
    return json as T;
  }
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
function retryAfterSeconds(value: string | null): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function isHttpUrl(value: unknown): boolean {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password;
}

function queryString(q: object): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
