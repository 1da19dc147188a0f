/**
 * One error type with a closed set of codes. Services throw it; the HTTP error handler maps it
 * to `{error:{code, message, details?}}` with the status below. Anything else is a 500 whose
 * details stay in the log.
 */
export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  invalid_search: 400,
  unauthorized: 401,
  webhook_missing_credentials: 401,
  webhook_bad_credentials: 401,
  webhook_missing_signature: 401,
  webhook_bad_signature: 403,
  webhook_stale_timestamp: 403,
  webhook_replayed: 403,
  forbidden: 403,
  from_not_allowed: 403,
  domain_not_verified: 403,
  sns_signature_invalid: 403,
  sns_certificate_untrusted: 403,
  sns_topic_not_allowed: 403,
  sns_message_expired: 403,
  not_found: 404,
  template_not_found: 404,
  message_not_found: 404,
  attachment_not_found: 404,
  suppression_not_found: 404,
  webhook_not_found: 404,
  invalid_unsubscribe_token: 404,
  feedback_provider_not_configured: 404,
  report_not_found: 404,
  spool_entry_not_found: 404,
  domain_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  idempotency_conflict: 409,
  invalid_state: 409,
  resend_masked_content: 409,
  resend_content_erased: 409,
  spam_check_unavailable: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  missing_variables: 422,
  invalid_address: 422,
  too_many_recipients: 422,
  invalid_attachment: 422,
  invalid_header_value: 422,
  unsafe_url: 422,
  attachments_not_allowed: 422,
  template_error: 422,
  render_error: 422,
  validation_failed: 422,
  rate_limited: 429,
  too_many_failed_logins: 429,
  unavailable: 503,
  internal: 500,
  upstream_error: 502,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }
}
