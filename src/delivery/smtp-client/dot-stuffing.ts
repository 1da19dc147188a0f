const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/**
 * A message as DATA sends it (RFC 5321 §4.5.2): every line ending made CRLF (a bare CR or a bare
 * LF becomes CRLF), a dot opening a line doubled, and the terminating `.` line added. Byte for
 * byte what Nodemailer's SMTP connection writes for the same message (a test holds it to that),
 * including the dot after a bare CR: a receiver that took a lone CR for a line end would
 * otherwise read `\r.\r` as the end of the data (SMTP smuggling).
 */
export function dotStuff(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    const prev = i > 0 ? raw[i - 1] : undefined;
    let insert: string | null = null;
    if (prev === CR && byte !== LF) insert = byte === DOT ? '\n.' : '\n';
    else if (byte === LF && prev !== CR) insert = '\r';
    else if (byte === DOT && (prev === LF || prev === undefined)) insert = '.';
    if (insert !== null) {
      parts.push(raw.subarray(from, i), Buffer.from(insert, 'latin1'));
      from = i;
    }
  }
  parts.push(raw.subarray(from));
  const last = raw.length ? raw[raw.length - 1] : undefined;
  parts.push(Buffer.from(last === LF ? '.\r\n' : last === CR ? '\n.\r\n' : '\r\n.\r\n', 'latin1'));
  return Buffer.concat(parts);
}
