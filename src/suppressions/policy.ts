import type { Transaction } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import type { Admission, AdmissionPolicy } from '../accept/index.js';
import { ALL_SCOPES, findSuppression } from './repository.js';

/**
 * A suppressed recipient's message is stored as `suppressed`, never delivered. Bypass
 * categories (e.g. incident alerts) still reach addresses suppressed for all mail, but never
 * one that unsubscribed from the message's class: an unsubscribe is the recipient's choice. A
 * category the caller chose (a raw send's) never bypasses: only a template's author can grant that.
 */
export function suppressionPolicy(bypassCategories: string[]): AdmissionPolicy {
  const bypass = new Set(bypassCategories);
  return {
    async admit(trx: Transaction<DB>, recipient: string, message: Admission) {
      const scopes =
        message.trustedCategory && bypass.has(message.category) ? [message.class] : [ALL_SCOPES, message.class];
      const hit = await findSuppression(trx, recipient, scopes);
      if (!hit) return { status: 'queued' };
      return {
        status: 'suppressed',
        reason: `Recipient is suppressed (${hit.reason}${hit.scope === ALL_SCOPES ? '' : ` from ${hit.scope} mail`})`,
      };
    },
  };
}
