/** RFC 5965 feedback report fields (message/feedback-report): a single header-like block. */
import { extractAddress } from './addresses.js';
import { parseHeaderBlock } from './mime.js';
import { decodeEncodedWords } from './mime-decode.js';

export interface ArfFields {
  feedbackType: string | null;
  userAgent: string | null;
  originalMailFrom: string | null;
  /** Original-Rcpt-To (one per recipient) and the older Removal-Recipient, lowercased. */
  recipients: string[];
  sourceIp: string | null;
  reportedDomain: string | null;
  arrivalDate: string | null;
}

export function parseFeedbackReport(text: string): ArfFields {
  const h = parseHeaderBlock(text.replace(/^\s+/, ''));
  const all = (name: string) => (h.get(name) ?? []).map((v) => decodeEncodedWords(v));
  const first = (name: string) => all(name)[0]?.trim() || null;
  const recipients: string[] = [];
  for (const v of [...all('original-rcpt-to'), ...all('removal-recipient')]) {
    const a = extractAddress(v);
    if (a && !recipients.includes(a)) recipients.push(a);
  }
  return {
    feedbackType: first('feedback-type')?.toLowerCase() ?? null,
    userAgent: first('user-agent'),
    originalMailFrom: extractAddress(first('original-mail-from')),
    recipients,
    sourceIp: first('source-ip'),
    reportedDomain: first('reported-domain'),
    arrivalDate: first('arrival-date') ?? first('received-date'),
  };
}
