import type { FeedbackView } from './schemas.js';

/* The view's schema is the API's (schemas.ts); this module only reads events into it. */
export type { FeedbackView };

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The feedback view of one `bounced` or `complaint` event (null for any other event). */
export function feedbackOf(
  event: { type: string; data: unknown; at: string | null },
  recipient: string | null,
): FeedbackView | null {
  if (event.type !== 'bounced' && event.type !== 'complaint') return null;
  const d = event.data && typeof event.data === 'object' ? (event.data as Record<string, unknown>) : {};
  const suppressed = Array.isArray(d.suppressed) ? d.suppressed.filter((s): s is string => typeof s === 'string') : [];
  if (event.type === 'complaint')
    return {
      kind: 'complaint',
      type: str(d.feedback_type),
      subtype: null,
      status_code: null,
      diagnostic: null,
      feedback_id: str(d.feedback_id),
      suppressed,
      at: event.at,
    };
  const recipients = Array.isArray(d.recipients) ? (d.recipients as Record<string, unknown>[]) : [];
  const own =
    recipients.find((r) => typeof r?.email === 'string' && r.email.toLowerCase() === recipient?.toLowerCase()) ??
    recipients[0];
  return {
    kind: 'bounce',
    type: str(d.bounce_type),
    subtype: str(d.bounce_subtype),
    status_code: str(own?.status),
    diagnostic: str(own?.diagnostic),
    feedback_id: str(d.feedback_id),
    suppressed,
    at: event.at,
  };
}

/** One line for lists (the dashboard's latest failures): the real reason, not the relay's 250. */
export function feedbackReason(f: FeedbackView): string {
  const head =
    f.kind === 'complaint'
      ? `Complaint${f.type ? ` (${f.type})` : ''}`
      : `${[f.type, f.subtype].filter(Boolean).join('/') || 'Bounce'}${f.status_code ? ` ${f.status_code}` : ''}`;
  const parts = [head, f.diagnostic, f.feedback_id ? `feedback id ${f.feedback_id}` : null];
  if (f.suppressed.length) parts.push(`suppressed: ${f.suppressed.join(', ')}`);
  return parts.filter(Boolean).join(' · ');
}
