/**
 * A classified report (received by mail) as the same FeedbackEvent list the provider webhooks give,
 * so one piece of code applies feedback whatever its channel.
 */
import type { Classification, FeedbackEvent, FeedbackEventKind } from './types.js';

export interface ReportEventOptions {
  /** When the report was received (epoch ms). */
  at: number;
  /** Stable for this report (e.g. its Message-ID, or a hash of its bytes): events are `${dedupeKey}:${recipient}`. */
  dedupeKey: string;
}

const KINDS: Partial<Record<Classification['kind'], FeedbackEventKind>> = {
  hard_bounce: 'hard_bounce',
  soft_bounce: 'soft_bounce',
  complaint: 'complaint',
  unsubscribe: 'unsubscribe',
  auto_reply: 'auto_reply',
  delivered: 'delivered',
};

/** One event per recipient the report names (one with a null recipient when it names none); none for unclassified mail. */
export function eventsFromReport(c: Classification, opts: ReportEventOptions): FeedbackEvent[] {
  const top = KINDS[c.kind];
  if (!top) return [];
  const base = {
    provider: 'report' as const,
    at: opts.at,
    providerMessageId: null,
    messageIdHeader: c.original.messageId,
    providerEvent: `${c.format}/${c.reason}`,
    raw: {
      reason: c.reason,
      evidence: c.evidence,
      format: c.format,
      feedbackType: c.feedbackType,
      unsubscribeToken: c.unsubscribeToken,
    },
  };
  const entries = c.recipients.filter((r) => KINDS[r.kind]);
  if (entries.length === 0) {
    return [
      {
        ...base,
        kind: top,
        recipient: c.recipient,
        category: c.category,
        status: c.status,
        diagnostic: c.diagnostic,
        suppress: c.suppress && c.recipient !== null,
        final: c.final,
        dedupeId: `${opts.dedupeKey}:${c.recipient ?? ''}`,
      },
    ];
  }
  return entries.map((r) => ({
    ...base,
    kind: KINDS[r.kind]!,
    recipient: r.recipient,
    category: r.category,
    status: r.status,
    diagnostic: r.diagnostic,
    suppress: r.suppress && r.recipient !== null,
    final: r.final,
    dedupeId: `${opts.dedupeKey}:${r.recipient ?? ''}`,
  }));
}
