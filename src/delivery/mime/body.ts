/**
 * Body parts: the transfer encoding Nodemailer picks for a text (7bit for plain ASCII with lines
 * of at most 76 characters, else quoted-printable when Latin letters outnumber the rest, else
 * base64) and the encoders, writing CRLF line breaks (RFC 2046 §4.1.1: text travels in canonical
 * form, whatever line breaks it was rendered with) and lines of at most 76 characters.
 */

export type TransferEncoding = '7bit' | 'quoted-printable' | 'base64';

/** Nodemailer tests line lengths only below this size; above, it assumes long lines. */
const LONG_LINE_SCAN_MAX = 128 * 1024;
const LINE = 76;

export function textTransferEncoding(content: string): TransferEncoding {
  let plain = true;
  let longLines = content.length > LONG_LINE_SCAN_MAX;
  let lineLength = 0;
  let other = 0;
  let latin = 0;
  for (let i = 0; i < content.length; i++) {
    const c = content.charCodeAt(i);
    // Line terminators for Nodemailer's check (a regular expression's "."): U+2028/U+2029 too.
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) {
      lineLength = 0;
      if (c > 0xff) {
        other++;
        plain = false;
      }
      continue;
    }
    if (++lineLength > LINE) longLines = true;
    if (c >= 0x80 || (c < 0x20 && c !== 0x09)) {
      other++;
      plain = false;
    } else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
      latin++;
    }
  }
  if (plain && !longLines) return '7bit';
  return other < latin ? 'quoted-printable' : 'base64';
}

/** CRLF for every line break: CRLF, lone CR or lone LF. */
export const canonicalLineBreaks = (text: string): string =>
  /\r(?!\n)|(?<!\r)\n/.test(text) ? text.replace(/\r\n|\r|\n/g, '\r\n') : text;

const HEX = Buffer.from('0123456789ABCDEF');

/**
 * Quoted-printable (RFC 2045 §6.7) of bytes whose line breaks are CRLF: CRLF stays a hard break,
 * lone CR and LF are encoded, white space before a break or at the end is encoded, and soft
 * breaks keep lines within 76 characters without splitting an =XX.
 */
export function quotedPrintable(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length * 3 + Math.ceil((bytes.length * 3) / (LINE - 1)) * 3 + 3);
  let o = 0;
  let line = 0;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 0x0d && bytes[i + 1] === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      i++;
      line = 0;
      continue;
    }
    const next = bytes[i + 1];
    const literal =
      (b >= 0x21 && b <= 0x7e && b !== 0x3d) ||
      ((b === 0x20 || b === 0x09) && next !== undefined && next !== 0x0d && next !== 0x0a);
    const width = literal ? 1 : 3;
    // The "=" of a soft break takes the 76th column.
    if (line + width > LINE - 1) {
      out[o++] = 0x3d;
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      line = 0;
    }
    if (literal) {
      out[o++] = b;
    } else {
      out[o++] = 0x3d;
      out[o++] = HEX[b >> 4]!;
      out[o++] = HEX[b & 15]!;
    }
    line += width;
  }
  return out.subarray(0, o);
}

/** Base64 in lines of 76 characters, CRLF between them. */
export function base64Lines(data: Buffer): Buffer {
  const b64 = Buffer.from(data.toString('base64'), 'latin1');
  const lines = Math.ceil(b64.length / LINE);
  if (lines <= 1) return b64;
  const out = Buffer.allocUnsafe(b64.length + (lines - 1) * 2);
  let o = 0;
  for (let i = 0; i < b64.length; i += LINE) {
    if (i > 0) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    }
    o += b64.copy(out, o, i, Math.min(i + LINE, b64.length));
  }
  return out;
}

/** A text part's content in `encoding`, canonical line breaks first. */
export function encodeText(content: string, encoding: TransferEncoding): Buffer {
  const text = canonicalLineBreaks(content);
  if (encoding === '7bit') return Buffer.from(text, 'latin1');
  const bytes = Buffer.from(text, 'utf8');
  return encoding === 'quoted-printable' ? quotedPrintable(bytes) : base64Lines(bytes);
}
