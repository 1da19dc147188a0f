import net from 'node:net';
import tls from 'node:tls';

/**
 * A raw SMTP client for the submission tests: sends exactly the bytes it is given (bare LF, NUL,
 * commands before the greeting, a message cut off mid-DATA), and reads whole replies.
 */
export class SmtpTalk {
  private buffer = '';
  private waiting: (() => void) | null = null;
  closed = false;

  private constructor(private socket: net.Socket) {
    this.listen(socket);
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => {});
  }

  /** `localAddress`: the client address a plain connection comes from (127.0.0.x, ::1). */
  static connect(
    port: number,
    opts: { host?: string; tls?: boolean; greet?: boolean; localAddress?: string } = {},
  ): Promise<SmtpTalk> {
    return new Promise((resolve, reject) => {
      const host = opts.host ?? '127.0.0.1';
      const { localAddress } = opts;
      const socket = opts.tls
        ? tls.connect({ port, host, rejectUnauthorized: false }, () => done())
        : net.connect({ port, host, localAddress }, () => done());
      socket.once('error', reject);
      const done = async () => {
        const talk = new SmtpTalk(socket);
        if (opts.greet !== false) await talk.reply();
        resolve(talk);
      };
    });
  }

  /** The next whole reply (all its lines), or '' when the server closed the connection first. */
  async reply(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return '';
      if (Date.now() > deadline)
        throw new Error(`no reply within ${timeoutMs} ms (have ${JSON.stringify(this.buffer)})`);
      await new Promise<void>((r) => {
        this.waiting = r;
        setTimeout(r, 50);
      });
      this.waiting = null;
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** STARTTLS, then the TLS handshake on the same socket. */
  async starttls(): Promise<string> {
    const r = await this.command('STARTTLS');
    if (!r.startsWith('220')) return r;
    const plain = this.socket;
    plain.removeAllListeners('data');
    this.socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.listen(this.socket);
    return r;
  }

  /** AUTH PLAIN with this password (any user name). */
  login(password: string, user = 'odoo'): Promise<string> {
    return this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  }

  /** MAIL, RCPTs, DATA and the message (dot-stuffed here); the reply to the final dot, or the first refusal. */
  async send(from: string, to: string[], message: Buffer | string): Promise<string> {
    const mail = await this.command(`MAIL FROM:<${from}>`);
    if (!mail.startsWith('250')) return mail;
    for (const r of to) {
      const rcpt = await this.command(`RCPT TO:<${r}>`);
      if (!rcpt.startsWith('250')) return rcpt;
    }
    const data = await this.command('DATA');
    if (!data.startsWith('354')) return data;
    const bytes = Buffer.isBuffer(message) ? message : Buffer.from(message, 'latin1');
    const stuffed = bytes.toString('latin1').replace(/(^|\r\n)\./g, '$1..');
    this.write(
      Buffer.concat([Buffer.from(stuffed, 'latin1'), Buffer.from(stuffed.endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n')]),
    );
    return this.reply();
  }

  close(): void {
    this.socket.destroy();
  }
}
