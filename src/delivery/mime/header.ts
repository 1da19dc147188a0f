import { domainToASCII } from 'node:url';
import { neutralizeHeaderText } from '../../platform/header-safety.js';
import { encodedWords } from './encoded-word.js';

/**
 * Header fields as written on the wire. Every value goes through neutralizeHeaderText first, so
 * whatever a field is given, no line of it can hold a raw CR, LF, NUL or other control; values
 * that are not plain printable ASCII, or that hold a "=?" a client would decode, are written as
 * our own encoded words. Lines are folded before a space to stay within 78 characters; a line
 * that cannot be (one long word) is written as encoded words instead, which can be split.
 */

export const LINE_MAX = 78;
/** RFC 5322 §2.1.1: no line may be longer, whatever the field. */
export const LINE_HARD_MAX = 998;

/** A field as written: "Name: value", folded (CRLF inside, none at the end). */
export interface Field {
  name: string;
  line: string;
}

/** Folds "Name: value" before spaces; `longest` is the longest line, over LINE_MAX only when no space allowed better. */
export function fold(name: string, value: string): { line: string; longest: number } {
  const full = `${name}: ${value}`;
  if (full.length <= LINE_MAX) return { line: full, longest: full.length };
  // Never fold right after the colon: the name would stand alone on its line.
  const firstCut = name.length + 2;
  let out = '';
  let start = 0;
  let longest = 0;
  while (full.length - start > LINE_MAX) {
    let cut = full.lastIndexOf(' ', start + LINE_MAX);
    if (cut <= start || cut < firstCut) cut = full.indexOf(' ', Math.max(start + LINE_MAX + 1, firstCut));
    if (cut < 0) break;
    out += `${full.slice(start, cut)}\r\n`;
    longest = Math.max(longest, cut - start);
    start = cut;
  }
  longest = Math.max(longest, full.length - start);
  return { line: out + full.slice(start), longest };
}

/** True for text a client would show differently than written: anything but printable ASCII, or a "=?". */
export const needsEncodedWords = (text: string): boolean => /[^\x20-\x7e]/.test(text) || text.includes('=?');

/**
 * Unstructured text (Subject): as it is when it is plain and folds within `longestLine`, else
 * as encoded words.
 */
export function textField(name: string, value: string, longestLine = LINE_MAX): Field {
  const text = neutralizeHeaderText(value);
  if (!needsEncodedWords(text)) {
    const plain = fold(name, text);
    if (plain.longest <= longestLine) return { name, line: plain.line };
  }
  return { name, line: fold(name, encodedWords(text).join(' ')).line };
}

/** A field of ours whose syntax forbids encoding when it is plain (List-Unsubscribe: long URLs): only the hard limit applies. */
export const structuredField = (name: string, value: string): Field => textField(name, value, LINE_HARD_MAX);

/** An address with no special character anywhere can go bare; anything else only inside angle brackets (Nodemailer's rule). */
const PLAIN_ADDRESS = /^[^\s"(),:;<>@[\\\]]+@[^\s"(),:;<>@[\\\]]+$/;

export interface Address {
  name?: string;
  address: string;
}

/** The address as it goes in a header and the envelope: no control or angle bracket, an IDN domain in ASCII. */
export function wireAddress(address: string): string {
  const clean = neutralizeHeaderText(address).replace(/[<>]+/g, ' ').trim();
  const at = clean.lastIndexOf('@');
  if (at < 0 || !/[^\x00-\x7f]/.test(clean.slice(at + 1))) return clean;
  return `${clean.slice(0, at)}@${domainToASCII(clean.slice(at + 1)) || clean.slice(at + 1)}`;
}

/**
 * Atoms as they are, other printable ASCII quoted, anything else (or a "=?", which a quoted string
 * would not hide) encoded. Python's `email` keeps the white space between two adjacent encoded
 * words in a display name (RFC 2047 §6.2 drops it): a name long enough for two words reads there
 * with a space between them, as Nodemailer's output does.
 */
function displayName(name: string): string {
  if (/^[A-Za-z0-9_ ]*$/.test(name)) return name;
  if (!needsEncodedWords(name)) return `"${name.replace(/["\\]/g, '\\$&')}"`;
  return encodedWords(name).join(' ');
}

export function formatAddress(a: Address): string {
  const address = wireAddress(a.address);
  const name = a.name ? neutralizeHeaderText(a.name).trim() : '';
  if (name) return `${displayName(name)} <${address}>`;
  return PLAIN_ADDRESS.test(address) ? address : `<${address}>`;
}

export const addressField = (name: string, addresses: Address[]): Field => ({
  name,
  line: fold(name, addresses.map(formatAddress).join(', ')).line,
});

/** A msg-id: no control or white space, in angle brackets. */
export function messageIdField(id: string): Field {
  const bare = neutralizeHeaderText(id).replace(/[\s<>]+/g, '');
  return { name: 'Message-ID', line: `Message-ID: <${bare}>` };
}

/** RFC 5322 date in UTC, as Nodemailer writes it: "Sun, 01 Feb 2026 08:00:00 +0000". */
export const dateField = (date: Date): Field => ({
  name: 'Date',
  line: `Date: ${date.toUTCString().replace(/GMT/, '+0000')}`,
});
