import { domainToASCII } from 'node:url';
import { addressList, type MessageRow } from '../../platform/db/schema.js';
import { randomHex } from '../../platform/ids.js';
import { type BuiltMessage, PermanentBuildError } from '../process-message.js';
import { base64Lines, encodeText, textTransferEncoding } from './body.js';
import type { DkimSigner } from './dkim.js';
import {
  addressField,
  dateField,
  type Field,
  fold,
  messageIdField,
  structuredField,
  textField,
  wireAddress,
} from './header.js';
import { filenameParameters, nameParameter } from './parameters.js';

export interface Sender {
  fromName: string;
  fromEmail: string;
  replyTo: string | undefined;
  /** Signs every message from the configured sender once, when it is built (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY). */
  dkim?: DkimSigner;
  /**
   * The envelope sender (MAIL FROM) of a message, when bounces go to a VERP address of our own
   * (BOUNCE_DOMAIN); else the From address is the envelope sender. The From header is unchanged.
   */
  returnPath?: (messageId: string) => string;
  /** A key per From domain (DKIM_KEYS, and DKIM_DOMAIN's): a message is signed with its From domain's key. */
  dkimKeys?: ReadonlyMap<string, DkimSigner>;
  /** A message with its own sender went out unsigned: no key for its domain (counted in /metrics). */
  onUnsigned?(domain: string): void;
  /** The HTML as it goes out with open and click tracking (TRACK_OPENS, TRACK_CLICKS), when on for the message. */
  track?(message: { id: string; category: string }, html: string): string;
}

export interface MimeAttachment {
  filename: string;
  content_type: string;
  data: Buffer | null;
}

interface Part {
  fields: Field[];
  /** A leaf's encoded content, or a multipart's children. */
  content: Buffer | Part[];
  boundary?: string;
}

/** The fields we write ourselves: a message's extra headers cannot replace them (Bcc never reaches the headers). */
const OWN_FIELDS = new Set([
  'from',
  'sender',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'dkim-signature',
]);
/** RFC 5322 field name: printable ASCII without the colon. */
const FIELD_NAME = /^[!-9;-~]+$/;
/** A media type we can write as it is; anything else goes as application/octet-stream. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/;

const field = (name: string, value: string): Field => ({ name, line: `${name}: ${value}` });

function textPart(content: string, subtype: 'plain' | 'html'): Part {
  const encoding = textTransferEncoding(content);
  return {
    fields: [field('Content-Type', `text/${subtype}; charset=utf-8`), field('Content-Transfer-Encoding', encoding)],
    content: encodeText(content, encoding),
  };
}

function attachmentPart(a: MimeAttachment): Part {
  const type = MEDIA_TYPE.test(a.content_type) ? a.content_type.toLowerCase() : 'application/octet-stream';
  return {
    fields: [
      { name: 'Content-Type', line: fold('Content-Type', `${type}; ${nameParameter(a.filename)}`).line },
      field('Content-Transfer-Encoding', 'base64'),
      {
        name: 'Content-Disposition',
        line: fold('Content-Disposition', ['attachment', ...filenameParameters(a.filename)].join('; ')).line,
      },
    ],
    content: base64Lines(a.data!),
  };
}

/**
 * The tree Nodemailer's MailComposer makes: the text and HTML alternatives (the empty ones left
 * out), in multipart/alternative when there are two, in multipart/mixed with the attachments
 * when there are any; a single part alone.
 */
function tree(message: MessageRow, attachments: MimeAttachment[], boundaryBase: string): Part {
  let parts = 0;
  const multipart = (subtype: string, children: Part[]): Part => {
    const boundary = `--_Postier-${boundaryBase}-Part_${++parts}`;
    return {
      fields: [
        { name: 'Content-Type', line: fold('Content-Type', `multipart/${subtype}; boundary="${boundary}"`).line },
      ],
      content: children,
      boundary,
    };
  };
  const alternatives: Part[] = [];
  if (message.text_content) alternatives.push(textPart(message.text_content, 'plain'));
  if (message.html_content) alternatives.push(textPart(message.html_content, 'html'));
  const attached = attachments.map(attachmentPart);
  // Boundaries are numbered from the root down, as Nodemailer numbers its nodes.
  if (attached.length > 1 || (alternatives.length > 0 && attached.length === 1)) {
    const root = multipart('mixed', []);
    root.content = [
      ...(alternatives.length > 1 ? [multipart('alternative', alternatives)] : alternatives),
      ...attached,
    ];
    return root;
  }
  if (alternatives.length > 1) return multipart('alternative', alternatives);
  return alternatives[0] ?? attached[0] ?? { fields: [field('Content-Type', 'text/plain')], content: Buffer.alloc(0) };
}

const CRLF = Buffer.from('\r\n');

/** A part's content as bytes: a leaf's own, or each child between boundary lines (RFC 2046 §5.1.1). */
function writeContent(part: Part, out: Buffer[]): void {
  if (Buffer.isBuffer(part.content)) {
    out.push(part.content);
    return;
  }
  for (const [i, child] of part.content.entries()) {
    out.push(
      Buffer.from(
        `${i > 0 ? '\r\n' : ''}--${part.boundary}\r\n${child.fields.map((f) => f.line).join('\r\n')}\r\n\r\n`,
      ),
    );
    writeContent(child, out);
  }
  out.push(Buffer.from(`\r\n--${part.boundary}--\r\n`, 'latin1'));
}

function extraFields(headers: string | null): Field[] {
  if (!headers) return [];
  const fields: Field[] = [];
  for (const [name, value] of Object.entries(JSON.parse(headers) as Record<string, unknown>)) {
    if (
      !FIELD_NAME.test(name) ||
      OWN_FIELDS.has(name.toLowerCase()) ||
      value === null ||
      value === undefined ||
      String(value).trim() === ''
    )
      continue;
    fields.push(structuredField(name, String(value)));
  }
  return fields;
}

/**
 * Compiles one message to raw MIME: multipart/alternative (text, HTML) inside multipart/mixed
 * when there are attachments; the Message-ID fixed at accept time so every attempt carries the
 * same one and receivers can deduplicate. With DKIM the bytes are signed here, so every attempt
 * sends the same signed bytes. Headers: see header.ts (nothing raw that a client would decode
 * into something else); bodies: see body.ts.
 */
export async function buildMime(
  message: MessageRow,
  attachments: MimeAttachment[],
  sender: Sender,
): Promise<BuiltMessage> {
  for (const a of attachments) {
    if (!a.data) throw new PermanentBuildError(`Attachment ${a.filename} is no longer stored (retention)`);
  }
  const cc = addressList(message.cc);
  const replyTo = message.reply_to ?? sender.replyTo;
  // A message may carry its own sender (raw and submitted mail); else the configured one.
  const from = message.from_email
    ? { name: message.from_name ?? '', address: message.from_email }
    : { name: sender.fromName, address: sender.fromEmail };
  const root = tree(message, attachments, randomHex());
  const fromDomain = from.address.slice(from.address.lastIndexOf('@') + 1).toLowerCase();
  // The configured sender keeps DKIM_DOMAIN's key whatever its domain; any other sender needs its own domain's.
  // Keys are by ASCII domain: a From in Unicode (u@bücher.de) signs with xn--bcher-kva.de's key.
  const signer =
    sender.dkimKeys?.get(fromDomain) ??
    sender.dkimKeys?.get(domainToASCII(fromDomain)) ??
    (message.from_email ? undefined : sender.dkim);
  if (!signer && message.from_email && (sender.dkim || sender.dkimKeys?.size)) sender.onUnsigned?.(fromDomain);
  const fields: Field[] = [
    addressField('From', [from]),
    addressField('To', [{ address: message.recipient_email }]),
    ...(cc.length
      ? [
          addressField(
            'Cc',
            cc.map((address) => ({ address })),
          ),
        ]
      : []),
    ...(replyTo ? [addressField('Reply-To', [{ address: replyTo }])] : []),
    ...(message.subject ? [textField('Subject', message.subject)] : []),
    messageIdField(message.smtp_message_id),
    dateField(new Date(message.created_at)),
    ...extraFields(message.headers),
    field('MIME-Version', '1.0'),
    ...root.fields,
  ];
  const chunks: Buffer[] = [];
  writeContent(root, chunks);
  // A message ends with a line break, as Nodemailer's output does.
  const last = chunks.at(-1);
  if (last && last.length > 0 && last[last.length - 1] !== 0x0a) chunks.push(CRLF);
  const body = Buffer.concat(chunks);
  if (signer) fields.unshift(signer.sign(fields, body));
  // ASCII by construction; an address with a non-ASCII local part (SMTPUTF8) would go as UTF-8.
  const head = Buffer.from(`${fields.map((f) => f.line).join('\r\n')}\r\n\r\n`);
  const seen = new Set<string>();
  const to = [message.recipient_email, ...cc, ...addressList(message.bcc)]
    .map(wireAddress)
    .filter((a) => a && !seen.has(a) && seen.add(a));
  const mailFrom = sender.returnPath ? sender.returnPath(message.id) : from.address;
  return { envelope: { from: wireAddress(mailFrom), to }, raw: Buffer.concat([head, body]) };
}
