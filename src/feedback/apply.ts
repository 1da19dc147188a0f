/**
 * The one place feedback changes anything: every source (SES through SNS, Postmark, Mailgun,
 * SendGrid, Brevo, reports received by mail) turns what it received into FeedbackEvents and
 * applies each here, in the caller's transaction: the event recorded once (by its dedupe id),
 * the message's status, an event on the message's log (its data is what webhooks carry), and the
 * suppression rules.
 *
 * Suppression rules (docs/feedback.md):
 * - a hard bounce that says the address is bad (unknown_user, domain_not_found) suppresses it at once;
 * - bounces that do not (soft bounces given up, a full mailbox, a network failure, no reason)
 *   suppress after SOFT_BOUNCE_LIMIT of them within SOFT_BOUNCE_DAYS; a block of our mail
 *   (policy_or_spam_block) or a size refusal is about the message, never counted against the address;
 * - a complaint suppresses the address for the class of mail it complained about (all mail when
 *   the message is unknown); an unsubscribe from a provider likewise;
 * - an auto-reply is an `auto_replied` event on its message, nothing else;
 * - a report received by mail is signed by nobody: anyone may mail the listener or the mailbox.
 *   It suppresses, and counts towards suppressing, only an address its matched message was sent
 *   to (its signed VERP token or its Message-ID, which only that message's recipients have, names
 *   the message); a report about no known message, or naming another address, is recorded and
 *   suppresses nothing.
 */
import type { Kysely, Transaction } from 'kysely';
import type { EventLog, NewEvent } from '../events/index.js';
import { copiesOf, type DB, type MessageRow, type MessageStatus } from '../platform/db/schema.js';
import { newId } from '../platform/ids.js';
import { DAY_MS } from '../platform/time.js';
import { ALL_SCOPES, addSuppression, suppressionKey } from '../suppressions/index.js';
import type { FeedbackEvent, FeedbackEventKind } from './types.js';

/** The channel feedback came by; also the `source` of the suppressions it adds. */
export type FeedbackSource = 'ses' | 'report' | 'postmark' | 'mailgun' | 'sendgrid' | 'brevo';

export interface SuppressionRules {
  softBounceLimit: number;
  softBounceDays: number;
}

export type MatchedMessage = Pick<
  MessageRow,
  'id' | 'status' | 'recipient_email' | 'cc' | 'bcc' | 'template_key' | 'category' | 'class' | 'created_at'
>;

export const MATCH_COLUMNS = [
  'id',
  'status',
  'recipient_email',
  'cc',
  'bcc',
  'template_key',
  'category',
  'class',
  'created_at',
] as const;

export interface ApplyContext {
  source: FeedbackSource;
  /** Recorded with the suppressions it adds: sns:<MessageId>, report:<id>, or the provider's event id. */
  sourceEvent: string;
  reportId?: string | null;
  /** The relay's id of this feedback (SES feedbackId, the provider's event id, the report's Message-ID). */
  feedbackId?: string | null;
  /**
   * The message when the caller matched it already (a VERP token, a report's Message-ID); null
   * when it found none. Undefined: found here from the event's provider id, then our Message-ID.
   */
  message?: MatchedMessage | null;
  now: number;
  /** What this source adds to the event's data (SES's bounce type, the complaint's feedback type, ...). */
  extra?: Record<string, unknown>;
  /** The message's bounce_type and bounce_subtype (SES's own words); else Permanent/Transient and the category. */
  bounceType?: string;
  bounceSubtype?: string | null;
}

export interface AppliedFeedback {
  /** This event was applied before (same dedupe id): nothing was done. */
  duplicate: boolean;
  kind: FeedbackEventKind;
  messageId: string | null;
  /** The type of the event recorded on the message, if one was. */
  eventType: string | null;
  statusChanged: boolean;
  suppressed: string[];
}

const DELIVERABLE: MessageStatus[] = ['queued', 'sending', 'sent', 'failed'];
// A partially sent message keeps that status on a delivery (its recipient_status says who got it).
const BOUNCEABLE: MessageStatus[] = [...DELIVERABLE, 'partially_sent', 'delivered', 'bounced'];
/** About our message, not the address: never counted towards suppressing it. */
const NOT_COUNTED = ['policy_or_spam_block', 'message_too_large'];

const EVENT_TYPE: Partial<Record<FeedbackEventKind, string>> = {
  delivered: 'delivered',
  hard_bounce: 'bounced',
  soft_bounce: 'bounced',
  complaint: 'complaint',
  unsubscribe: 'unsubscribed',
  auto_reply: 'auto_replied',
  dropped: 'dropped',
};

/** Our Message-ID is <message id@domain> (send.service.ts): found by primary key, then checked whole. */
export async function messageByHeader(db: Kysely<DB>, header: string): Promise<MatchedMessage | undefined> {
  const bracketed = header.startsWith('<') ? header : `<${header}>`;
  const id = /^<([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@/i.exec(bracketed)?.[1]?.toLowerCase();
  if (!id) return undefined;
  return db
    .selectFrom('email_messages')
    .select(MATCH_COLUMNS)
    .where('id', '=', id)
    .where('smtp_message_id', '=', bracketed)
    .executeTakeFirst();
}

export async function messageById(db: Kysely<DB>, id: string): Promise<MatchedMessage | undefined> {
  return db.selectFrom('email_messages').select(MATCH_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/** By the relay's id first (kept from its 250 reply or send API), then by our Message-ID. */
export async function findFeedbackMessage(
  db: Kysely<DB>,
  ids: { providerMessageId: string | null; messageIdHeader: string | null },
): Promise<MatchedMessage | undefined> {
  if (ids.providerMessageId) {
    const m = await db
      .selectFrom('email_messages')
      .select(MATCH_COLUMNS)
      .where('provider_message_id', '=', ids.providerMessageId)
      .executeTakeFirst();
    if (m) return m;
  }
  return ids.messageIdHeader ? messageByHeader(db, ids.messageIdHeader) : undefined;
}

/**
 * One mailbox, however it is spelled: case, and an internationalized domain in Unicode or in
 * punycode (how relays report it: a send to u@bücher.de bounces as u@xn--bcher-kva.de).
 */
const sameMailbox = (a: string, b: string) => suppressionKey(a) === suppressionKey(b);

/** Was the message sent to `recipient` (its recipient, a cc or a bcc)? */
export function sentTo(m: MatchedMessage, recipient: string): boolean {
  return [m.recipient_email, ...copiesOf(m)].some((a) => sameMailbox(a, recipient));
}

/** Does feedback about `recipient` concern the message's own recipient (not one of its cc/bcc)? */
export function concernsRecipient(m: MatchedMessage, recipient: string | null): boolean {
  if (!recipient) return true;
  if (sameMailbox(recipient, m.recipient_email)) return true;
  const copies = copiesOf(m);
  // A relay may report a rewritten address: when it is not one of the copies, it was the recipient.
  return !copies.some((c) => sameMailbox(c, recipient));
}

async function countedBounces(trx: Transaction<DB>, recipient: string, since: number): Promise<number> {
  const row = await trx
    .selectFrom('feedback_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('recipient', '=', recipient)
    .where('kind', 'in', ['soft_bounce', 'hard_bounce'])
    .where('final', '=', 1)
    .where('at', '>=', since)
    .where((eb) => eb.or([eb('category', 'is', null), eb('category', 'not in', NOT_COUNTED)]))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Applies one feedback event in the caller's transaction. */
export async function applyFeedback(
  trx: Transaction<DB>,
  events: EventLog,
  rules: SuppressionRules,
  e: FeedbackEvent,
  ctx: ApplyContext,
): Promise<AppliedFeedback> {
  const nothing = { kind: e.kind, messageId: null, eventType: null, statusChanged: false, suppressed: [] };
  const type = EVENT_TYPE[e.kind];
  if (!type) return { duplicate: false, ...nothing };
  const m =
    ctx.message === undefined
      ? ((await findFeedbackMessage(trx, {
          providerMessageId: e.providerMessageId,
          messageIdHeader: e.messageIdHeader,
        })) ?? null)
      : ctx.message;
  // A redacted complaint (AOL) names no address: it is about the message's recipient. Something
  // longer than an address can be is no address (a hostile payload): recorded as none.
  const named = e.recipient !== null && e.recipient.length <= 320 ? e.recipient : null;
  const recipient =
    named ?? (e.recipient === null && e.kind === 'complaint' && m ? m.recipient_email.toLowerCase() : null);
  // A report by mail may be forged by anyone who can send mail: what it says of an address is taken
  // only when its (signed or unguessable) match names a message that was sent to that address.
  const vouched = recipient !== null && (ctx.source !== 'report' || (m !== null && sentTo(m, recipient)));
  const inserted = await trx
    .insertInto('feedback_events')
    .values({
      id: newId(),
      dedupe_id: e.dedupeId.slice(0, 500),
      source: ctx.source,
      kind: e.kind,
      // Bounces are counted per address from this column: an unvouched report's address is kept
      // on its report and its message's event, never counted against the address.
      recipient: vouched ? recipient : null,
      category: e.category,
      final: e.final ? 1 : 0,
      message_id: m?.id ?? null,
      report_id: ctx.reportId ?? null,
      at: e.at,
      created_at: ctx.now,
    })
    .onConflict((oc) => oc.column('dedupe_id').doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return { duplicate: true, ...nothing };

  const suppressed: string[] = [];
  const suppress = async (scope: string, reason: 'bounce' | 'complaint' | 'unsubscribe', details: string | null) => {
    if (!recipient || !vouched) return;
    const added = await addSuppression(trx, {
      email: recipient,
      scope,
      reason,
      source: ctx.source,
      sourceEvent: ctx.sourceEvent.slice(0, 500),
      messageId: m?.id,
      details,
      at: ctx.now,
    });
    if (added) suppressed.push(recipient);
  };
  const bounce = e.kind === 'hard_bounce' || e.kind === 'soft_bounce';
  if (bounce && recipient && vouched) {
    if (e.kind === 'hard_bounce' && e.suppress) {
      await suppress(ALL_SCOPES, 'bounce', `${e.category ?? 'hard bounce'}: ${e.diagnostic ?? e.status ?? ''}`.trim());
    } else if (e.final && !NOT_COUNTED.includes(e.category ?? '')) {
      const since = ctx.now - rules.softBounceDays * DAY_MS;
      const n = await countedBounces(trx, recipient, since);
      if (n >= rules.softBounceLimit) {
        await suppress(
          ALL_SCOPES,
          'bounce',
          `${n} bounces in ${rules.softBounceDays} days (last: ${e.category ?? 'other'})`,
        );
      }
    }
  } else if (e.kind === 'complaint') {
    await suppress(m?.class ?? ALL_SCOPES, 'complaint', e.diagnostic ?? e.providerEvent);
  } else if (e.kind === 'unsubscribe' && ctx.source !== 'report') {
    // By mail, an unsubscribe proves nothing of its sender: only a provider's (verified) event suppresses.
    await suppress(m?.class ?? ALL_SCOPES, 'unsubscribe', e.providerEvent);
  }

  if (!m) return { duplicate: false, kind: e.kind, messageId: null, eventType: null, statusChanged: false, suppressed };

  let changed = false;
  const now = ctx.now;
  if (e.kind === 'delivered') {
    const r = await trx
      .updateTable('email_messages')
      .set({ status: 'delivered', delivered_at: e.at, updated_at: now })
      .where('id', '=', m.id)
      .where('status', 'in', DELIVERABLE)
      .executeTakeFirst();
    changed = Number(r.numUpdatedRows) > 0;
  } else if (bounce && e.final && concernsRecipient(m, recipient)) {
    // A bounce overrides a delivery (receivers accept, then bounce); never a complaint.
    const r = await trx
      .updateTable('email_messages')
      .set({
        status: 'bounced',
        bounce_type: ctx.bounceType ?? (e.kind === 'hard_bounce' ? 'Permanent' : 'Transient'),
        bounce_subtype: ctx.bounceSubtype !== undefined ? ctx.bounceSubtype : e.category,
        bounce_category: e.category,
        error_message: (
          e.diagnostic ?? `${e.kind === 'hard_bounce' ? 'Permanent' : 'Transient'} bounce (${e.category ?? 'other'})`
        ).slice(0, 2000),
        updated_at: now,
      })
      .where('id', '=', m.id)
      .where('status', 'in', BOUNCEABLE)
      .executeTakeFirst();
    changed = Number(r.numUpdatedRows) > 0;
  } else if (e.kind === 'complaint') {
    const r = await trx
      .updateTable('email_messages')
      .set({ status: 'complaint', updated_at: now })
      .where('id', '=', m.id)
      .where('status', '!=', 'complaint')
      .executeTakeFirst();
    changed = Number(r.numUpdatedRows) > 0;
  }
  // An address the report names and nothing vouches for is not put forward as the recipient: the
  // event (and its webhooks) names the message's recipient, whom its status change is about, and
  // keeps what the report said apart, so a receiver acting on `recipient` acts on a real one.
  const shown = recipient !== null && !vouched ? m.recipient_email.toLowerCase() : recipient;
  const data: NewEvent['data'] = {
    source: ctx.source,
    kind: e.kind,
    recipient: shown,
    ...(shown !== recipient ? { reported_recipient: recipient } : {}),
    category: e.category,
    status_code: e.status,
    diagnostic: e.diagnostic,
    final: e.final,
    feedback_id: ctx.feedbackId ?? null,
    report_id: ctx.reportId ?? null,
    provider_event: e.providerEvent,
    suppressed,
    ...ctx.extra,
    // The event's webhook says the message's status after it (webhooks/event-types.ts statusAfter).
    ...(changed ? {} : { status_unchanged: m.status }),
  };
  await events.record(trx, [{ messageId: m.id, type, at: now, data, labels: m }]);
  return { duplicate: false, kind: e.kind, messageId: m.id, eventType: type, statusChanged: changed, suppressed };
}
