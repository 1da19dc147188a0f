/**
 * RFC 2047 encoded words for UTF-8 text, as Nodemailer writes them: Q or B chosen by its rule
 * (Q when Latin letters outnumber the rest), at most 52 characters a word so a word fits on a
 * folded line after any usual field name, and never a character split between two words.
 * Q leaves only letters, digits and `!*+-/` as they are (the set RFC 2047 allows in a phrase),
 * so the words can stand in a display name or a quoted parameter too, and a "=?" in the text
 * comes out as "=3D=3F": no client can read an encoded word of the caller's in it.
 */

const CHARSET_PREFIX = '=?UTF-8?';
/** "=?UTF-8?Q?" + text + "?=" ≤ 52 characters. */
const TEXT_MAX = 52 - CHARSET_PREFIX.length - 4;
/** Base64 of at most this many bytes fits in TEXT_MAX characters. */
const B_BYTES_MAX = Math.floor(TEXT_MAX / 4) * 3;

const HEX = Array.from({ length: 256 }, (_, i) => `=${i.toString(16).toUpperCase().padStart(2, '0')}`);
/** The Q form of each ASCII character. */
const Q_ASCII = Array.from({ length: 128 }, (_, i) =>
  /[A-Za-z0-9!*+\-/]/.test(String.fromCharCode(i)) ? String.fromCharCode(i) : i === 0x20 ? '_' : HEX[i]!,
);

/** Nodemailer's choice: Q when Latin letters outnumber control and non-ASCII code units, else B. */
export function wordEncoding(text: string): 'Q' | 'B' {
  let other = 0;
  let latin = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) other++;
    else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
  }
  return other < latin ? 'Q' : 'B';
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/** The Q form of one code point's UTF-8 bytes (a lone surrogate as U+FFFD, as Buffer.from writes it). */
function qChar(cp: number): string {
  if (cp < 0x80) return Q_ASCII[cp]!;
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x800) return HEX[0xc0 | (cp >> 6)]! + HEX[0x80 | (cp & 63)]!;
  if (cp < 0x10000) return HEX[0xe0 | (cp >> 12)]! + HEX[0x80 | ((cp >> 6) & 63)]! + HEX[0x80 | (cp & 63)]!;
  return (
    HEX[0xf0 | (cp >> 18)]! + HEX[0x80 | ((cp >> 12) & 63)]! + HEX[0x80 | ((cp >> 6) & 63)]! + HEX[0x80 | (cp & 63)]!
  );
}

/** `text` as encoded words (to be separated by folding white space); decoders join them back without it. */
export function encodedWords(text: string, encoding: 'Q' | 'B' = wordEncoding(text)): string[] {
  const words: string[] = [];
  let current = '';
  let bytes = 0;
  const prefix = `${CHARSET_PREFIX}${encoding}?`;
  const flush = () => {
    words.push(`${prefix}${encoding === 'Q' ? current : Buffer.from(current).toString('base64')}?=`);
    current = '';
    bytes = 0;
  };
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (encoding === 'Q') {
      const q = qChar(cp);
      if (current.length + q.length > TEXT_MAX) flush();
      current += q;
    } else {
      const n = cp >= 0xd800 && cp <= 0xdfff ? 3 : utf8Length(cp);
      if (bytes + n > B_BYTES_MAX) flush();
      current += ch;
      bytes += n;
    }
  }
  if (current) flush();
  return words;
}
