import type { Envelope, SendHooks } from './process-message.js';
import { type SendResult, type SmtpClientOptions, SmtpConnection, SmtpError } from './smtp-client/index.js';

export interface SmtpPoolOptions {
  /** Where and how to connect: host, port, TLS mode, login, phase deadlines. */
  client: SmtpClientOptions;
  /** Connections open at most. */
  size: number;
  /** A connection is closed (QUIT) and replaced after this many messages. */
  maxMessages: number;
  /** An idle connection is closed (QUIT) after this long; default: the phase deadline. */
  idleMs?: number;
}

interface Connection {
  smtp: SmtpConnection;
  sent: number;
  /** Closed, by us or by the server; no longer counted in the pool. */
  gone: boolean;
  idleTimer: NodeJS.Timeout | null;
}

// Phases of a new connection before its first transaction: connect, greeting, EHLO (and HELO),
// STARTTLS, EHLO again, AUTH. A transaction: MAIL FROM, one RCPT each, DATA, RSET.
const SETUP_PHASES = 7;
const TRANSACTION_PHASES = 3;

/**
 * Up to `size` SMTP sessions (our client: EHLO, STARTTLS, AUTH, PIPELINING, a deadline on every
 * phase), each sending one pre-built message at a time: the archived bytes as they are.
 *
 * Every send is one attempt: nothing is requeued behind the caller's back. The one exception sent
 * nothing: a reused idle connection the relay had just closed (no reply to our first command)
 * gives the message to a new connection. A session that overruns a deadline is closed and its
 * place goes to the next sender, so a slow or hostile relay session holds its own message only.
 */
export class SmtpPool {
  private readonly idle: Connection[] = [];
  /** Connections open, opening or busy. */
  private open = 0;
  /** Sends waiting for a place: handed a connection, woken to try (null), or failed with a hung relay's timeout. */
  private waiting: Array<(c: Connection | SmtpError | null) => void> = [];
  private closed = false;

  constructor(private readonly opts: SmtpPoolOptions) {}

  /** The longest a send can take once it has a connection: the sum of its phases' deadlines. */
  deadlineMs(recipients: number, newConnection = true): number {
    const { timeoutMs, dataTimeoutMs } = this.opts.client;
    return (
      (newConnection ? SETUP_PHASES : 0) * timeoutMs + (TRANSACTION_PHASES + recipients) * timeoutMs + dataTimeoutMs
    );
  }

  async send(envelope: Envelope, raw: Buffer, hooks: SendHooks = {}): Promise<SendResult> {
    const conn = await this.acquire((fresh) => hooks.onStart?.(this.deadlineMs(envelope.to.length, fresh)));
    const reused = conn.sent > 0;
    try {
      const result = await conn.smtp.send(envelope, raw);
      conn.sent++;
      // 503 says the session is out of step with us: a new connection for the next message.
      if (result.data?.code === 503 || result.recipients.some((r) => r.code === 503)) this.discard(conn);
      else this.release(conn);
      return result;
    } catch (e) {
      if (reused && e instanceof SmtpError && e.nothingSent) {
        // Closed by the relay while idle (its FIN was on its way): nothing reached it, so this is
        // not an attempt. A new connection; a connection that fails before its first message is
        // an attempt like any other.
        this.discard(conn);
        return this.send(envelope, raw, hooks);
      }
      // A refused MAIL FROM or DATA was followed by RSET: the session carries the next message.
      // 421 closed it; 503 and anything else (a deadline, a broken connection) end it.
      if (e instanceof SmtpError && e.kind === 'reply' && e.code !== 503 && !conn.smtp.isClosed) this.release(conn);
      else this.discard(conn);
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

  /** An idle connection, else a new one (its phases start now: `starting(true)`), else waits for a place. */
  private async acquire(starting: (newConnection: boolean) => void = () => {}): Promise<Connection> {
    for (;;) {
      if (this.closed)
        throw new SmtpError('SMTP pool is closed', { phase: 'connect', kind: 'connection', nothingSent: true });
      const idle = this.idle.pop();
      if (idle) {
        if (idle.idleTimer) clearTimeout(idle.idleTimer);
        idle.idleTimer = null;
        starting(false);
        return idle;
      }
      if (this.open < this.opts.size) {
        this.open++;
        starting(true);
        try {
          return await this.connect();
        } catch (e) {
          this.open--;
          if (e instanceof SmtpError && e.kind === 'timeout') this.failWaiting(e);
          else this.wakeOne();
          throw e;
        }
      }
      const handed = await new Promise<Connection | SmtpError | null>((resolve) => this.waiting.push(resolve));
      if (handed instanceof SmtpError) throw handed;
      if (handed) {
        starting(false);
        return handed;
      }
    }
  }

  private release(conn: Connection): void {
    if (conn.gone) return;
    if (conn.smtp.isClosed) return this.discard(conn);
    if (this.closed || conn.sent >= this.opts.maxMessages) return this.discard(conn, 'quit');
    const next = this.waiting.shift();
    if (next) return next(conn);
    this.idle.push(conn);
    conn.idleTimer = setTimeout(() => this.discard(conn, 'quit'), this.opts.idleMs ?? this.opts.client.timeoutMs);
    conn.idleTimer.unref();
  }

  /**
   * Ends a connection and frees its place; a waiting sender may open a new one. `quit` says
   * goodbye (a healthy connection retired), `close` hangs up (an error, or the server left).
   */
  private discard(conn: Connection, how: 'quit' | 'close' = 'close'): void {
    if (conn.gone) return;
    conn.gone = true;
    this.open--;
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    const at = this.idle.indexOf(conn);
    if (at !== -1) this.idle.splice(at, 1);
    if (how === 'quit') void conn.smtp.quit();
    else conn.smtp.close();
    this.wakeOne();
  }

  /**
   * A new session outlasted its deadline (a relay that takes the connection and then hangs):
   * the sends waiting for a place get the same failure now, with nothing sent, rather than each
   * opening a session of its own and waiting a whole deadline for the same silence, one pool's
   * worth at a time. With fallback relays, they move on to the next relay at once.
   */
  private failWaiting(e: SmtpError): void {
    const { phase, kind, code, enhanced, response } = e;
    for (const fail of this.waiting.splice(0))
      fail(new SmtpError(e.message, { phase, kind, code, enhanced, response, nothingSent: true }, { cause: e }));
  }

  /** A place is free: the first waiting sender tries again (and opens a connection). */
  private wakeOne(): void {
    this.waiting.shift()?.(null);
  }

  /** Opens one session (its place in `open` is the caller's); the server closing it later frees the place. */
  private async connect(): Promise<Connection> {
    const smtp = await SmtpConnection.open(this.opts.client);
    const conn: Connection = { smtp, sent: 0, gone: false, idleTimer: null };
    // An idle session the server hung up on (or a send's failure) leaves the pool at once.
    smtp.once('close', () => {
      if (this.idle.includes(conn)) this.discard(conn);
    });
    return conn;
  }
}
