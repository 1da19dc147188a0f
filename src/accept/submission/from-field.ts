/**
 * The From field of a submitted message, read before its 250 without mailparser when it is
 * written in one of the plain forms nearly every sender uses:
 *
 *   user@example.com
 *   <user@example.com>
 *   Display Name <user@example.com>
 *   "Display, Name" <user@example.com>
 *
 * Anything else (comments, groups, several addresses, encoded words, escapes, tabs, odd spacing)
 * answers `undefined`, and the caller asks mailparser, whose reading of the field is the one
 * that counts: the spool's ingester parses the whole message with it after the 250. Where this
 * answers, it answers what mailparser answers (address and name), which
 * test/submission-from.test.ts holds it to over a generated corpus. Parsing the header section
 * with mailparser costs about a fifth of the listener's time per message; this costs nothing.
 */

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
  if (value.includes('=?')) return undefined;
  if (BARE.test(value)) return { address: value, name: '' };
  const m = NAMED.exec(value);
  if (!m) return undefined;
  const quoted = m[2];
  // Leading or trailing spaces inside quotes: mailparser's reading decides.
  if (quoted !== undefined && quoted !== quoted.trim()) return undefined;
  return { address: m[3]!, name: m[1] ?? quoted ?? '' };
}
