/**
 * The header section of a raw RFC 5322 message, field by field, as written: a submitted message
 * is checked by it at accept time and delivered from it (Bcc and our own X-Postier-* fields taken
 * out), so both sides read fields the same way. Line breaks are CRLF (submission refuses others).
 */

export interface RawField {
  /** As written. */
  name: string;
  /** Lower-cased, to compare. */
  key: string;
  /** The whole field, "Name: value" with its folded lines, without the final CRLF. */
  line: string;
}

export interface SplitMessage {
  fields: RawField[];
  /** Where the body starts (after the empty line; the message's length when there is none). */
  bodyStart: number;
  /** The first line that is neither a field nor a folded continuation (1-based), if any. */
  badLine?: { number: number; text: string };
}

/** RFC 5322 §3.6.8: printable ASCII but the colon, then the colon. */
const FIELD_START = /^([!-9;-~]+)[ \t]*:/;

export function splitHeader(raw: Buffer): SplitMessage {
  // The header section is ASCII: one byte per character, whatever it holds.
  const end = raw.indexOf('\r\n\r\n', 0, 'latin1');
  const startsEmpty = raw.length >= 2 && raw[0] === 0x0d && raw[1] === 0x0a;
  if (startsEmpty) return { fields: [], bodyStart: 2 };
  const headerEnd = end === -1 ? raw.length : end;
  const bodyStart = end === -1 ? raw.length : end + 4;
  const lines = raw.toString('latin1', 0, headerEnd).split('\r\n');
  const fields: RawField[] = [];
  for (const [i, text] of lines.entries()) {
    if (text === '' && i === lines.length - 1) break;
    if ((text.startsWith(' ') || text.startsWith('\t')) && fields.length > 0) {
      fields[fields.length - 1]!.line += `\r\n${text}`;
      continue;
    }
    const m = FIELD_START.exec(text);
    if (!m) return { fields, bodyStart, badLine: { number: i + 1, text } };
    fields.push({ name: m[1]!, key: m[1]!.toLowerCase(), line: text });
  }
  return { fields, bodyStart };
}

/** A field's value: unfolded, trimmed. */
export const fieldValue = (f: RawField): string =>
  f.line
    .slice(f.line.indexOf(':') + 1)
    .replace(/\r\n(?=[ \t])/g, '')
    .trim();
