import type { Kysely } from 'kysely';
import type { Config } from '../platform/config.js';
import { attachmentsWithData, type Body, decodeBody, readContent, withBodies } from '../content/index.js';
import type { ContentSeal } from '../platform/crypto/sealed-content.js';
import type { DB, MessageRow } from '../platform/db/schema.js';
import { dkimUnsigned } from '../platform/metrics.js';
import { instrumentHtml, trackingKey } from '../tracking/index.js';
import { buildMime, buildSubmittedMime, DkimSigner, type Sender } from './mime/index.js';
import { type BuiltMessage, type MimeSource, PermanentBuildError } from './process-message.js';

export { buildMime, type MimeAttachment, type Sender } from './mime/index.js';

/**
 * Open and click tracking of the HTML that goes out (never of what the archive keeps), for the
 * categories TRACKING_CATEGORIES names (every one when unset); undefined when both are off, and
 * in capture mode.
 */
function tracker(config: Config): Sender['track'] {
  const { opens, clicks, categories } = config.tracking;
  // Capture mode: the inbox shows the mail in the admin UI, whose images would count as opens.
  if ((!opens && !clicks) || !config.smtp.host) return undefined;
  const key = trackingKey(config);
  const wanted = categories ? new Set(categories) : null;
  return (message, html) =>
    wanted && !wanted.has(message.category)
      ? html
      : instrumentHtml(html, { base: config.publicUrl, key, messageId: message.id, opens, clicks });
}

/** Bodies kept from prefetches at most (a batch's worth many times over). */
const MAX_PREFETCHED = 2000;

/**
 * Builds each message's MIME once per process and keeps it until the message is final, so a
 * retry re-sends the same bytes without reloading attachments or recompiling. Bounded by
 * total size: the oldest entries go first when it is full (they are rebuilt if needed).
 */
export class MimeCache implements MimeSource {
  private readonly entries = new Map<string, BuiltMessage>();
  private bytes = 0;
  builds = 0;
  /** Bodies read ahead by prefetch, by id. */
  private readonly bodies = new Map<number, Body>();
  /** estimate() of the messages prefetch sized (attachments or submitted MIME), by message id. */
  private readonly estimates = new Map<string, number>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly sender: Sender,
    private readonly seal: ContentSeal,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  static senderOf(config: Config, returnPath?: (messageId: string) => string): Sender {
    const { dkim } = config;
    const dkimKeys = new Map(
      config.dkimKeys.map((k) => [
        k.domain,
        new DkimSigner({ domain: k.domain, selector: k.selector, privateKey: k.privateKey }),
      ]),
    );
    return {
      returnPath,
      dkimKeys,
      onUnsigned: (domain) => dkimUnsigned.inc({ domain }),
      track: tracker(config),
      fromName: config.smtp.fromName,
      fromEmail: config.smtp.fromEmail,
      replyTo: config.smtp.replyTo,
      dkim: dkim
        ? new DkimSigner({ domain: dkim.domain, selector: dkim.selector, privateKey: dkim.privateKey })
        : undefined,
    };
  }

  /**
   * The bodies of a leased batch, read in one query and decompressed once each (the messages of
   * one request share one): each message's build then needs no query of its own for it. Kept
   * until the next batch's prefetch. With them, the sizes estimate() needs, in one query per kind.
   */
  async prefetch(messages: MessageRow[]): Promise<void> {
    await Promise.all([this.prefetchBodies(messages), this.prefetchSizes(messages)]);
  }

  private async prefetchBodies(messages: MessageRow[]): Promise<void> {
    const wanted = [
      ...new Set(
        messages
          .filter((m) => m.body_id != null && !m.raw_sha256 && !this.entries.has(m.id))
          .map((m) => Number(m.body_id)),
      ),
    ].filter((id) => !this.bodies.has(id));
    if (wanted.length === 0) return;
    const found = await this.db
      .selectFrom('email_bodies')
      .select(['id', 'encoding', 'data'])
      .where('id', 'in', wanted)
      .execute();
    if (this.bodies.size + found.length > MAX_PREFETCHED) this.bodies.clear();
    for (const b of found) this.bodies.set(Number(b.id), decodeBody(b.encoding, b.data));
  }

  /** estimate() of the messages of a batch that carry attachments or submitted MIME, from their sizes. */
  private async prefetchSizes(messages: MessageRow[]): Promise<void> {
    const raws = messages.filter((m) => m.raw_sha256 && !this.entries.has(m.id));
    const attached = messages.filter((m) => !m.raw_sha256 && m.attachments_count > 0 && !this.entries.has(m.id));
    if (raws.length === 0 && attached.length === 0) return;
    const [blobs, sums] = await Promise.all([
      raws.length === 0
        ? []
        : this.db
            .selectFrom('content_blobs')
            .select(['sha256', 'size_bytes'])
            .where('sha256', 'in', [...new Set(raws.map((m) => m.raw_sha256!))])
            .execute(),
      attached.length === 0
        ? []
        : this.db
            .selectFrom('email_attachments')
            .select((eb) => ['message_id', eb.fn.sum<number | string>('size_bytes').as('bytes')])
            .where(
              'message_id',
              'in',
              attached.map((m) => m.id),
            )
            .groupBy('message_id')
            .execute(),
    ]);
    if (this.estimates.size + raws.length + attached.length > MAX_PREFETCHED) this.estimates.clear();
    const blobSize = new Map(blobs.map((b) => [b.sha256, Number(b.size_bytes)]));
    for (const m of raws) this.estimates.set(m.id, 2 * (blobSize.get(m.raw_sha256!) ?? 0));
    for (const a of sums) this.estimates.set(a.message_id, Math.ceil(2.4 * Number(a.bytes)));
  }

  /**
   * What building and sending `message` holds at most: its attachments read (their size) and
   * again in base64 in the MIME (4/3 of it, and line ends), or its submitted MIME read and
   * signed (twice its size); once built and cached, its size. 0 for a message with neither (its
   * rendered body, a few kilobytes, is not counted), and for one prefetch did not size (it
   * failed: the build then goes unbounded, as it would without the budget).
   */
  estimate(message: MessageRow): number {
    if (!message.raw_sha256 && message.attachments_count === 0) return 0;
    const hit = this.entries.get(message.id);
    if (hit) return hit.raw.length;
    return this.estimates.get(message.id) ?? 0;
  }

  async get(message: MessageRow): Promise<BuiltMessage> {
    const hit = this.entries.get(message.id);
    if (hit) return hit;
    const built = message.raw_sha256 ? await this.submitted(message, message.raw_sha256) : await this.rendered(message);
    this.estimates.delete(message.id);
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

  /** Mail submitted over SMTP: the client's own MIME, as stored. */
  private async submitted(message: MessageRow, sha256: string): Promise<BuiltMessage> {
    const raw = await readContent(this.db, sha256);
    if (!raw) throw new PermanentBuildError('The submitted MIME of this message is no longer stored (retention)');
    return buildSubmittedMime(raw, message, this.sender);
  }

  private async rendered(message: MessageRow): Promise<BuiltMessage> {
    const attachments = message.attachments_count > 0 ? await attachmentsWithData(this.db, message.id) : [];
    // The archive columns may be masked (sensitive variables): the wire gets the sealed clear
    // content. An unsealing error (wrong POSTIER_SECRET_KEY) propagates: never send the mask.
    const body = message.body_id == null ? undefined : this.bodies.get(Number(message.body_id));
    const [archived] = body
      ? [{ ...message, html_content: body.html, text_content: body.text }]
      : await withBodies(this.db, [message]);
    const clear = this.seal.contentToDeliver(archived!);
    const html = clear.html && this.sender.track ? this.sender.track(message, clear.html) : clear.html;
    return buildMime(
      { ...message, subject: clear.subject, html_content: html, text_content: clear.text },
      attachments,
      this.sender,
    );
  }

  forget(messageId: string): void {
    this.estimates.delete(messageId);
    const entry = this.entries.get(messageId);
    if (!entry) return;
    this.entries.delete(messageId);
    this.bytes -= entry.raw.length;
  }
}
