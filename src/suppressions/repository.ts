import { domainToASCII, domainToUnicode } from 'node:url';
import type { Kysely } from 'kysely';
import { reusedQuery } from '../platform/db/reused-sql.js';
import type { DB, SuppressionRow } from '../platform/db/schema.js';
import { newId } from '../platform/ids.js';
import { iso } from '../platform/time.js';

/**
 * Every spelling under which one mailbox may be stored, the canonical one first. Addresses are
 * compared lowercased as a whole (local parts are case-sensitive in theory, but a bounce reported
 * as Jane@ must still stop mail to jane@), and an internationalized domain is the same domain in
 * Unicode and in punycode (a send to u@bücher.de reaches u@xn--bcher-kva.de, which is how a
 * relay's bounce spells it), with or without its final dot. The canonical spelling has the
 * domain in ASCII (UTS #46); the others are the Unicode form, and the lowercased address as given,
 * which is how entries stored before that rule spell it. Plus-addressing is not folded: u+a@ and
 * u@ may be different mailboxes.
 */
export function addressSpellings(email: string): string[] {
  const lower = email.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at < 0) return [lower];
  const local = lower.slice(0, at);
  const domain = lower.slice(at + 1).replace(/(?<=.)\.$/, '');
  const ascii = domainToASCII(domain);
  // Not a domain UTS #46 can spell in ASCII, or a spelling longer than an address column holds
  // (punycode is longer than the Unicode it spells; a provider's report may name anything): as given.
  if (ascii === '' || local.length + 1 + ascii.length > 320) return [...new Set([`${local}@${domain}`, lower])];
  return [...new Set([`${local}@${ascii}`, `${local}@${domainToUnicode(ascii)}`, `${local}@${domain}`, lower])];
}

/** The canonical spelling of an address in the suppression list (see addressSpellings). */
export const suppressionKey = (email: string): string => addressSpellings(email)[0]!;

/** Every scope: bounces, complaints and manual entries stop all mail to the address. */
export const ALL_SCOPES = 'all';

export interface NewSuppression {
  email: string;
  scope: string;
  reason: SuppressionRow['reason'];
  source: SuppressionRow['source'];
  sourceEvent?: string | null;
  messageId?: string | null;
  details?: string | null;
  createdBy?: string | null;
  at: number;
}

/** Idempotent: the first reason recorded for an (address, scope) is kept. Returns true if new. */
export async function addSuppression(db: Kysely<DB>, s: NewSuppression): Promise<boolean> {
  // An entry stored under another spelling (an older one) already suppresses the address.
  if (addressSpellings(s.email).length > 1 && (await findSuppression(db, s.email, [s.scope]))) return false;
  const r = await db
    .insertInto('email_suppressions')
    .values({
      id: newId(),
      email: suppressionKey(s.email),
      scope: s.scope,
      reason: s.reason,
      source: s.source,
      source_event: s.sourceEvent ?? null,
      message_id: s.messageId ?? null,
      details: s.details ?? null,
      created_by: s.createdBy ?? null,
      created_at: s.at,
    })
    .onConflict((oc) => oc.columns(['email', 'scope']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** The suppression that stops `email` for `scopes` ('all' and/or a class), if any. */
export async function findSuppression(
  db: Kysely<DB>,
  email: string,
  scopes: string[],
): Promise<SuppressionRow | undefined> {
  const keys = addressSpellings(email);
  const shape = `suppression of ${keys.length} spellings in ${scopes.length} scopes`;
  const rows = await reusedQuery(db, shape, [...keys, ...scopes], () =>
    db
      .selectFrom('email_suppressions')
      .selectAll()
      .where('email', 'in', keys)
      .where('scope', 'in', scopes)
      .orderBy('created_at'),
  );
  return rows[0];
}

/** Every suppression of these addresses (any spelling), whatever their scope: one query for a whole commit's recipients. */
export async function suppressionsOf(db: Kysely<DB>, emails: string[]): Promise<SuppressionRow[]> {
  const keys = [...new Set(emails.flatMap(addressSpellings))];
  const out: SuppressionRow[] = [];
  // Bounded IN lists: a few statement shapes, each reused.
  for (let i = 0; i < keys.length; i += 256) {
    const chunk = keys.slice(i, i + 256);
    const size = chunk.length <= 8 ? chunk.length : Math.ceil(chunk.length / 64) * 64;
    const padded = [...chunk, ...Array<string>(size - chunk.length).fill(chunk[0]!)];
    out.push(
      ...(await reusedQuery(db, `suppressions of ${size}`, padded, () =>
        db.selectFrom('email_suppressions').selectAll().where('email', 'in', padded),
      )),
    );
  }
  return out;
}

export const suppressionView = (s: SuppressionRow) => ({
  id: s.id,
  email: s.email,
  scope: s.scope,
  reason: s.reason,
  source: s.source,
  source_event: s.source_event,
  message_id: s.message_id,
  details: s.details,
  created_by: s.created_by,
  created_at: iso(s.created_at),
});
