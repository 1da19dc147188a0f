/**
 * Every failure the client reports: an API error (`status` and the API's `code`), a timeout
 * (`code: 'timeout'`, status 0) or a network failure (`code: 'network_error'`, status 0).
 */
export class PostierError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Seconds the server asked to wait before retrying (its `Retry-After`, on a 429 or 503), when it said. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'PostierError';
  }

  /** Worth retrying later with the same idempotency key: the server or the network failed. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}
