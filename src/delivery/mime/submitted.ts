import type { MessageRow } from '../../platform/db/schema.js';
import { fieldValue, type RawField, splitHeader } from '../../platform/mime-fields.js';
import { type BuiltMessage, PermanentBuildError } from '../process-message.js';
import { dateField, type Field, messageIdField, structuredField, wireAddress } from './header.js';
import type { Sender } from './message.js';

/**
 * Fields a client's MIME loses on its way out: Bcc and Resent-Bcc (as blind, RFC 5322 §3.6.6;
 * Postfix drops both) never reach a recipient; X-Postier-* were for us.
 */
const dropped = (f: RawField) => f.key === 'bcc' || f.key === 'resent-bcc' || f.key.startsWith('x-postier-');

/** DKIM is for mail from the signing domain or one under it (relaxed alignment, RFC 7489 §3.1.1). */
const aligned = (from: string, domain: string): boolean => {
  const d = from.slice(from.lastIndexOf('@') + 1).toLowerCase();
  const signer = domain.toLowerCase();
  return d === signer || d.endsWith(`.${signer}`);
};

/**
 * The bytes of a message submitted over SMTP, as its client built them: the stored MIME minus Bcc
 * and X-Postier-* fields, the message's Message-ID (the client's, else the one made at accept or
 * for a resend) and a Date added when it had none, the headers accept
 * decided (List-Unsubscribe for an unsubscribable class, replacing the client's own), and a DKIM
 * signature when its sender's domain is ours. The body is sent untouched. Each message goes to its
 * one envelope recipient, whatever To and Cc say: the other recipients have messages of their own.
 */
export function buildSubmittedMime(raw: Buffer, message: MessageRow, sender: Sender): BuiltMessage {
  const split = splitHeader(raw);
  if (split.badLine)
    throw new PermanentBuildError(`The submitted MIME has a malformed header line ${split.badLine.number}`);
  const ours = Object.entries(message.headers ? (JSON.parse(message.headers) as Record<string, string>) : {}).filter(
    ([, v]) => typeof v === 'string' && v.trim() !== '',
  );
  const replaced = new Set(ours.map(([name]) => name.toLowerCase()));
  // The message's own Message-ID goes out: the client's, or the one made for it (or for a resend).
  const ownId = (f: RawField) => f.key !== 'message-id' || fieldValue(f) === message.smtp_message_id;
  const kept: Field[] = split.fields
    .filter((f) => !dropped(f) && !replaced.has(f.key) && ownId(f))
    .map((f) => ({ name: f.name, line: f.line }));
  const has = (key: string) => kept.some((f) => f.name.toLowerCase() === key);
  const fields: Field[] = [
    ...(has('message-id') ? [] : [messageIdField(message.smtp_message_id)]),
    ...(has('date') ? [] : [dateField(new Date(message.created_at))]),
    ...kept,
    ...ours.map(([name, value]) => structuredField(name, value)),
  ];
  const body = raw.subarray(split.bodyStart);
  const from = message.from_email ?? sender.fromEmail;
  if (sender.dkim && aligned(from, sender.dkim.domain)) fields.unshift(sender.dkim.sign(fields, body));
  const head = Buffer.from(`${fields.map((f) => f.line).join('\r\n')}\r\n\r\n`, 'latin1');
  return {
    envelope: { from: wireAddress(from), to: [wireAddress(message.recipient_email)] },
    raw: Buffer.concat([head, body]),
  };
}
