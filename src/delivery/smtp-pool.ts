import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Envelope } from './process-message.js';

export interface SmtpPoolOptions {
  /** Nodemailer's connection options: host, port, TLS mode, timeouts. */
  connection: SMTPConnection.Options;
  auth?: { user: string; pass: string };
  /** Connections open at most. */
  size: number;
  /** A connection is closed (QUIT) and replaced after this many messages. */
  maxMessages: number;
}

interface Connection {
  smtp: SMTPConnection;
  sent: number;
  /** The server or the network ended it; it is no longer counted in the pool. */
  gone: boolean;
}

/**
 * Up to `size` SMTP connections (Nodemailer's SMTPConnection: EHLO, STARTTLS, AUTH, PIPELINING),
 * each sending one pre-built message at a time. Nodemailer's own pool takes a mail object and
 * composes it again on every send (a MIME tree, streams, header parsing: three times the cost of
 * the SMTP exchange); this one writes the archived bytes as they are.
 *
 * Every send is one attempt: nothing is requeued behind the caller's back. An idle connection the
 * relay closes (its idle timeout) leaves the pool when it ends, so the next send opens a new one.
 */
export class SmtpPool {
  private readonly idle: Connection[] = [];
  /** Connections open, opening or busy. */
  private open = 0;
  private waiting: Array<(c: Connection | null) => void> = [];
  private closed = false;

  constructor(private readonly opts: SmtpPoolOptions) {}

  async send(envelope: Envelope, raw: Buffer): Promise<SMTPConnection.SentMessageInfo> {
    const conn = await this.acquire();
    const reused = conn.sent > 0;
    try {
      const info = await transmit(conn, envelope, raw);
      conn.sent++;
      this.release(conn);
      return info;
    } catch (e) {
      const err = e as { code?: string; command?: string; responseCode?: number };
      if (reused && err.code === 'ECONNECTION' && err.command === 'API') {
        // Refused before a byte was written: the relay had just closed this idle connection
        // (its FIN arrived, the socket is not closed yet). Not an attempt: use a new connection
        // (once: a connection refused before its first message is an attempt like any other).
        this.discard(conn);
        return this.send(envelope, raw);
      }
      if ((err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && err.responseCode !== 421 && err.responseCode !== 503 && !conn.gone) {
        // The server refused this message, not the session: RSET and keep the connection.
        // (421 closes the session; 503 says it is out of step: both get a new connection.)
        conn.smtp.reset((resetError) => (resetError ? this.discard(conn) : this.release(conn)));
      } else {
        this.discard(conn);
      }
      throw e;
    }
  }

  /** Connects, EHLO, STARTTLS and AUTH as a send would, then QUIT: what /readyz checks. */
  async verify(): Promise<void> {
    this.discard(await this.acquire(), 'quit');
  }

  close(): void {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake(null);
    for (const conn of [...this.idle]) this.discard(conn, 'quit');
  }

  private async acquire(): Promise<Connection> {
    for (;;) {
      if (this.closed) throw Object.assign(new Error('SMTP pool is closed'), { code: 'ECONNECTION' });
      const idle = this.idle.pop();
      if (idle) return idle;
      if (this.open < this.opts.size) {
        this.open++;
        try {
          return await this.connect();
        } catch (e) {
          this.open--;
          this.wakeOne();
          throw e;
        }
      }
      const handed = await new Promise<Connection | null>((resolve) => this.waiting.push(resolve));
      if (handed) return handed;
    }
  }

  private release(conn: Connection): void {
    if (conn.gone) return;
    if (this.closed || conn.sent >= this.opts.maxMessages) return this.discard(conn, 'quit');
    const next = this.waiting.shift();
    if (next) next(conn);
    else this.idle.push(conn);
  }

  /**
   * Ends a connection and frees its place; a waiting sender may open a new one. `quit` says
   * goodbye (a healthy connection retired), `close` hangs up (an error, or the server left).
   */
  private discard(conn: Connection, how: 'quit' | 'close' = 'close'): void {
    if (conn.gone) return;
    conn.gone = true;
    this.open--;
    const at = this.idle.indexOf(conn);
    if (at !== -1) this.idle.splice(at, 1);
    if (how === 'quit') conn.smtp.quit();
    else conn.smtp.close();
    this.wakeOne();
  }

  /** A place is free: the first waiting sender tries again (and opens a connection). */
  private wakeOne(): void {
    this.waiting.shift()?.(null);
  }

  /**
   * Opens one connection (its place in `open` is the caller's). Its failure can arrive as the
   * connect callback, an 'error' event or a bare 'end', whichever comes first settles it.
   */
  private connect(): Promise<Connection> {
    const smtp = new SMTPConnection(this.opts.connection);
    const conn: Connection = { smtp, sent: 0, gone: false };
    return new Promise((resolve, reject) => {
      let ready = false;
      const fail = (err: unknown) => {
        if (ready || conn.gone) return;
        conn.gone = true;
        smtp.close();
        reject(err);
      };
      // Once connected, a send's error reaches its callback and an idle connection's (the server
      // hung up, the socket timed out) only ends it; without a listener it would crash the process.
      smtp.on('error', fail);
      smtp.once('end', () => (ready ? this.discard(conn, 'close') : fail(Object.assign(new Error('Connection closed during the greeting'), { code: 'ECONNECTION' }))));
      smtp.connect((err) => {
        if (err) return fail(err);
        const done = () => {
          if (conn.gone) return;
          ready = true;
          resolve(conn);
        };
        // As Nodemailer's own pool: AUTH when the relay offers it (after STARTTLS, with TLS on).
        const { auth } = this.opts;
        if (!auth || !smtp.allowsAuth) return done();
        smtp.login(auth, (loginError) => (loginError ? fail(loginError) : done()));
      });
    });
  }
}

/**
 * SMTPConnection keeps its envelope state (accepted, rejected, a refused MAIL FROM) on the object
 * it is given: a fresh one per send, never the cached message's own.
 */
function transmit(conn: Connection, envelope: Envelope, raw: Buffer): Promise<SMTPConnection.SentMessageInfo> {
  return new Promise((resolve, reject) => conn.smtp.send({ from: envelope.from, to: [...envelope.to] }, raw, (err, info) => (err ? reject(err) : resolve(info!))));
}
