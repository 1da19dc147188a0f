/**
 * The From field of a submitted message, read before its 250 without mailparser when it is
 * written in one of the plain forms nearly every sender uses:
 *
 *   user@example.com
 *   <user@example.com>
 *   Display Name <user@example.com>
 *   "Display, Name" <user@example.com>
 *
 * Anything else (comments, groups, several addresses, encoded words, escapes, tabs, odd spacing,
 * punycode labels) answers `undefined`, and the caller asks mailparser, whose reading of the
 * field is the one that counts: the spool's ingester parses the whole message with it after the
 * 250. Where this answers, it answers what mailparser answers (address and name; the address as
 * written, see `asWritten`), which test/submission-parts.test.ts holds it to over a generated
 * corpus. Parsing the header section with mailparser costs about a fifth of the listener's time
 * per message; this costs nothing.
 */
import { domainToASCII } from 'node:url';

/** RFC 5322 atext and the dot: a dot-atom local part; domains are letters, digits, dot, hyphen. */
const ADDRESS = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+";
const BARE = new RegExp(`^${ADDRESS}$`);
/** A phrase of atext words separated by single spaces; or a quoted string without escapes. */
const NAMED = new RegExp(
  `^(?:([A-Za-z0-9!#$%&'*+/?^_\`{|}~.-]+(?: [A-Za-z0-9!#$%&'*+/?^_\`{|}~.-]+)*)|"([ !#-[\\]-~]*)")? ?<(${ADDRESS})>$`,
);

export interface FromAddress {
  address: string;
  name: string;
}

/**
 * `value` is the field's value unfolded and trimmed (`fieldValue`). A value holding an encoded
 * word's start (`=?`) is never read here.
 */
export function readPlainFrom(value: string): FromAddress | undefined {
  // Encoded words are decoded by mailparser; so are punycode labels (xn--…), into Unicode.
  if (value.includes('=?') || /xn--/i.test(value)) return undefined;
  if (BARE.test(value)) return { address: value, name: '' };
  const m = NAMED.exec(value);
  if (!m) return undefined;
  const quoted = m[2];
  // Leading, trailing or doubled spaces inside quotes (a folded line), or an address as the name:
  // mailparser's reading decides.
  if (quoted !== undefined && (quoted !== quoted.trim() || quoted.includes('  ') || quoted.includes('@')))
    return undefined;
  return { address: m[3]!, name: m[1] ?? quoted ?? '' };
}

/**
 * The address mailparser read from a From field, as the field writes it, or `undefined` when the
 * field does not write it that way. mailparser decodes punycode domains into Unicode
 * (`u@xn--bcher-kva.example` reads as `u@bücher.example`) without checking the result
 * (`u@xn--allowed-.com` reads as `u@allowed.com`), and drops comments inside an address: the
 * sender rule, the archive and DKIM must see the address the recipient's client shows, so the
 * domain is encoded back to ASCII and the result must stand in the field as written (any case).
 */
export function asWritten(address: string, value: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at < 1) return undefined;
  const domain = domainToASCII(address.slice(at + 1));
  if (!domain) return undefined;
  const ascii = `${address.slice(0, at)}@${domain}`.toLowerCase();
  const start = value.toLowerCase().indexOf(ascii);
  if (start === -1) return undefined;
  // Not part of a longer address: "a@b.example" inside "xa@b.example.org" is not it.
  const before = value[start - 1];
  const after = value[start + ascii.length];
  const boundary = (c: string | undefined) => c === undefined || /[\s<>,;:"()]/.test(c);
  return boundary(before) && boundary(after) ? value.slice(start, start + ascii.length) : undefined;
}
