import type { AttachmentInput } from './types.js';

/** The types Postier may allow (EMAIL_ALLOWED_ATTACHMENT_TYPES), by file extension. */
export const ATTACHMENT_TYPES: Readonly<Record<string, string>> = {
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  json: 'application/json',
  csv: 'text/csv',
  txt: 'text/plain',
};

/** The content type of a file name's extension, or application/octet-stream (which Postier refuses). */
export function contentTypeOf(filename: string): string {
  const dot = filename.lastIndexOf('.');
  const ext = dot < 0 ? '' : filename.slice(dot + 1).toLowerCase();
  // Own properties only: `x.constructor` is no type (every object inherits a `constructor`).
  return Object.hasOwn(ATTACHMENT_TYPES, ext) ? ATTACHMENT_TYPES[ext]! : 'application/octet-stream';
}

/** Base64 of the bytes with the runtime's own btoa (Node, Deno, Bun and browsers have it). */
function base64(data: Uint8Array): string {
  let binary = '';
  // In slices: String.fromCharCode takes its arguments on the stack.
  for (let i = 0; i < data.length; i += 0x8000)
    binary += String.fromCharCode(...data.subarray(i, Math.min(i + 0x8000, data.length)));
  return btoa(binary);
}

/**
 * A file to attach, from its bytes (a Node Buffer is a Uint8Array: `attachment(name, await
 * readFile(path))`); `contentType` defaults to the one of the name's extension.
 */
export function attachment(filename: string, data: Uint8Array, contentType?: string): AttachmentInput {
  return { filename, content_type: contentType ?? contentTypeOf(filename), data_base64: base64(data) };
}
