/**
 * Byte-level decoding for the MIME walker. Raw mail is held as a latin1 string (one char per byte),
 * so slicing and searching are cheap; text is turned into Unicode only at the end, by its charset.
 */
import { TextDecoder } from 'node:util';

const decoders = new Map<string, TextDecoder | null>();

function decoderFor(charset: string): TextDecoder | null {
  const key = charset
    .trim()
    .toLowerCase()
    .replace(/^["']|["']$/g, '')
    .replace(/\*.*$/, '');
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

/**
 * Quoted-printable to bytes (latin1 string); malformed escapes are kept as they are, as mail clients
 * do. (Trailing whitespace before line ends is kept too: it changes nothing for classification, and
 * removing it with a regex costs quadratic time on a line of spaces.)
 */
export function decodeQuotedPrintable(s: string): string {
  return s
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
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

// Bounded: an encoded word is at most 75 characters (RFC 2047); a few MUAs write longer ones.
const ENCODED_WORD = /=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]{0,2000})\?=/g;

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
const BLOCK = /^\/?(br|p|div|tr|li|h\d|table)\b/i;
const SKIPPED = /^(script|style|head)\b/i;

/**
 * Crude HTML to text, enough to read an HTML-only notification: block ends become newlines, tags go.
 * A single pass with indexOf, so hostile markup (thousands of unclosed "<") costs linear time.
 */
export function htmlToText(html: string): string {
  let out = '';
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      out += html.slice(i);
      break;
    }
    out += html.slice(i, lt);
    const gt = html.indexOf('>', lt + 1);
    if (gt < 0) {
      out += html.slice(lt);
      break;
    }
    const tag = html.slice(lt + 1, Math.min(gt, lt + 12));
    const skipped = SKIPPED.exec(tag)?.[1];
    if (skipped) {
      const close = html.toLowerCase().indexOf(`</${skipped.toLowerCase()}`, gt);
      const end = close < 0 ? -1 : html.indexOf('>', close);
      i = end < 0 ? html.length : end + 1;
      out += ' ';
      continue;
    }
    out += BLOCK.test(tag) ? '\n' : '';
    i = gt + 1;
  }
  return out
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (m, e: string) => {
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
