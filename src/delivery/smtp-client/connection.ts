import { EventEmitter } from 'node:events';
import net from 'node:net';
import { hostname } from 'node:os';
import tls from 'node:tls';
import { dotStuff } from './dot-stuffing.js';
import { SmtpError, type SmtpPhase } from './errors.js';
import { type Reply, ReplyError, ReplyReader } from './reply.js';

/** `tls`: TLS from the first byte (port 465); `starttls`: STARTTLS required; `none`: plain SMTP, STARTTLS never used. */
export type SmtpSecurity = 'tls' | 'starttls' | 'none';

export interface SmtpClientOptions {
  host: string;
  port: number;
  security: SmtpSecurity;
  /** Extra TLS settings (a test's `ca`); certificates are verified unless this says otherwise. */
  tls?: tls.ConnectionOptions;
  /** AUTH PLAIN (preferred) or LOGIN, when the server offers AUTH. */
  auth?: { user: string; pass: string };
  /** The name given in EHLO/HELO (default: this machine's host name). */
  name?: string;
  /** Deadline of every phase but the last: connect, greeting, EHLO, STARTTLS, AUTH, each command. */
  timeoutMs: number;
  /** Deadline of the message bytes and the reply to the final dot. */
  dataTimeoutMs: number;
  /** Largest reply accepted (a server sending more is cut off as a protocol error). */
  maxReplyBytes?: number;
}

export interface SmtpEnvelope {
  from: string;
  to: string[];
}

/** The server's answer to one RCPT TO. */
export interface RecipientReply {
  address: string;
  accepted: boolean;
  code: number;
  enhanced: string | null;
  response: string;
}

export interface SendResult {
  recipients: RecipientReply[];
  /** The reply to the final dot; null when no recipient was accepted (DATA was not sent). */
  data: Reply | null;
}

export interface Extensions {
  pipelining: boolean;
  starttls: boolean;
  smtputf8: boolean;
  /** SIZE's limit in bytes (0: announced without a limit); null when SIZE is not offered. */
  size: number | null;
  /** AUTH mechanisms offered, upper case. */
  auth: string[];
}

interface Waiter {
  resolve: (r: Reply) => void;
  reject: (e: SmtpError) => void;
}

const NO_EXTENSIONS: Extensions = { pipelining: false, starttls: false, smtputf8: false, size: null, auth: [] };
const UNSAFE_ADDRESS = /[\r\n<>]/;

/**
 * One SMTP session (RFC 5321) that sends pre-built messages. Every phase has a deadline counted
 * from its start, not from the last byte received: a server that answers one byte at a time
 * cannot hold the session past it. A phase that overruns closes the connection and fails with
 * an SmtpError of kind `timeout`.
 *
 * `send` gives each recipient's reply and the reply to the final dot; a refused transaction
 * (MAIL FROM, DATA, or every recipient) is followed by RSET so the session can carry the next
 * message. 421 (the server is closing the channel) ends the session. Emits `close` once.
 */
export class SmtpConnection extends EventEmitter<{ close: [SmtpError | null] }> {
  extensions: Extensions = NO_EXTENSIONS;
  private socket!: net.Socket;
  private readonly reader: ReplyReader;
  private readonly replies: Reply[] = [];
  private waiter: Waiter | null = null;
  private phase: SmtpPhase = 'connect';
  private busy = true;
  private closed = false;
  /** In the current transaction: a reply has arrived (an idle connection the server closed gets none). */
  private answered = false;
  private detach: () => void = () => {};

  private constructor(private readonly opts: SmtpClientOptions) {
    super();
    this.reader = new ReplyReader(opts.maxReplyBytes);
  }

  /** Connects, reads the greeting, says EHLO, upgrades with STARTTLS and logs in, as configured. */
  static async open(opts: SmtpClientOptions): Promise<SmtpConnection> {
    const c = new SmtpConnection(opts);
    try {
      await c.handshake();
      c.checkInStep();
    } catch (e) {
      c.destroy(e as SmtpError);
      throw e;
    }
    c.busy = false;
    return c;
  }

  /** Open, not closing, not in the middle of a send. */
  get usable(): boolean {
    return !this.closed && !this.busy;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * One transaction: MAIL FROM, RCPT TO for each recipient (one write with PIPELINING), DATA to
   * the accepted ones. Rejects with an SmtpError when the session or the whole transaction
   * fails (MAIL FROM or DATA refused, timeout, closed connection, 421).
   */
  async send(envelope: SmtpEnvelope, raw: Buffer): Promise<SendResult> {
    if (this.busy) throw new Error('SmtpConnection.send: a send is already in progress');
    if (this.closed || !this.socket.writable)
      throw new SmtpError('Connection is closed', { phase: 'mail', kind: 'connection', nothingSent: true });
    const invalid = [envelope.from, ...envelope.to].find((a) => UNSAFE_ADDRESS.test(a));
    if (invalid !== undefined || envelope.to.length === 0) {
      const response = invalid !== undefined ? `Invalid address ${JSON.stringify(invalid)}` : 'No recipients';
      throw new SmtpError(response, {
        phase: invalid === envelope.from ? 'mail' : 'rcpt',
        kind: 'protocol',
        nothingSent: true,
      });
    }
    this.busy = true;
    this.answered = false;
    try {
      return await this.transaction(envelope, raw);
    } finally {
      this.busy = false;
      try {
        this.checkInStep();
      } catch (e) {
        // The result stands; the connection is not used again.
        this.destroy(e as SmtpError);
      }
    }
  }

  /**
   * Every reply read was asked for. A server that said more (a second reply in the same packet
   * as the reply to the final dot, an extra line after EHLO) is out of step: the next command
   * would read a stale reply as its own (a 550 meant for nothing failing the next message).
   */
  private checkInStep(): void {
    if (this.closed || (this.replies.length === 0 && !this.reader.pending)) return;
    const extra = this.replies[0]?.text ?? 'part of a reply';
    throw new SmtpError(`The server sent a reply nobody asked for: ${extra.slice(0, 200)}`, {
      phase: this.phase,
      kind: 'protocol',
    });
  }

  /** RSET: the session forgets the current transaction. A failure closes the connection. */
  async reset(): Promise<void> {
    const r = await this.command('rset', 'RSET');
    if (r.code !== 250) throw this.fatal(this.refusal('rset', r));
  }

  /** QUIT, then close; never throws. */
  async quit(): Promise<void> {
    if (this.closed) return;
    this.busy = true;
    try {
      await this.command('quit', 'QUIT');
    } catch {
      // Closing anyway.
    }
    this.destroy(null);
  }

  /** Hangs up at once. */
  close(): void {
    this.destroy(null);
  }

  private async handshake(): Promise<void> {
    await this.connect();
    const greeting = await this.next('greeting', this.opts.timeoutMs);
    if (greeting.code !== 220) throw this.refusal('greeting', greeting);
    await this.hello();
    if (this.opts.security === 'starttls') {
      if (!this.extensions.starttls) {
        const details = { phase: 'starttls', kind: 'tls', response: 'STARTTLS not offered' } as const;
        throw new SmtpError('STARTTLS is required (SMTP_USE_TLS) but the server does not offer it', details);
      }
      await this.startTls();
      await this.hello();
    }
    if (this.opts.auth && this.extensions.auth.length > 0) await this.login(this.opts.auth);
  }

  private connect(): Promise<void> {
    const { host, port, security, timeoutMs } = this.opts;
    this.phase = 'connect';
    return new Promise((resolve, reject) => {
      let tcp = false;
      const socket =
        security === 'tls'
          ? tls.connect({ host, port, servername: serverName(host), ...this.opts.tls })
          : net.connect({ host, port });
      this.socket = socket;
      const fail = (e: SmtpError) => {
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      };
      const late = () =>
        fail(
          new SmtpError(`Connection to ${host}:${port} timed out after ${timeoutMs} ms`, {
            phase: 'connect',
            kind: 'timeout',
          }),
        );
      const timer = setTimeout(late, timeoutMs);
      const onError = (e: Error) =>
        fail(
          new SmtpError(
            e.message,
            { phase: 'connect', kind: tcp && security === 'tls' ? 'tls' : 'connection' },
            { cause: e },
          ),
        );
      socket.once('connect', () => (tcp = true));
      socket.once('error', onError);
      socket.once(security === 'tls' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        this.attach(socket);
        resolve();
      });
    });
  }

  /** Listens to the socket: replies go to the waiting phase, or are kept for the next one. */
  private attach(socket: net.Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    const gone = () =>
      this.destroy(
        new SmtpError(`Connection closed by the server during ${this.phase}`, {
          phase: this.phase,
          kind: 'connection',
        }),
      );
    const listeners = {
      data: (chunk: Buffer) => this.onData(chunk),
      error: (e: Error) =>
        this.destroy(new SmtpError(e.message, { phase: this.phase, kind: 'connection' }, { cause: e })),
      end: gone,
      close: gone,
    };
    for (const [event, fn] of Object.entries(listeners)) socket.on(event, fn);
    this.detach = () => {
      for (const [event, fn] of Object.entries(listeners)) socket.off(event, fn);
      // The TLS layer now owns the socket; an error on it arrives through the TLS socket.
      socket.on('error', () => {});
    };
  }

  private onData(chunk: Buffer): void {
    let replies: Reply[];
    try {
      replies = this.reader.push(chunk);
    } catch (e) {
      return this.destroy(
        new SmtpError(e instanceof ReplyError ? e.message : String(e), { phase: this.phase, kind: 'protocol' }),
      );
    }
    for (const r of replies) {
      this.answered = true;
      if (!this.busy) {
        // Nothing was asked: a server talking to an idle session is closing it (421) or broken.
        const details = { phase: this.phase, kind: 'connection', code: r.code, response: r.text } as const;
        return this.destroy(new SmtpError(`Unexpected reply on an idle connection: ${r.text}`, details));
      }
      if (this.waiter) this.waiter.resolve(r);
      else this.replies.push(r);
    }
  }

  /** The next reply, within `ms` from now; past it the connection is closed. */
  private next(phase: SmtpPhase, ms: number): Promise<Reply> {
    this.phase = phase;
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closed)
      return Promise.reject(new SmtpError(`Connection closed before ${phase}`, { phase, kind: 'connection' }));
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiter = null;
      };
      const timer = setTimeout(
        () => this.destroy(new SmtpError(`No complete reply to ${phase} within ${ms} ms`, { phase, kind: 'timeout' })),
        Math.max(0, ms),
      );
      this.waiter = {
        resolve: (r) => (done(), resolve(r)),
        reject: (e) => (done(), reject(e)),
      };
    });
  }

  private write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? `${data}\r\n` : data);
  }

  private command(phase: SmtpPhase, line: string, ms = this.opts.timeoutMs): Promise<Reply> {
    const reply = this.next(phase, ms);
    this.write(line);
    return reply;
  }

  /** EHLO, or HELO when the server does not know EHLO (5xx); 4xx and 421 end the session. */
  private async hello(): Promise<void> {
    const name = (this.opts.name ?? (hostname() || 'localhost')).replace(/[\r\n\s]+/g, '');
    const ehlo = await this.command('ehlo', `EHLO ${name}`);
    if (ehlo.code === 250) {
      this.extensions = parseExtensions(ehlo.lines);
      return;
    }
    if (ehlo.code < 500) throw this.refusal('ehlo', ehlo);
    const helo = await this.command('ehlo', `HELO ${name}`);
    if (helo.code !== 250) throw this.refusal('ehlo', helo);
    this.extensions = NO_EXTENSIONS;
  }

  /** STARTTLS and the handshake, within one deadline. Bytes the server sent after its 220 are dropped (RFC 3207 §5). */
  private async startTls(): Promise<void> {
    const until = Date.now() + this.opts.timeoutMs;
    const r = await this.command('starttls', 'STARTTLS');
    if (r.code !== 220) {
      throw new SmtpError(`STARTTLS refused: ${r.text}`, {
        phase: 'starttls',
        kind: 'tls',
        code: r.code,
        enhanced: r.enhanced,
        response: r.text,
      });
    }
    const plain = this.socket;
    this.detach();
    this.reader.clear();
    this.replies.length = 0;
    await new Promise<void>((resolve, reject) => {
      const secure = tls.connect({ socket: plain, servername: serverName(this.opts.host), ...this.opts.tls });
      const fail = (e: SmtpError) => {
        clearTimeout(timer);
        secure.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new SmtpError('TLS handshake timed out', { phase: 'starttls', kind: 'timeout' })),
        Math.max(0, until - Date.now()),
      );
      const onError = (e: Error) => fail(new SmtpError(e.message, { phase: 'starttls', kind: 'tls' }, { cause: e }));
      secure.once('error', onError);
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        secure.off('error', onError);
        this.attach(secure);
        resolve();
      });
    });
  }

  /** AUTH PLAIN, else LOGIN; the whole exchange within one deadline. */
  private async login(auth: { user: string; pass: string }): Promise<void> {
    const until = Date.now() + this.opts.timeoutMs;
    const left = () => until - Date.now();
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const offered = this.extensions.auth;
    let r: Reply;
    if (offered.includes('PLAIN')) {
      r = await this.command('auth', `AUTH PLAIN ${b64(`\0${auth.user}\0${auth.pass}`)}`, left());
    } else if (offered.includes('LOGIN')) {
      r = await this.command('auth', 'AUTH LOGIN', left());
      if (r.code === 334) r = await this.command('auth', b64(auth.user), left());
      if (r.code === 334) r = await this.command('auth', b64(auth.pass), left());
    } else {
      throw new SmtpError(`No supported AUTH mechanism (the server offers ${offered.join(' ')})`, {
        phase: 'auth',
        kind: 'protocol',
      });
    }
    if (r.code !== 235) throw this.refusal('auth', r);
  }

  private async transaction(envelope: SmtpEnvelope, raw: Buffer): Promise<SendResult> {
    const { timeoutMs } = this.opts;
    const params: string[] = [];
    if (this.extensions.smtputf8 && /[^\x00-\x7f]/.test([envelope.from, ...envelope.to].join('')))
      params.push('SMTPUTF8');
    if (this.extensions.size !== null) params.push(`SIZE=${raw.length}`);
    const mail = `MAIL FROM:<${envelope.from}>${params.length ? ` ${params.join(' ')}` : ''}`;
    const rcpt = (a: string) => `RCPT TO:<${a}>`;
    const recipients: RecipientReply[] = [];
    let mailReply: Reply;
    try {
      if (this.extensions.pipelining) {
        // One write for the whole envelope (RFC 2920); the replies come back in order.
        const first = this.next('mail', timeoutMs);
        this.write([mail, ...envelope.to.map(rcpt)].join('\r\n'));
        mailReply = await first;
        this.closingOn(mailReply, 'mail');
        for (const address of envelope.to) {
          const r = await this.next('rcpt', timeoutMs);
          this.closingOn(r, 'rcpt');
          recipients.push(recipientReply(address, r, mailReply));
        }
      } else {
        mailReply = await this.command('mail', mail);
        this.closingOn(mailReply, 'mail');
        if (isOk(mailReply)) {
          for (const address of envelope.to) {
            const r = await this.command('rcpt', rcpt(address));
            this.closingOn(r, 'rcpt');
            recipients.push(recipientReply(address, r, mailReply));
          }
        }
      }
    } catch (e) {
      throw this.withIdleClose(e);
    }
    if (!isOk(mailReply)) {
      await this.abandon();
      throw this.refusal('mail', mailReply);
    }
    if (!recipients.some((r) => r.accepted)) {
      await this.abandon();
      return { recipients, data: null };
    }
    const data = await this.command('data', 'DATA');
    this.closingOn(data, 'data');
    if (data.code !== 354) {
      await this.abandon();
      throw this.refusal('data', data);
    }
    // The deadline of the last phase covers writing the bytes too (a server that stops reading).
    const final = this.next('data_end', this.opts.dataTimeoutMs);
    this.write(dotStuff(raw));
    const reply = await final;
    this.closingOn(reply, 'data_end');
    return { recipients, data: reply };
  }

  /** A connection found closed before any reply of this transaction: the server had closed it while idle. */
  private withIdleClose(e: unknown): unknown {
    if (e instanceof SmtpError && e.kind === 'connection' && !this.answered) {
      return new SmtpError(
        e.message,
        { phase: e.phase, kind: e.kind, response: e.response, nothingSent: true },
        { cause: e },
      );
    }
    return e;
  }

  /** 421: the server is closing the channel; whatever was in progress ends here. */
  private closingOn(r: Reply, phase: SmtpPhase): void {
    if (r.code === 421) throw this.fatal(this.refusal(phase, r));
  }

  /** After a refused transaction: RSET, so the session can carry the next message (or close if that fails). */
  private async abandon(): Promise<void> {
    try {
      await this.reset();
    } catch {
      // reset() closed the connection; the refusal is what the caller hears about.
    }
  }

  private refusal(phase: SmtpPhase, r: Reply): SmtpError {
    return new SmtpError(r.text, { phase, kind: 'reply', code: r.code, enhanced: r.enhanced, response: r.text });
  }

  /** Closes the connection and returns the error, for `throw`. */
  private fatal(e: SmtpError): SmtpError {
    this.destroy(e);
    return e;
  }

  private destroy(e: SmtpError | null): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(e ?? new SmtpError('Connection closed', { phase: this.phase, kind: 'connection' }));
    this.emit('close', e);
  }
}

function isOk(r: Reply): boolean {
  return r.code >= 200 && r.code < 300;
}

function recipientReply(address: string, r: Reply, mail: Reply): RecipientReply {
  // After a refused MAIL FROM (pipelined), the RCPT replies only say "no transaction".
  return { address, accepted: isOk(mail) && isOk(r), code: r.code, enhanced: r.enhanced, response: r.text };
}

function serverName(host: string): string | undefined {
  return net.isIP(host) ? undefined : host;
}

/** EHLO's lines after the first: one extension each (RFC 5321 §4.1.1.1). */
export function parseExtensions(lines: string[]): Extensions {
  const ext: Extensions = { pipelining: false, starttls: false, smtputf8: false, size: null, auth: [] };
  for (const line of lines.slice(1)) {
    const [keyword = '', ...params] = line
      .slice(4)
      .trim()
      .split(/[\s=]+/);
    switch (keyword.toUpperCase()) {
      case 'PIPELINING':
        ext.pipelining = true;
        break;
      case 'STARTTLS':
        ext.starttls = true;
        break;
      case 'SMTPUTF8':
        ext.smtputf8 = true;
        break;
      case 'SIZE':
        ext.size = Number(params[0]) || 0;
        break;
      case 'AUTH':
        ext.auth.push(...params.map((p) => p.toUpperCase()).filter((p) => !ext.auth.includes(p)));
        break;
    }
  }
  return ext;
}
