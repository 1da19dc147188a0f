/** An api_keys row named `name`: the smallest real row for tests of the database layer to write. */
export const apiKeyRow = (name: string) => ({
  id: name,
  name,
  scope: 'send' as const,
  token_hash: `h-${name}`,
  token_prefix: 'p',
  created_by: null,
  created_at: 1,
  last_used_at: null,
  revoked_at: null,
});

/** An email_messages row written directly (as an import or a migration would), `status` queued unless given. */
export const messageRow = (id: string, to: string, at = Date.now(), status: 'queued' | 'sent' = 'queued') => ({
  id,
  template_key: 'billing_invoice_monthly',
  template_version: 1,
  locale: 'fr',
  category: 'billing',
  class: 'transactional',
  source_endpoint: 'billing',
  recipient_email: to,
  subject: 'Facture',
  attachments_count: 0,
  status,
  priority: 5,
  attempts: 0,
  max_attempts: 3,
  smtp_message_id: `<${id}@example.com>`,
  is_test: 0,
  created_at: at,
  updated_at: at,
});
