/** The message events an endpoint can subscribe to. */
// partially_sent: some envelope recipients accepted, others deferred (final: false) or refused and
// given up (final: true); its details list each recipient with the relay's reply.
// auto_replied: an out-of-office or other automatic reply to the message (it changes no status).
// captured: accepted by the embedded capture server (no SMTP_HOST), so never delivered.
// opened, clicked: a person opened the mail or followed a link (TRACK_OPENS, TRACK_CLICKS);
// machines' opens and clicks are not sent (tracking/classify.ts). They change no status.
export const WEBHOOK_EVENT_TYPES = [
  'sent',
  'partially_sent',
  'captured',
  'delivered',
  'bounced',
  'complaint',
  'failed',
  'auto_replied',
  'opened',
  'clicked',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const SUBSCRIBABLE = new Set<string>(WEBHOOK_EVENT_TYPES);
export const isSubscribable = (type: string): boolean => SUBSCRIBABLE.has(type);

/**
 * The message's status as the event left it: what the recording transaction saw. An SES event
 * that did not move the status says which it kept; a partially_sent that is not final leaves the
 * message queued for its deferred recipients.
 */
export function statusAfter(type: string, data: Record<string, unknown>): string {
  if (typeof data.status_unchanged === 'string') return data.status_unchanged;
  if (type === 'partially_sent' && data.final === false) return 'queued';
  return type;
}
