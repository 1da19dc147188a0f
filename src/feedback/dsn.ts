/**
 * RFC 3464 delivery status fields (message/delivery-status, and RFC 6533's message/global-delivery-status):
 * one per-message block, then one block per recipient, separated by blank lines.
 */
import { extractAddress, messageIdsIn } from './addresses.js';
import { parseHeaderBlock, type Headers } from './mime.js';
import { decodeEncodedWords } from './mime-decode.js';

export interface DsnRecipient {
  finalRecipient: string | null;
  originalRecipient: string | null;
  action: string | null;
  status: string | null;
  diagnostic: string | null;
  remoteMta: string | null;
}

export interface DsnFields {
  reportingMta: string | null;
  /** Message-IDs some MTAs put in the per-message block (X-Original-Message-ID, Original-Message-ID). */
  messageIds: string[];
  /** Postfix's X-Postfix-Sender: the original envelope sender, so possibly our VERP address. */
  envelopeFrom: string | null;
  recipients: DsnRecipient[];
}

const MAX_RECIPIENTS = 100;

const one = (h: Headers, name: string): string | null => {
  const v = h.get(name)?.[0];
  return v === undefined ? null : decodeEncodedWords(v).replace(/\s+/g, ' ').trim() || null;
};

/** "dns; mx.example.com" → "mx.example.com"; "smtp; 550 5.1.1 ..." → "550 5.1.1 ...". */
const typed = (v: string | null): string | null => (v ? v.replace(/^[A-Za-z0-9-]+\s*;\s*/, '').trim() || null : null);

export function parseDeliveryStatus(text: string): DsnFields {
  const blocks = text
    .replace(/^\s+/, '')
    .split(/\r?\n(?:[ \t]*\r?\n)+/)
    .map((b) => parseHeaderBlock(b))
    .filter((h) => h.size > 0);
  const isRecipient = (h: Headers) => h.has('final-recipient') || h.has('original-recipient') || h.has('action');
  const perMessage = blocks.find((h) => !isRecipient(h)) ?? new Map<string, string[]>();
  const recipients = blocks
    .filter(isRecipient)
    .slice(0, MAX_RECIPIENTS)
    .map((h) => ({
      finalRecipient: extractAddress(one(h, 'final-recipient')),
      originalRecipient: extractAddress(one(h, 'original-recipient')),
      action:
        one(h, 'action')
          ?.toLowerCase()
          .split(/[\s(;]/)[0] ?? null,
      status: one(h, 'status'),
      diagnostic: typed(one(h, 'diagnostic-code')),
      remoteMta: typed(one(h, 'remote-mta')),
    }));
  return {
    reportingMta: typed(one(perMessage, 'reporting-mta')),
    messageIds: [
      ...messageIdsIn(one(perMessage, 'x-original-message-id')),
      ...messageIdsIn(one(perMessage, 'original-message-id')),
    ],
    envelopeFrom: extractAddress(one(perMessage, 'x-postfix-sender')),
    recipients,
  };
}
