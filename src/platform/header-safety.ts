import { TextDecoder } from 'node:util';
import { AppError } from './errors.js';

/**
 * What a header value may hold, judged on every text a mail client could show for it, not only
 * on the characters given. Clients decode RFC 2047 encoded words wherever they find one (inside
 * a word, inside a quoted parameter, with spaces inside: Python's `email` and mailparser both
 * do), RFC 2231 parameters and, in some tools, percent escapes; Windows maps fullwidth slashes to
 * real ones. A value is refused when any of those readings holds:
 *
 * - a control character: C0 (TAB included), DEL, C1, or U+2028/U+2029 (line and paragraph
 *   separators, which some parsers split lines on);
 * - a bidirectional embedding, override or isolate (U+202A–U+202E, U+2066–U+2069): they reorder
 *   what follows them ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf").
 *   The marks U+200E, U+200F and U+061C are allowed: they only set the direction of the neutral
 *   characters next to them, cannot reverse a run of text, and Arabic and Hebrew text needs them;
 * - an encoded word in a charset Postier cannot decode (UTF-7 and the like): its reading is
 *   unknown, and Python decodes UTF-7;
 * - for filenames, also a path separator (/ or \) or a leading dot.
 *
 * The writer (src/delivery/mime/) encodes every value that holds "=?" as encoded words of its
 * own, so an accepted value reaches the recipient as the literal text that was given.
 */

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
const PATH_SEPARATOR = /[/\\]/;

/** Loose on purpose: what the most lenient decoder reads as an encoded word (spaces inside, anywhere in a word). */
const ENCODED_WORD = /=\?([^?]*)\?([bBqQ])\?([^?]*)\?=/g;
/** Double encoding deeper than this is refused rather than unwrapped. */
const MAX_DECODING_ROUNDS = 3;

export type HeaderProblemReason =
  | 'control_character'
  | 'bidi_control'
  | 'path_separator'
  | 'leading_dot'
  | 'undecodable_encoded_word';

export interface HeaderProblem {
  reason: HeaderProblemReason;
  /** True when the characters appear only once the value is decoded as a mail client would. */
  decoded: boolean;
}

const MESSAGES: Record<HeaderProblemReason, string> = {
  control_character: 'must not contain control characters',
  bidi_control: 'must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069)',
  path_separator: 'must not contain path separators',
  leading_dot: 'must not start with a dot',
  undecodable_encoded_word: 'must not contain an RFC 2047 encoded word in a charset Postier cannot decode',
};

export function describeProblem(p: HeaderProblem): string {
  const how =
    ' (once decoded as a mail client may decode it: RFC 2047 encoded words, RFC 2231 or percent escapes, Unicode compatibility forms)';
  return MESSAGES[p.reason] + (p.decoded ? how : '');
}

export function hasEncodedWord(value: string): boolean {
  ENCODED_WORD.lastIndex = 0;
  return ENCODED_WORD.test(value);
}

const decoders = new Map<string, TextDecoder | null>();
function decoderFor(charset: string): TextDecoder | null {
  // RFC 2231 lets an encoded word name a language after the charset: "utf-8*fr".
  const label = charset.split('*')[0]!.trim().toLowerCase();
  let d = decoders.get(label);
  if (d === undefined) {
    try {
      d = new TextDecoder(label);
    } catch {
      d = null;
    }
    if (decoders.size < 100) decoders.set(label, d);
  }
  return d;
}

/** Q-encoded text as bytes; a character that should not be there (not ASCII) counts as its UTF-8 bytes. */
function qBytes(text: string): Buffer {
  const parts = text.replace(/_/g, ' ').split(/(=[0-9a-fA-F]{2})/);
  return Buffer.concat(parts.map((p, i) => (i % 2 ? Buffer.from([parseInt(p.slice(1), 16)]) : Buffer.from(p))));
}

/**
 * The texts of `bytes` in `charset`. WHATWG decoders read ISO-8859-1 and US-ASCII as
 * windows-1252, where Python reads 0x80–0x9F as C1 controls: both readings are kept.
 */
function charsetReadings(bytes: Buffer, decoder: TextDecoder): string[] {
  const text = decoder.decode(bytes);
  return decoder.encoding === 'windows-1252' ? [text, bytes.toString('latin1')] : [text];
}

/** `value` with every encoded word decoded, once per distinct reading; null if a charset is unknown. */
function decodeEncodedWords(value: string): string[] | null {
  let unknown = false;
  const alternatives: string[] = [];
  const first = value.replace(ENCODED_WORD, (_m, charset: string, enc: string, text: string) => {
    const decoder = decoderFor(charset);
    if (!decoder) {
      unknown = true;
      return '';
    }
    const bytes = enc === 'b' || enc === 'B' ? Buffer.from(text, 'base64') : qBytes(text);
    const [main, other] = charsetReadings(bytes, decoder);
    if (other !== undefined && other !== main) alternatives.push(other);
    return main!;
  });
  if (unknown) return null;
  // Parsers differ only on C1 bytes in Latin-1 words: checking those readings alone is enough.
  return [first, ...alternatives];
}

/** Every text a client could read in `value` (the value itself first), or null when one is unknowable. */
function encodedWordReadings(value: string): string[] | null {
  const readings = [value];
  let frontier = [value];
  for (let round = 0; frontier.some(hasEncodedWord); round++) {
    if (round === MAX_DECODING_ROUNDS) return null;
    const next: string[] = [];
    for (const v of frontier) {
      if (!hasEncodedWord(v)) continue;
      const decoded = decodeEncodedWords(v);
      if (!decoded) return null;
      next.push(...decoded);
    }
    readings.push(...next);
    frontier = next;
  }
  return readings;
}

function percentDecoded(value: string, charset = 'utf-8'): string[] {
  if (!/%[0-9a-fA-F]{2}/.test(value)) return [];
  const decoder = decoderFor(charset) ?? decoderFor('utf-8')!;
  return charsetReadings(
    Buffer.from(
      value.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ),
    decoder,
  );
}

/** Readings of a filename: encoded words, RFC 2231 (charset'language'%XX) and bare percent escapes, Unicode compatibility forms. */
function filenameReadings(name: string): string[] | null {
  const direct = encodedWordReadings(name);
  if (!direct) return null;
  const more: string[] = [];
  for (const r of direct) {
    const rfc2231 = /^([^']*)'[^']*'(.*)$/s.exec(r);
    if (rfc2231) more.push(...percentDecoded(rfc2231[2]!, rfc2231[1] || 'utf-8'));
    more.push(...percentDecoded(r));
  }
  const decodedAgain: string[] = [];
  for (const r of more) {
    const again = encodedWordReadings(r);
    if (!again) return null;
    decodedAgain.push(...again);
  }
  const all = [...direct, ...decodedAgain];
  // Windows' "best fit" code pages turn a fullwidth solidus (U+FF0F) into "/": NFKC shows the same.
  return [...all, ...all.map((r) => r.normalize('NFKC')).filter((r, i) => r !== all[i])];
}

function firstProblem(
  readings: string[] | null,
  checks: Array<[HeaderProblemReason, (s: string) => boolean]>,
): HeaderProblem | null {
  if (!readings) return { reason: 'undecodable_encoded_word', decoded: true };
  for (const [reason, bad] of checks) {
    const at = readings.findIndex(bad);
    if (at >= 0) return { reason, decoded: at > 0 };
  }
  return null;
}

const TEXT_CHECKS: Array<[HeaderProblemReason, (s: string) => boolean]> = [
  ['control_character', (s) => CONTROL.test(s)],
  ['bidi_control', (s) => BIDI.test(s)],
];

const FILENAME_CHECKS: Array<[HeaderProblemReason, (s: string) => boolean]> = [
  ...TEXT_CHECKS,
  ['path_separator', (s) => PATH_SEPARATOR.test(s)],
  ['leading_dot', (s) => s.trimStart().startsWith('.')],
];

/** Why a header text (a subject) is unsafe, judged on every reading a client could make of it; null if it is safe. */
export function headerTextProblem(value: string): HeaderProblem | null {
  // The common case, plain text without "=?" or a character to refuse, costs one scan.
  if (!value.includes('=?') && !CONTROL.test(value) && !BIDI.test(value)) return null;
  return firstProblem(encodedWordReadings(value), TEXT_CHECKS);
}

/** Why an attachment filename is unsafe (see headerTextProblem), or null. */
export function filenameProblem(name: string): HeaderProblem | null {
  return firstProblem(filenameReadings(name), FILENAME_CHECKS);
}

/** Refuses a header value from a template, a variable or a caller: 422 invalid_header_value naming the field. */
export function checkHeaderValue(field: string, value: string): void {
  const problem = headerTextProblem(value);
  if (!problem) return;
  throw new AppError('invalid_header_value', `${field} ${describeProblem(problem)}`, {
    field,
    part: field,
    reason: problem.reason,
    decoded: problem.decoded,
  });
}

/**
 * The writer's own guard, whatever it is given (a row stored before these checks, a setting):
 * control characters become a space and bidirectional controls are dropped, so no header it
 * writes can carry them raw or encoded.
 */
export function neutralizeHeaderText(value: string): string {
  if (!CONTROL.test(value) && !BIDI.test(value)) return value;
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').replace(/[\u202a-\u202e\u2066-\u2069]/g, '');
}
