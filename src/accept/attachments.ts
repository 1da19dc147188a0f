import { fileTypeFromBuffer } from 'file-type';
import type { DecodedBase64 } from '../platform/base64.js';
import { AppError } from '../platform/errors.js';
import { describeProblem, filenameProblem } from '../platform/header-safety.js';
import { sha256Hex } from '../platform/sha256.js';

export interface AttachmentInput {
  filename: string;
  content_type: string;
  /** Base64 text, or the bytes the HTTP layer decoded from it (a large body: platform/http/large-json.ts). */
  data_base64: string | DecodedBase64;
}

export interface Attachment {
  filename: string;
  contentType: string;
  data: Buffer;
  sha256: string;
}

/**
 * The attachment types EMAIL_ALLOWED_ATTACHMENT_TYPES may name. Binary types are checked by
 * their magic bytes (file-type); text types must be valid UTF-8 with no binary signature.
 */
const TYPES: Record<string, { mime: string; extensions: string[]; text?: 'json' | 'plain' }> = {
  pdf: { mime: 'application/pdf', extensions: ['pdf'] },
  png: { mime: 'image/png', extensions: ['png'] },
  jpg: { mime: 'image/jpeg', extensions: ['jpg', 'jpeg'] },
  jpeg: { mime: 'image/jpeg', extensions: ['jpg', 'jpeg'] },
  gif: { mime: 'image/gif', extensions: ['gif'] },
  json: { mime: 'application/json', extensions: ['json'], text: 'json' },
  csv: { mime: 'text/csv', extensions: ['csv'], text: 'plain' },
  txt: { mime: 'text/plain', extensions: ['txt'], text: 'plain' },
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(index: number, message: string, extra: Record<string, unknown> = {}): never {
  throw new AppError('invalid_attachment', `attachments[${index}]: ${message}`, { index, ...extra });
}

/** Judged on every reading a mail client could make of the name (platform/header-safety.ts). */
export function checkFilename(name: string, index: number): void {
  // Counted in UTF-16 code units, as Windows counts a file name's 255: an emoji counts two. The
  // route's schema counts characters, so a name it lets through can still be too long here.
  if (name.length === 0 || name.length > 255)
    fail(
      index,
      `filename must be 1 to 255 UTF-16 code units long (it has ${name.length}; a character outside the Basic Multilingual Plane, an emoji, counts two)`,
      { field: 'filename', length: name.length, max_length: 255 },
    );
  const problem = filenameProblem(name);
  if (problem)
    fail(index, `filename ${describeProblem(problem)}`, {
      field: 'filename',
      filename: name,
      reason: problem.reason,
      decoded: problem.decoded,
    });
}

/** Characters of the base64 text of `bytes` bytes, padded, without line breaks. */
const base64Length = (bytes: number) => Math.ceil(bytes / 3) * 4;

/**
 * Line breaks and spaces are allowed (MIME and PEM wrap base64 at 76 or 64 columns, `base64`
 * at 76): the size bound applies to the text without them, so a file just under the limit is
 * not refused for the way its base64 was wrapped.
 */
function decodeBase64(data: string, index: number, maxBytes: number): Buffer {
  const compact = data.replace(/[\r\n\t ]/g, '');
  // An empty file (a CSV export with nothing to report): its type decides whether it is one.
  if (compact.length === 0) return Buffer.alloc(0);
  // [\w+/] without `_` is the base64 alphabet, and several times faster to match than [A-Za-z0-9+/].
  if (compact.length % 4 !== 0 || !/^[\w+/]+={0,2}$/.test(compact) || compact.includes('_'))
    fail(index, 'data_base64 is not valid base64');
  const size = (compact.length / 4) * 3 - (compact.endsWith('==') ? 2 : compact.endsWith('=') ? 1 : 0);
  if (size > maxBytes)
    fail(index, `${size} bytes is larger than ${maxBytes} bytes`, { size_bytes: size, max_bytes: maxBytes });
  return Buffer.from(compact, 'base64');
}

export async function validateAttachments(
  inputs: AttachmentInput[],
  allowedTypes: string[],
  maxBytes: number,
): Promise<Attachment[]> {
  const allowed = new Map<string, (typeof TYPES)[string]>();
  for (const t of allowedTypes) if (TYPES[t]) allowed.set(TYPES[t].mime, TYPES[t]);

  const out: Attachment[] = [];
  for (const [i, a] of inputs.entries()) {
    checkFilename(a.filename, i);
    const mime = a.content_type.split(';')[0]!.trim().toLowerCase();
    const type = allowed.get(mime);
    if (!type) {
      fail(i, `content type ${JSON.stringify(mime)} is not allowed (allowed: ${[...allowed.keys()].join(', ')})`, {
        content_type: mime,
        allowed: [...allowed.keys()],
      });
    }
    const ext = a.filename.includes('.') ? a.filename.slice(a.filename.lastIndexOf('.') + 1).toLowerCase() : '';
    if (!type.extensions.includes(ext)) {
      const found = ext === '' ? 'filename has no extension' : `filename extension .${ext} does not match ${mime}`;
      fail(i, `${found} (expected .${type.extensions.join(' or .')})`, {
        filename: a.filename,
      });
    }
    // Cheap bound before any copy: base64 is 4 characters per 3 bytes. Text with line breaks
    // gets room for them (a break every 16 characters or more); decodeBase64 then bounds the
    // text without them.
    const room = typeof a.data_base64 === 'string' ? base64Length(maxBytes) / 8 : 0;
    if (a.data_base64.length > base64Length(maxBytes) + room + 1024)
      fail(i, `larger than ${maxBytes} bytes`, { max_bytes: maxBytes });
    const data = typeof a.data_base64 === 'string' ? decodeBase64(a.data_base64, i, maxBytes) : a.data_base64.bytes;
    if (data.length > maxBytes)
      fail(i, `${data.length} bytes is larger than ${maxBytes} bytes`, {
        size_bytes: data.length,
        max_bytes: maxBytes,
      });

    if (data.length === 0 && !type.text)
      fail(i, `is empty: only a text type (csv, txt) may be an empty file, not ${mime}`, { size_bytes: 0 });
    const detected = await fileTypeFromBuffer(data);
    if (type.text) {
      if (detected)
        fail(i, `declared ${mime} but the bytes are ${detected.mime}`, { declared: mime, detected: detected.mime });
      let text: string;
      try {
        text = utf8.decode(data);
      } catch {
        return fail(i, `declared ${mime} but the bytes are not UTF-8 text`, { declared: mime });
      }
      if (text.includes('\u0000')) fail(i, `declared ${mime} but the bytes contain NUL characters`, { declared: mime });
      if (type.text === 'json') {
        try {
          JSON.parse(text);
        } catch {
          fail(i, 'declared application/json but the content is not valid JSON', { declared: mime });
        }
      }
    } else if (detected?.mime !== mime) {
      fail(i, `declared ${mime} but the bytes are ${detected?.mime ?? 'not a recognised file'}`, {
        declared: mime,
        detected: detected?.mime ?? null,
      });
    }
    out.push({
      filename: a.filename,
      contentType: mime,
      data,
      sha256: typeof a.data_base64 === 'string' ? await sha256Hex(data) : a.data_base64.sha256,
    });
  }
  return out;
}
