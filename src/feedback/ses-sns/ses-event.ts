import { plausibleTime, storableStrings } from '../untrusted.js';

/**
 * The parts of an SES notification (`notificationType`) or event-publishing record
 * (`eventType`) that Postier acts on. SES adds fields over time: unknown ones are ignored.
 */
export type SesEvent =
  | {
      kind: 'Delivery';
      ids: MailIds;
      at: number;
      recipients: string[];
      smtpResponse: string | null;
      reportingMta: string | null;
    }
  | {
      kind: 'Bounce';
      ids: MailIds;
      at: number;
      bounceType: string;
      bounceSubType: string | null;
      feedbackId: string | null;
      recipients: BouncedRecipient[];
    }
  | {
      kind: 'Complaint';
      ids: MailIds;
      at: number;
      feedbackType: string | null;
      feedbackId: string | null;
      recipients: string[];
    }
  | { kind: 'Other'; type: string };

export interface MailIds {
  /** SES's id, the one in its `250 Ok <id>` reply: what the worker stored as provider_message_id. */
  sesMessageId: string | null;
  /** Our Message-ID header, when SES includes the original headers. */
  messageIdHeader: string | null;
}

export interface BouncedRecipient {
  email: string;
  status: string | null;
  action: string | null;
  diagnostic: string | null;
}

type Json = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const time = (v: unknown, receivedAt: number): number =>
  plausibleTime(typeof v === 'string' ? Date.parse(v) : Number.NaN, receivedAt);

function mailIds(mail: Json): MailIds {
  const common = obj(mail.commonHeaders);
  const header = arr(mail.headers)
    .map(obj)
    .find((h) => typeof h.name === 'string' && h.name.toLowerCase() === 'message-id');
  return { sesMessageId: str(mail.messageId), messageIdHeader: str(common.messageId) ?? str(header?.value) };
}

export function parseSesEvent(message: string, receivedAt: number): SesEvent {
  let m: Json;
  try {
    // Signed by Amazon, but diagnostics are the remote server's words: no NUL nor unpaired surrogate stored.
    m = obj(storableStrings(JSON.parse(message), message));
  } catch {
    return { kind: 'Other', type: 'non-JSON message' };
  }
  const type = str(m.notificationType) ?? str(m.eventType) ?? 'unknown';
  const ids = mailIds(obj(m.mail));
  if (type === 'Delivery') {
    const d = obj(m.delivery);
    return {
      kind: 'Delivery',
      ids,
      at: time(d.timestamp, receivedAt),
      recipients: arr(d.recipients).filter((r): r is string => typeof r === 'string'),
      smtpResponse: str(d.smtpResponse),
      reportingMta: str(d.reportingMTA),
    };
  }
  if (type === 'Bounce') {
    const b = obj(m.bounce);
    return {
      kind: 'Bounce',
      ids,
      at: time(b.timestamp, receivedAt),
      bounceType: str(b.bounceType) ?? 'Undetermined',
      bounceSubType: str(b.bounceSubType),
      feedbackId: str(b.feedbackId),
      recipients: arr(b.bouncedRecipients)
        .map(obj)
        .filter((r) => typeof r.emailAddress === 'string')
        .map((r) => ({
          email: r.emailAddress as string,
          status: str(r.status),
          action: str(r.action),
          diagnostic: str(r.diagnosticCode),
        })),
    };
  }
  if (type === 'Complaint') {
    const c = obj(m.complaint);
    return {
      kind: 'Complaint',
      ids,
      at: time(c.timestamp, receivedAt),
      feedbackType: str(c.complaintFeedbackType),
      feedbackId: str(c.feedbackId),
      recipients: arr(c.complainedRecipients)
        .map(obj)
        .map((r) => r.emailAddress)
        .filter((e): e is string => typeof e === 'string'),
    };
  }
  return { kind: 'Other', type };
}
