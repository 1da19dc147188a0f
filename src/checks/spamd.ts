import { connect } from 'node:net';

/** What SpamAssassin said of a mail: its score against the threshold, and the rules that fired. */
export interface SpamReport {
  score: number;
  threshold: number;
  is_spam: boolean;
  rules: Array<{ score: number; name: string; description: string }>;
}

/**
 * Asks a spamd for a report (the SPAMD protocol's REPORT command, as spamc sends it): our own
 * small client over a socket, so only spamd, not the spamc binary, needs to be installed. The
 * report's text is read for its rules only: its content preview would echo the mail itself.
 */
export function spamReport(
  address: { host: string; port: number },
  raw: Buffer,
  timeoutMs = 60_000,
): Promise<SpamReport> {
  return new Promise((resolve, reject) => {
    const socket = connect(address.port, address.host);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`spamd did not answer within ${timeoutMs} ms`)));
    socket.on('connect', () => {
      socket.write(`REPORT SPAMC/1.5\r\nContent-length: ${raw.length}\r\nUser: postier\r\n\r\n`);
      socket.end(raw);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      try {
        resolve(parseSpamdReply(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** `SPAMD/1.1 0 EX_OK`, a `Spam: True ; 6.2 / 5.0` header, then the report with its rule table. */
export function parseSpamdReply(reply: string): SpamReport {
  const status = /^SPAMD\/\d+\.\d+ (\d+) (\S+)/.exec(reply);
  if (!status) throw new Error('spamd answered something else than the SPAMD protocol');
  if (status[1] !== '0') throw new Error(`spamd refused the check: ${status[1]} ${status[2]}`);
  const verdict = /^Spam: (True|False|Yes|No) ; (-?[\d.]+) \/ (-?[\d.]+)/im.exec(reply);
  if (!verdict) throw new Error('spamd gave no score');
  const body = reply.slice(reply.indexOf('\r\n\r\n') + 4);
  const rules = [...body.matchAll(/^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]{2,})\s+(.+)$/gm)].map((m) => ({
    score: Number(m[1]),
    name: m[2]!,
    description: m[3]!.trim(),
  }));
  return {
    score: Number(verdict[2]),
    threshold: Number(verdict[3]),
    is_spam: /^(True|Yes)$/i.test(verdict[1]!),
    rules,
  };
}
