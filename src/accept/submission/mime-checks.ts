import { type SplitMessage, splitHeader } from '../../platform/mime-fields.js';
import { SmtpReply } from './replies.js';

/** RFC 5322 §2.1.1: 998 octets a line, the CRLF excluded. */
export const LINE_MAX = 998;

const refuse = (reason: string, text: string) => new SmtpReply(554, '5.6.0', reason, text);

/**
 * What a submitted message must be before anything is stored, since its bytes are what is
 * delivered: no NUL, CRLF line breaks only (a bare LF or CR is how SMTP smuggling starts), lines
 * within RFC 5322's limit, a header section of well-formed fields in ASCII (8-bit text belongs in
 * encoded words). Each check is a scan by indexOf, so a large message costs little.
 */
export function checkMime(raw: Buffer): SplitMessage {
  const nul = raw.indexOf(0);
  if (nul !== -1) throw refuse('nul_byte', `The message holds a NUL byte (offset ${nul})`);
  let lineStart = 0;
  for (let lf = raw.indexOf(0x0a); lf !== -1; lf = raw.indexOf(0x0a, lf + 1)) {
    if (lf === 0 || raw[lf - 1] !== 0x0d) throw refuse('bare_lf', `Bare LF at offset ${lf}: lines must end with CRLF`);
    if (lf - 1 - lineStart > LINE_MAX)
      throw refuse('line_too_long', `A line is longer than ${LINE_MAX} octets (offset ${lineStart})`);
    lineStart = lf + 1;
  }
  if (raw.length - lineStart > LINE_MAX)
    throw refuse('line_too_long', `A line is longer than ${LINE_MAX} octets (offset ${lineStart})`);
  for (let cr = raw.indexOf(0x0d); cr !== -1; cr = raw.indexOf(0x0d, cr + 1)) {
    if (raw[cr + 1] !== 0x0a) throw refuse('bare_cr', `Bare CR at offset ${cr}: lines must end with CRLF`);
  }
  const split = splitHeader(raw);
  if (split.badLine)
    throw refuse(
      'malformed_header',
      `Header line ${split.badLine.number} is not a field: ${JSON.stringify(split.badLine.text.slice(0, 60))}`,
    );
  for (let i = 0; i < split.bodyStart; i++) {
    if (raw[i]! >= 0x80) {
      throw refuse('8bit_header', `The header holds 8-bit bytes (offset ${i}): encode non-ASCII text (RFC 2047)`);
    }
  }
  const count = (key: string) => split.fields.filter((f) => f.key === key).length;
  if (count('from') !== 1) throw refuse('malformed_header', 'The message must have exactly one From field');
  for (const key of ['message-id', 'subject', 'date', 'sender', 'reply-to', 'to', 'cc', 'bcc']) {
    if (count(key) > 1) throw refuse('malformed_header', `The message has more than one ${key} field`);
  }
  return split;
}
