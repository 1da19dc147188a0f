import { neutralizeHeaderText } from '../../platform/header-safety.js';
import { encodedWords } from './encoded-word.js';

/**
 * The attachment's filename as header parameters, the way Nodemailer writes them: `filename=` in
 * Content-Disposition (RFC 2231 `filename*=` for anything but plain ASCII) and `name=` in
 * Content-Type for older clients (RFC 2047 encoded words inside the quotes for anything but
 * plain ASCII). Python's parser and mailparser decode encoded words even inside a quoted
 * parameter, so a name holding "=?" is never written plain: as RFC 2231 it is percent-escaped,
 * as encoded words it is Q- or B-encoded, and both decode to the literal text.
 */

/** Printable ASCII words separated by single spaces, without quote, backslash or "=?": readable as is by every parser. */
const isPlain = (v: string): boolean =>
  /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/.test(v) && !/["\\]/.test(v) && !v.includes('=?');
/** A value that needs no quotes (no tspecial; a leading "-" is quoted, as Nodemailer does). */
const isToken = (v: string): boolean => /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(v);
const plainParameter = (key: string, v: string) => (isToken(v) ? `${key}=${v}` : `${key}="${v}"`);

/** Longest plain value written in one piece: the parameter then fits a folded line. */
const PLAIN_MAX = 60;
/** Percent-encoded characters per RFC 2231 section (`filename*12*=` + this < 78). */
const SECTION_MAX = 60;

/** RFC 2231 attribute-char: everything else is percent-encoded. */
const ATTR_CHAR = /^[A-Za-z0-9!#$&+.^_`|~-]$/;
const pct = (ch: string): string =>
  ATTR_CHAR.test(ch)
    ? ch
    : Array.from(Buffer.from(ch), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/** `filename=…` or RFC 2231 sections (`filename*0*=utf-8''…; filename*1*=…`), never splitting a character. */
export function filenameParameters(filename: string): string[] {
  const name = neutralizeHeaderText(filename);
  if (isPlain(name) && name.length <= PLAIN_MAX) return [plainParameter('filename', name)];
  const sections: string[] = [];
  let current = "utf-8''";
  for (const ch of name) {
    const p = pct(ch);
    if (current.length + p.length > SECTION_MAX) {
      sections.push(current);
      current = '';
    }
    current += p;
  }
  sections.push(current);
  return sections.length === 1 ? [`filename*=${sections[0]}`] : sections.map((s, i) => `filename*${i}*=${s}`);
}

/** `name=…` for Content-Type: plain, or encoded words inside quotes (which fold between words). */
export function nameParameter(filename: string): string {
  const name = neutralizeHeaderText(filename);
  if (isPlain(name) && name.length <= PLAIN_MAX) return plainParameter('name', name);
  return `name="${encodedWords(name).join(' ')}"`;
}
