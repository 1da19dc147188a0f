import type { MessageRow } from '../platform/db/schema.js';
import { wireAddress } from './mime/header.js';

/**
 * Where each envelope recipient (to, cc, bcc) of a message stands, kept as JSON in
 * email_messages.recipient_status: written when an attempt completes, for messages with more
 * than one envelope recipient (a single recipient's state is the message's own). No row per
 * recipient at accept time: accepting stays one insert per message.
 *
 * - accepted: the relay took the message for this recipient (never sent to it again);
 * - deferred: refused for now (4xx, a timeout, a relay problem): the next attempt is for it;
 * - refused: refused for good at RCPT (5xx);
 * - failed: given up (attempts spent, the message refused for good, relay problems too long);
 * - suppressed: an address on the suppression list when an attempt was to go to it: withheld
 *   from the envelope (no RCPT TO), never sent to by this message, neither a failure nor retried.
 *   A cc or bcc; or the `to` of a message that someone already accepted (a `to` suppressed before
 *   anyone got the message stops the whole message: its status is then `suppressed`).
 */
export const RECIPIENT_STATES = ['accepted', 'deferred', 'refused', 'failed', 'suppressed'] as const;
export type RecipientState = (typeof RECIPIENT_STATES)[number];
export type RecipientKind = 'to' | 'cc' | 'bcc';

export interface RecipientStatus {
  kind: RecipientKind;
  status: RecipientState;
  /** The last reply about this recipient (RCPT, or the final reply to the message). */
  code: number | null;
  enhanced: string | null;
  response: string;
  /** Attempts that counted for this recipient (relay problems do not). */
  attempts: number;
  /** When this entry last changed (epoch ms). */
  at: number;
  /** Deferred because of a relay problem (its kind), not because of the recipient. */
  relay_problem?: string;
}

export type RecipientStatusMap = Record<string, RecipientStatus>;

/** The map stored on the row (null for single-recipient messages and before the first attempt). */
export function parseRecipientStatus(json: string | null | undefined): RecipientStatusMap | null {
  if (!json) return null;
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as RecipientStatusMap) : null;
  } catch {
    return null;
  }
}

/** A stored JSON list of addresses (cc, bcc); anything else reads as none. */
export const addressList = (json: string | null): string[] => {
  if (!json) return [];
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

/**
 * One key for an address as stored (an IDN domain as written) and as it goes in the envelope
 * (the domain in punycode, see wireAddress): u@bücher.de and U@xn--bcher-kva.de are one recipient.
 */
const envelopeKey = (address: string) => wireAddress(address).toLowerCase();

/**
 * Whether an envelope address came from to, cc or bcc (case-insensitive, an IDN domain in either
 * form; unknown ones count as to; an address both in to and cc is to).
 */
export function recipientKinds(
  message: Pick<MessageRow, 'recipient_email' | 'cc' | 'bcc'>,
): (address: string) => RecipientKind {
  // The common message: its one recipient is its to.
  if (!message.cc && !message.bcc) return () => 'to';
  const kinds = new Map<string, RecipientKind>();
  for (const a of addressList(message.bcc)) kinds.set(envelopeKey(a), 'bcc');
  for (const a of addressList(message.cc)) kinds.set(envelopeKey(a), 'cc');
  kinds.set(envelopeKey(message.recipient_email), 'to');
  return (address) => kinds.get(envelopeKey(address)) ?? 'to';
}

/** The entry of `address` (any case, an IDN domain in either form) in a recipient map. */
export function entryOf(map: RecipientStatusMap, address: string): RecipientStatus | undefined {
  return map[address] ?? Object.entries(map).find(([k]) => envelopeKey(k) === envelopeKey(address))?.[1];
}

/** The recipients an attempt is still owed to: those not yet accepted, refused or given up. */
export function owedRecipients(envelope: string[], status: RecipientStatusMap | null): string[] {
  if (!status) return envelope;
  return envelope.filter((a) => (status[a]?.status ?? 'deferred') === 'deferred');
}

/**
 * One envelope recipient as the message API shows it; `pending` = not tried yet or in flight,
 * `not_sent` = the message never went out to it (and will not: cancelled, refused at accept, or
 * stopped before it was this recipient's turn), `suppressed` = withheld because the address is on
 * the suppression list (`response` says why).
 */
export interface RecipientView {
  address: string;
  kind: RecipientKind;
  status: RecipientState | 'pending' | 'not_sent';
  code: number | null;
  enhanced: string | null;
  response: string | null;
  attempts: number;
  at: string | null;
  relay_problem: string | null;
}

const DELIVERED_STATUSES = new Set(['sent', 'captured', 'delivered', 'bounced', 'complaint']);

/**
 * Every envelope recipient of a message with its state: from recipient_status when the message
 * has one, else from the message's own status (one recipient, or not attempted yet). A message
 * stopped by the suppression list (status `suppressed`: at accept, when due, or at delivery) shows
 * its `to` `suppressed` with the reason, and the others it never went to `not_sent`; so does a
 * cancelled one for the recipients it had not reached (deferred, or not tried yet).
 */
export function recipientsView(
  m: Pick<
    MessageRow,
    | 'recipient_email'
    | 'cc'
    | 'bcc'
    | 'status'
    | 'recipient_status'
    | 'smtp_response'
    | 'attempts'
    | 'sent_at'
    | 'updated_at'
  > &
    Partial<Pick<MessageRow, 'error_message'>>,
): RecipientView[] {
  const addresses = [m.recipient_email, ...addressList(m.cc), ...addressList(m.bcc)].filter(
    (a, i, all) => all.findIndex((b) => envelopeKey(b) === envelopeKey(a)) === i,
  );
  const kindOf = recipientKinds(m);
  const map = parseRecipientStatus(m.recipient_status);
  const suppressed = m.status === 'suppressed';
  // Stopped for good before every recipient had its answer: no attempt will come for the others.
  const stopped = suppressed || m.status === 'cancelled';
  const derived: RecipientView['status'] = DELIVERED_STATUSES.has(m.status)
    ? 'accepted'
    : m.status === 'failed'
      ? 'failed'
      : m.status === 'queued' || m.status === 'sending'
        ? 'pending'
        : 'not_sent';
  const at = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
  return addresses.map((address) => {
    // The map is keyed by the envelope's spelling (an IDN domain in punycode), the list by the stored one.
    const s = map ? entryOf(map, address) : undefined;
    if (s) {
      const { kind, status, code, enhanced, response, attempts } = s;
      return {
        address,
        kind,
        // A recipient still owed when the message was stopped is never sent to now.
        status: stopped && status === 'deferred' ? 'not_sent' : status,
        code,
        enhanced,
        response,
        attempts,
        at: at(s.at),
        relay_problem: s.relay_problem ?? null,
      };
    }
    const kind = kindOf(address);
    if (suppressed && kind === 'to')
      return {
        address,
        kind,
        status: 'suppressed',
        code: null,
        enhanced: null,
        response: m.error_message ?? null,
        attempts: m.attempts,
        at: at(m.updated_at),
        relay_problem: null,
      };
    const known = derived === 'accepted' || derived === 'failed';
    return {
      address,
      kind,
      status: map && !stopped ? 'pending' : derived,
      code: known && m.smtp_response ? Number(/^\d{3}/.exec(m.smtp_response)?.[0] ?? 0) || null : null,
      enhanced: null,
      response: known ? m.smtp_response : null,
      attempts: m.attempts,
      at: known ? at(m.sent_at ?? m.updated_at) : null,
      relay_problem: null,
    };
  });
}
