import { buffer } from 'node:stream/consumers';
import type { Kysely } from 'kysely';
import DKIM from 'nodemailer/lib/dkim';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Config } from '../config.js';
import { attachmentsWithData } from '../content/attachments.js';
import type { ContentSeal } from '../crypto/sealed-content.js';
import type { DB, MessageRow } from '../db/schema.js';
import { randomHex } from '../shared/ids.js';
import './header-key-memo.js';
import { mimeBytes } from './mime-bytes.js';
import { type BuiltMessage, type MimeSource, PermanentBuildError } from './process-message.js';

export interface Sender {
  fromName: string;
  fromEmail: string;
  replyTo: string | undefined;
  /** Signs every message once, when it is built (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY). */
  dkim?: DKIM;
}

export interface MimeAttachment {
  filename: string;
  content_type: string;
  data: Buffer | null;
}

const list = (json: string | null): string[] => (json ? (JSON.parse(json) as string[]) : []);

/**
 * Compiles one message to raw MIME: multipart/alternative (text, HTML) inside multipart/mixed
 * when there are attachments; UTF-8 headers encoded by Nodemailer; the Message-ID fixed at
 * accept time so every attempt carries the same one and receivers can deduplicate. With DKIM the
 * bytes are signed here, so every attempt sends the same signed bytes.
 */
export async function buildMime(message: MessageRow, attachments: MimeAttachment[], sender: Sender): Promise<BuiltMessage> {
  for (const a of attachments) {
    if (!a.data) throw new PermanentBuildError(`Attachment ${a.filename} is no longer stored (retention)`);
  }
  const extra = message.headers ? (JSON.parse(message.headers) as Record<string, string>) : undefined;
  const composer = new MailComposer({
    from: { name: sender.fromName, address: sender.fromEmail },
    to: message.recipient_email,
    cc: list(message.cc),
    bcc: list(message.bcc),
    replyTo: message.reply_to ?? sender.replyTo,
    subject: message.subject,
    text: message.text_content ?? undefined,
    html: message.html_content ?? undefined,
    messageId: message.smtp_message_id,
    date: new Date(message.created_at),
    headers: extra,
    attachments: attachments.map((a) => ({ filename: a.filename, contentType: a.content_type, content: a.data! })),
    // Nodemailer would draw these bytes from the system one message at a time.
    baseBoundary: randomHex(),
  });
  const node = composer.compile();
  const envelope = node.getEnvelope();
  const raw = mimeBytes(node) ?? (await node.build());
  return { envelope: { from: envelope.from || sender.fromEmail, to: envelope.to }, raw: sender.dkim ? await buffer(sender.dkim.sign(raw)) : raw };
}

/**
 * Builds each message's MIME once per process and keeps it until the message is final, so a
 * retry re-sends the same bytes without reloading attachments or recompiling. Bounded by
 * total size: the oldest entries go first when it is full (they are rebuilt if needed).
 */
export class MimeCache implements MimeSource {
  private readonly entries = new Map<string, BuiltMessage>();
  private bytes = 0;
  builds = 0;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly sender: Sender,
    private readonly seal: ContentSeal,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  static senderOf(config: Config): Sender {
    const { dkim } = config;
    return {
      fromName: config.smtp.fromName,
      fromEmail: config.smtp.fromEmail,
      replyTo: config.smtp.replyTo,
      dkim: dkim ? new DKIM({ domainName: dkim.domain, keySelector: dkim.selector, privateKey: dkim.privateKey }) : undefined,
    };
  }

  async get(message: MessageRow): Promise<BuiltMessage> {
    const hit = this.entries.get(message.id);
    if (hit) return hit;
    const attachments =
      message.attachments_count > 0
        ? await attachmentsWithData(this.db, message.id)
        : [];
    // The archive columns may be masked (sensitive variables): the wire gets the sealed clear
    // content. An unsealing error (wrong POSTIER_SECRET_KEY) propagates: never send the mask.
    const clear = this.seal.contentToDeliver(message);
    const built = await buildMime({ ...message, subject: clear.subject, html_content: clear.html, text_content: clear.text }, attachments, this.sender);
    this.builds++;
    this.entries.set(message.id, built);
    this.bytes += built.raw.length;
    for (const [id, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(id);
      this.bytes -= entry.raw.length;
    }
    return built;
  }

  forget(messageId: string): void {
    const entry = this.entries.get(messageId);
    if (!entry) return;
    this.entries.delete(messageId);
    this.bytes -= entry.raw.length;
  }
}
