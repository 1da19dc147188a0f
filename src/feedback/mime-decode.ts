/**
 * Byte-level decoding for the MIME walker. Raw mail is held as a latin1 string (one char per byte),
 * so slicing and searching are cheap; text is turned into Unicode only at the end, by its charset.
 */
import { TextDecoder } from 'node:util';

const decoders = new Map<string, TextDecoder | null>();

function decoderFor(charset: string): TextDecoder | null {
  const key = charset.trim().toLowerCase().replace(/^["']|["']$/g, '').replace(/\*.*$/, '');
  let d = decoders.get(key);
  if (d === undefined) {
    try {
      d = new TextDecoder(key === '' || key === 'us-ascii' || key === 'ascii' ? 'utf-8' : key);
    } catch {
      d = null;
    }
    if (decoders.size < 64) decoders.set(key, d);
  }
  return d;
}

/** Bytes (as a latin1 string) to text in `charset`; unknown charsets read as UTF-8. */
export function decodeCharset(bytes: string, charset: string | undefined): string {
  if (!/[\x80-\xff]/.test(bytes)) return bytes;
  const d = decoderFor(charset ?? 'utf-8') ?? decoderFor('utf-8')!;
  return d.decode(Buffer.from(bytes, 'latin1'));
}

/** Quoted-printable to bytes (latin1 string); malformed escapes are kept as they are, as mail clients do. */
export function decodeQuotedPrintable(s: string): string {
  return s.replace(/[ \t]+(?=\r?\n)/g, '').replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Base64 to bytes (latin1 string); Node skips whitespace and stops at garbage rather than throwing. */
export function decodeBase64(s: string): string {
  return Buffer.from(s, 'base64').toString('latin1');
}

/** A transfer-encoded body to bytes, reading at most `max` decoded bytes. */
export function decodeTransfer(body: string, encoding: string | undefined, max: number): string {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === 'base64') return decodeBase64(body.slice(0, Math.ceil((max * 4) / 3) + 4 * 1024)).slice(0, max);
  if (enc === 'quoted-printable') return decodeQuotedPrintable(body.slice(0, max * 3)).slice(0, max);
  return body.slice(0, max);
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

/** RFC 2047 encoded words in a header value (adjacent words join without the space between them). */
export function decodeEncodedWords(value: string): string {
  if (!value.includes('=?')) return value;
  return value
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(ENCODED_WORD, (_m, charset: string, enc: string, text: string) => {
      const bytes = enc.toLowerCase() === 'b' ? decodeBase64(text) : decodeQuotedPrintable(text.replace(/_/g, ' '));
      return decodeCharset(bytes, charset);
    });
}

/** A raw header value (latin1 string of bytes) to text: 8-bit bytes as UTF-8 (RFC 6532), then encoded words. */
export function decodeHeaderValue(raw: string): string {
  const text = /[\x80-\xff]/.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
  return decodeEncodedWords(text).trim();
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Crude HTML to text, enough to read an HTML-only notification: block ends become newlines, tags go. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<(br|\/p|\/div|\/tr|\/li|\/h\d|\/table|p|div|tr|li)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/\n[ \t]+/g, '\n')
    .replace(/\n{3,}/g, '\n\n');
}
