import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import type { DB, MessageRow } from '../platform/db/schema.js';
import { registry } from '../platform/metrics.js';
import { suppressedAmong, suppressionKey } from '../suppressions/index.js';
import type { RecipientGate, RecipientVerdict } from './process-message.js';
import { addressList, type RecipientKind } from './recipient-status.js';

const withheldTotal = new Counter({
  name: 'postier_delivery_recipients_withheld_total',
  help: 'Recipients left out of a delivery because they are on the suppression list (kind="to": the message was not sent at all)',
  labelNames: ['kind'],
  registers: [registry],
});

/** Counts the recipients an attempt withheld (a `to` that stopped its whole message included). */
export function countWithheld(recipients: Array<{ kind: RecipientKind }>): void {
  for (const r of recipients) withheldTotal.inc({ kind: r.kind });
}

/** Verdicts kept from prefetches at most (a batch's worth many times over). */
const MAX_KEPT = 2000;

/**
 * The suppression list asked about the recipients of the messages being delivered, delivery
 * being the last gate: the `to` (accept judged it, but it may have bounced elsewhere, complained
 * or been suppressed by hand while the message waited in the queue or for a retry) and the cc/bcc
 * (accept does not judge them). An address the list stops for the message (its class, its
 * category's bypass, as accept judges `to`) is not sent to. Asked once per leased batch, in one
 * query; each verdict serves the one attempt of that lease and is then dropped, so every attempt
 * sees the list as it is at its lease. A message without a verdict (its batch's read failed) is
 * asked about alone.
 */
export class SuppressedRecipients implements RecipientGate {
  /** Message id → its suppressed addresses (suppressionKey) and why, from the last prefetch. */
  private readonly verdicts = new Map<string, Map<string, string>>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly bypassCategories: string[],
  ) {}

  async prefetch(messages: MessageRow[]): Promise<void> {
    // An older verdict must never serve this lease's attempt, even if this read fails.
    for (const m of messages) this.verdicts.delete(m.id);
    if (messages.length === 0) return;
    const found = await this.read(messages);
    if (this.verdicts.size + found.size > MAX_KEPT) this.verdicts.clear();
    for (const [id, v] of found) this.verdicts.set(id, v);
  }

  async judge(message: MessageRow): Promise<RecipientVerdict> {
    const v = this.verdicts.get(message.id) ?? (await this.read([message])).get(message.id)!;
    this.verdicts.delete(message.id);
    return (address) => (v.size === 0 ? undefined : v.get(suppressionKey(address)));
  }

  /** The to, cc and bcc of these messages, in one query. */
  private async read(messages: MessageRow[]): Promise<Map<string, Map<string, string>>> {
    const items = messages.flatMap((m) => {
      const scope = { class: m.class, category: m.category, trustedCategory: m.template_key !== null };
      const addresses =
        m.cc || m.bcc ? [m.recipient_email, ...addressList(m.cc), ...addressList(m.bcc)] : [m.recipient_email];
      return [...new Set(addresses.map(suppressionKey))].map((key) => ({ id: m.id, recipient: key, message: scope }));
    });
    const reasons = await suppressedAmong(this.db, this.bypassCategories, items);
    const out = new Map(messages.map((m) => [m.id, new Map<string, string>()]));
    for (const [i, item] of items.entries()) if (reasons[i]) out.get(item.id)!.set(item.recipient, reasons[i]!);
    return out;
  }
}
