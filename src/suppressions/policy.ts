import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import type { Admission, AdmissionPolicy } from '../accept/index.js';
import type { SuppressionRow } from '../platform/db/schema.js';
import { ALL_SCOPES, addressSpellings, findSuppression, suppressionsOf } from './repository.js';

/** What of a message decides which suppressions stop it. */
export type SuppressionScope = Pick<Admission, 'class' | 'category' | 'trustedCategory'>;

/**
 * The scopes whose suppressions stop a message: 'all' and its class; only its class when its
 * category bypasses suppressions and was the template's (see suppressionPolicy).
 */
const scopesFor = (bypass: Set<string>, message: SuppressionScope) =>
  message.trustedCategory && bypass.has(message.category) ? [message.class] : [ALL_SCOPES, message.class];

/** Why a suppression stops a message (error_message of a suppressed message). */
const reasonOf = (hit: SuppressionRow) =>
  `Recipient is suppressed (${hit.reason}${hit.scope === ALL_SCOPES ? '' : ` from ${hit.scope} mail`})`;

/** Each item judged against the rows read for all of them: the earliest matching row, if any. */
function judge(
  bypass: Set<string>,
  rows: SuppressionRow[],
  items: Array<{ recipient: string; message: SuppressionScope }>,
): Array<SuppressionRow | undefined> {
  if (rows.length === 0) return items.map(() => undefined);
  return items.map(({ recipient, message }) => {
    const keys = addressSpellings(recipient);
    const scopes = scopesFor(bypass, message);
    const hits = rows.filter((r) => keys.includes(r.email) && scopes.includes(r.scope));
    return hits.sort((a, b) => a.created_at - b.created_at)[0];
  });
}

/**
 * A suppressed recipient's message is stored as `suppressed`, never delivered. Bypass
 * categories (e.g. incident alerts) still reach addresses suppressed for all mail, but never
 * one that unsubscribed from the message's class: an unsubscribe is the recipient's choice. A
 * category the caller chose (a raw send's) never bypasses: only a template's author can grant that.
 */
export function suppressionPolicy(bypassCategories: string[]): AdmissionPolicy {
  const bypass = new Set(bypassCategories);
  const verdict = (hit: SuppressionRow | undefined) =>
    hit ? { status: 'suppressed' as const, reason: reasonOf(hit) } : { status: 'queued' as const };
  return {
    async admit(trx: Transaction<DB>, recipient: string, message: Admission) {
      return verdict(await findSuppression(trx, recipient, scopesFor(bypass, message)));
    },
    // A commit's recipients in one query; each then judged as admit() would (the earliest matching row).
    async admitMany(trx, items) {
      const rows = await suppressionsOf(
        trx,
        items.map((i) => i.recipient),
      );
      return judge(bypass, rows, items).map(verdict);
    },
  };
}

/**
 * The same judgement outside an accepting transaction, for recipients the accept path does not
 * check (the cc and bcc of a message, judged by the delivery worker): for each item, in order,
 * why the list stops it (the text admit() gives), or null. One query for all of them (a few for
 * more than 64 addresses), with the list's spellings (Unicode and punycode domains, any case).
 */
export async function suppressedAmong(
  db: Kysely<DB>,
  bypassCategories: string[],
  items: Array<{ recipient: string; message: SuppressionScope }>,
): Promise<Array<string | null>> {
  if (items.length === 0) return [];
  const rows = await suppressionsOf(
    db,
    items.map((i) => i.recipient),
  );
  return judge(new Set(bypassCategories), rows, items).map((hit) => (hit ? reasonOf(hit) : null));
}
