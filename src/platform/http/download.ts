import type { FastifyReply } from 'fastify';

/**
 * Sends a file to download. The filename travels RFC 5987-encoded (no raw user text in a
 * header), and nosniff keeps a browser from turning untrusted bytes into a page.
 */
export function sendDownload(
  reply: FastifyReply,
  file: { filename: string; contentType: string; data: Buffer | null },
) {
  return reply
    .header('content-type', file.contentType)
    .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.filename)}`)
    .header('x-content-type-options', 'nosniff')
    .send(file.data);
}
