/** The instance manager's own records: what the SaaS document's `saas.instance` model holds. */

export type InstanceState = 'draft' | 'active' | 'suspended' | 'terminated';
export type Protocol = 'http' | 'https';

export interface Customer {
  name: string;
  /** The document requires it: "Chaque client (partenaire) doit avoir une adresse email". */
  email: string;
  locale?: 'fr' | 'en';
}

export interface EmailRecord {
  template: string;
  at: string;
  /** Postier's message ids when it accepted the mail. */
  message_ids: string[];
}

export interface EmailFailure {
  template: string;
  at: string;
  code: string;
  message: string;
}

export interface Instance {
  id: string;
  name: string;
  customer: Customer;
  plan: string;
  protocol: Protocol;
  domain: string;
  server: string;
  database_name: string;
  admin_login: string;
  /** The manager keeps a hash only; the clear password goes to the customer once, by email. */
  admin_password_hash: string;
  state: InstanceState;
  database_deleted_at: string | null;
  state_changed_at: string;
  /** Mail is a side effect: successes and failures are recorded, never block a transition. */
  emails: EmailRecord[];
  email_failures: EmailFailure[];
}

export class LifecycleError extends Error {
  constructor(
    readonly code: 'invalid_input' | 'invalid_state' | 'forbidden' | 'no_capacity' | 'not_found',
    message: string,
  ) {
    super(message);
    this.name = 'LifecycleError';
  }
}
