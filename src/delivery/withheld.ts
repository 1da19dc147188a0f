import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import type { DB, MessageRow } from '../platform/db/schema.js';
import { registry } from '../platform/metrics.js';
import { suppressedAmong, suppressionKey } from '../suppressions/index.js';
import type { RecipientGate } from './process-message.js';
import type { RecipientKind } from './recipient-status.js';

const withheldTotal = new Counter({
  name: 'postier_delivery_recipients_withheld_total',
  help: 'cc and bcc recipients left out of a delivery because they are on the suppression list',
  labelNames: ['kind'],
  registers: [registry],
});

/** Counts the recipients an attempt recorded as withheld. */
export function countWithheld(recipients: Array<{ kind: RecipientKind }>): void {
  for (const r of recipients) withheldTotal.inc({ kind: r.kind });
}

const list = (json: string | null): string[] => {
  if (!json) return [];
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

/** Verdicts kept from prefetches at most (a batch's worth many times over). */
const MAX_KEPT = 2000;

/**
 * The suppression list asked about the cc and bcc of the messages being delivered (accept checks
 * only `to`): a cc/bcc address the list stops for the message (its class, its category's bypass,
 * as accept judges `to`) is left out of the envelope. Asked once per leased batch, in one query,
 * only when a message of the batch has cc or bcc; each verdict serves the one attempt of that
 * lease and is then dropped, so every attempt sees the list as it is at its lease. A message
 * without a verdict (its batch's read failed) is asked about alone.
 */
export class SuppressedRecipients implements RecipientGate {
  /** Message id → the suppressed cc/bcc addresses (suppressionKey) and why, from the last prefetch. */
  private readonly verdicts = new Map<string, Map<string, string>>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly bypassCategories: string[],
  ) {}

  async prefetch(messages: MessageRow[]): Promise<void> {
    const wanted = messages.filter((m) => m.cc || m.bcc);
    // An older verdict must never serve this lease's attempt, even if this read fails.
    for (const m of wanted) this.verdicts.delete(m.id);
    if (wanted.length === 0) return;
    const found = await this.judge(wanted);
    if (this.verdicts.size + found.size > MAX_KEPT) this.verdicts.clear();
    for (const [id, v] of found) this.verdicts.set(id, v);
  }

  async withheld(message: MessageRow, addresses: string[]): Promise<Map<string, string>> {
    if (!(message.cc || message.bcc) || addresses.length === 0) return new Map();
    const v = this.verdicts.get(message.id) ?? (await this.judge([message])).get(message.id)!;
    this.verdicts.delete(message.id);
    const out = new Map<string, string>();
    for (const a of addresses) {
      const reason = v.get(suppressionKey(a));
      if (reason) out.set(a, reason);
    }
    return out;
  }

  /** The cc/bcc of these messages (not their `to`, which accept judged), in one query. */
  private async judge(messages: MessageRow[]): Promise<Map<string, Map<string, string>>> {
    const items = messages.flatMap((m) => {
      const to = suppressionKey(m.recipient_email);
      const scope = { class: m.class, category: m.category, trustedCategory: m.template_key !== null };
      return [...new Set([...list(m.cc), ...list(m.bcc)].map(suppressionKey))]
        .filter((key) => key !== to)
        .map((key) => ({ id: m.id, recipient: key, message: scope }));
    });
    const reasons = await suppressedAmong(this.db, this.bypassCategories, items);
    const out = new Map(messages.map((m) => [m.id, new Map<string, string>()]));
    for (const [i, item] of items.entries()) if (reasons[i]) out.get(item.id)!.set(item.recipient, reasons[i]!);
    return out;
  }
}
