import { StringDecoder } from 'node:string_decoder';

/**
 * SMTP replies (RFC 5321 §4.2): one or more lines `NNN-text`, the last `NNN text`. The code is
 * the last line's; an enhanced status code (RFC 3463, `class.subject.detail`) may open the text.
 */
export interface Reply {
  code: number;
  /** `5.1.1`, when the reply carries one whose class agrees with the code's first digit. */
  enhanced: string | null;
  /** The lines as received, without line endings, joined by `\n`. */
  text: string;
  lines: string[];
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/** The enhanced status code opening a reply line's text, e.g. `550 5.7.1 Relaying denied` → `5.7.1`. */
export function enhancedCode(code: number, line: string): string | null {
  const m = ENHANCED.exec(line.slice(4));
  return m && Number(m[1]) === Math.floor(code / 100) ? `${m[1]}.${Number(m[2])}.${Number(m[3])}` : null;
}

export class ReplyError extends Error {}

/**
 * Turns received bytes into replies. A reply larger than `maxBytes`, or a line that is not a
 * reply line, is a protocol error: a hostile server cannot make us buffer without end.
 */
export class ReplyReader {
  /** The text of an unfinished line, in the pieces it arrived in (joined once its end comes). */
  private partial: string[] = [];
  private lines: string[] = [];
  private size = 0;
  private decoder = new StringDecoder('utf8');

  constructor(private readonly maxBytes = 64 * 1024) {}

  /** The replies completed by this chunk, in order. Throws ReplyError on a malformed reply. */
  push(chunk: Buffer): Reply[] {
    const replies: Reply[] = [];
    this.size += chunk.length;
    const piece = this.decoder.write(chunk);
    if (piece.indexOf('\n') === -1) {
      // No line ends here: keep the piece. Joining the line again at each chunk cost time in the
      // square of its length (a second of CPU for a 64 KiB line sent one byte at a time).
      if (piece) this.partial.push(piece);
      if (this.size > this.maxBytes) throw new ReplyError(`Reply longer than ${this.maxBytes} bytes`);
      return replies;
    }
    let text = this.partial.length ? this.partial.join('') + piece : piece;
    let nl: number;
    while ((nl = text.indexOf('\n')) !== -1) {
      const line = text.slice(0, nl).replace(/\r$/, '');
      text = text.slice(nl + 1);
      const m = /^(\d{3})([ -]|$)/.exec(line);
      if (!m) throw new ReplyError(`Malformed reply line: ${JSON.stringify(line.slice(0, 80))}`);
      if (this.lines.length && line.slice(0, 3) !== this.lines[0]!.slice(0, 3))
        throw new ReplyError('Reply lines with different codes');
      this.lines.push(line);
      if (m[2] !== '-') {
        const code = Number(m[1]);
        const lines = this.lines;
        replies.push({
          code,
          enhanced: enhancedCode(code, lines.at(-1)!) ?? enhancedCode(code, lines[0]!),
          text: lines.join('\n'),
          lines,
        });
        this.lines = [];
        this.size = text.length;
      }
    }
    this.partial = text ? [text] : [];
    if (this.size > this.maxBytes) throw new ReplyError(`Reply longer than ${this.maxBytes} bytes`);
    return replies;
  }

  /** Bytes received that are not yet part of a complete reply. */
  get pending(): boolean {
    return this.partial.length > 0 || this.lines.length > 0;
  }

  clear(): void {
    this.partial = [];
    this.lines = [];
    this.size = 0;
    this.decoder = new StringDecoder('utf8');
  }
}
