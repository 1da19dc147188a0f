import type { FastifyReply } from 'fastify';

/** RFC 5987's ext-value: encodeURIComponent leaves ' ( ) * as they are, which attr-char does not allow. */
const extValue = (s: string) =>
  `UTF-8''${encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;

/** The plain `filename` for clients that do not read `filename*`: printable ASCII, no quote or backslash. */
const asciiFallback = (s: string) => s.replace(/[^\x20-\x7e]|["\\]/g, '_');

/**
 * Sends a file to download. The filename travels RFC 5987-encoded (no raw user text in a header),
 * with an ASCII fallback before it (RFC 6266 §4.3), and nosniff keeps a browser from turning
 * untrusted bytes into a page.
 */
export function sendDownload(
  reply: FastifyReply,
  file: { filename: string; contentType: string; data: Buffer | null },
) {
  return reply
    .header('content-type', file.contentType)
    .header(
      'content-disposition',
      `attachment; filename="${asciiFallback(file.filename)}"; filename*=${extValue(file.filename)}`,
    )
    .header('x-content-type-options', 'nosniff')
    .send(file.data);
}
