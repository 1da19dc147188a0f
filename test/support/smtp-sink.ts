import net from 'node:net';
import tls from 'node:tls';
import type { ParsedMail } from 'mailparser';
import { type Certificate, selfSignedCertificate } from './certificate.js';

/**
 * The one SMTP server of the tests, the chaos run and the benchmarks, on raw `node:net`. With no
 * script it accepts everything. Scripts make it misbehave per command, per recipient for RCPT,
 * per message after DATA: a delay, a reply trickled a few bytes at a time (or a reply that never
 * ends), a stall (never answer), a dropped connection, or any reply text. smtp-server answers
 * through its own writer and cannot trickle or stall.
 *
 * It records each message (envelope, bytes, the reply it got) and every command line, unless
 * `fast`: then it keeps counts only (per Message-ID and per recipient) and never copies or parses
 * a message's bytes, so a benchmark measures the sender, not the sink.
 *
 * Pipelined commands are answered one after the other, in order, each after its own behaviour
 * (a stalled MAIL leaves the RCPTs behind it unanswered, as a real server would).
 */

/** The commands a script can act on; `greeting` is the banner, `message` the reply after DATA's final dot. */
export type SinkCommand =
  | 'greeting'
  | 'ehlo'
  | 'helo'
  | 'starttls'
  | 'auth'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'message'
  | 'rset'
  | 'noop'
  | 'quit';

export interface Behaviour {
  /** The reply to send instead of the normal one; several lines are separated by `\n`. */
  reply?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Write the reply `bytes` at a time, every `everyMs`. */
  trickle?: { bytes: number; everyMs: number };
  /** The reply never ends: its lines are repeated as continuation lines, trickled (never falls silent). */
  endless?: boolean;
  /** Never answer: the connection stays open and every command after this one waits. */
  stall?: boolean;
  /** Close the connection instead of answering (`reset`: a TCP reset rather than a FIN). */
  drop?: boolean | 'reset';
}

export interface SessionInfo {
  id: number;
  secure: boolean;
  user: string | null;
  /** EHLO or HELO, with its argument, once received. */
  hello: string | null;
  mailFrom: string | null;
  recipients: string[];
}

export interface CommandContext {
  command: SinkCommand;
  /** The command line as received ('' for the greeting and the message reply). */
  line: string;
  /** MAIL FROM and RCPT TO: the address between the angle brackets. */
  address?: string;
  /** The message reply: the message whose final dot is being answered. */
  message?: {
    messageId: string;
    /** 1 the first time this Message-ID reached the end of DATA, 2 the second, … */
    seen: number;
    /** Its size on the wire: the dot-stuffed bytes before the terminating `.` line. */
    size: number;
  };
  session: Readonly<SessionInfo>;
}

export type Matcher = string | RegExp | ((ctx: CommandContext) => boolean);

export interface RuleOptions {
  /** RCPT/MAIL: the address (a string is a substring, case-insensitive); else a test on the context. */
  match?: Matcher;
  /** Apply this many times, then fall through to the next rule or the normal answer. */
  times?: number;
}

export interface SinkMessage {
  session: number;
  envelope: { from: string; to: string[] };
  /** The message as the sender meant it: dot-stuffing undone, the terminating line removed. */
  raw: Buffer;
  /** The bytes after 354 exactly as they arrived, terminator included. */
  wire: Buffer;
  messageId: string;
  /** 1 the first time this Message-ID reached the end of DATA, 2 the second, … */
  seen: number;
  /** The reply the sink gave after the final dot (null when it dropped or stalled). */
  reply: string | null;
  accepted: boolean;
  at: number;
}

export interface SinkOptions {
  /** Offer STARTTLS with a self-signed certificate (see `certificate`). */
  starttls?: boolean;
  /** Speak TLS from the first byte (port 465 style). */
  implicitTls?: boolean;
  /** Offer AUTH with these credentials (PLAIN and LOGIN unless `methods` says); `required` refuses MAIL before login (530). */
  auth?: { user: string; pass: string; required?: boolean; methods?: Array<'PLAIN' | 'LOGIN'> };
  /** Offer PIPELINING (default true). */
  pipelining?: boolean;
  /** Advertised SIZE limit; larger messages are refused with 552 at MAIL FROM (SIZE=) or after DATA. */
  maxSize?: number;
  /** Counts only: no messages, commands or chunks kept (a benchmark, a 20,000-message run). */
  fast?: boolean;
  /** Answer EHLO with 502, as a server that knows only HELO. */
  heloOnly?: boolean;
  name?: string;
}

interface Rule extends RuleOptions {
  /** `any`: every command. */
  command: SinkCommand | 'any';
  behaviour: Behaviour | ((ctx: CommandContext) => Behaviour | undefined);
  used: number;
}

/** What reached the sink under one Message-ID. */
interface Tally {
  arrived: number;
  accepted: number;
  /** Wire size (see CommandContext.message) and performance.now() of the last 2xx. */
  size: number;
  acceptedAt: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SmtpSink {
  /** Every message that reached the end of DATA, whatever the reply (empty when `fast`). */
  readonly messages: SinkMessage[] = [];
  /** Every command line received, in order, with its session (AUTH payloads masked; empty when `fast`). */
  readonly commands: Array<{ session: number; line: string }> = [];
  /** Each chunk of command bytes as it arrived (a pipelined envelope arrives as one; empty when `fast`). */
  readonly chunks: Array<{ session: number; text: string }> = [];
  connections = 0;
  /** The most sessions open at once since the last reset. */
  peakSessions = 0;
  logins = 0;
  /** Messages that reached the end of DATA. */
  received = 0;
  /** Messages answered 2xx after their final dot, and their wire bytes. */
  acceptedTotal = 0;
  acceptedBytes = 0;
  /** Message-IDs accepted at least once, and accepted messages beyond the first of their Message-ID. */
  distinct = 0;
  duplicates = 0;
  readonly certificate: Certificate | null;
  private rules: Rule[] = [];
  private readonly byMessageId = new Map<string, Tally>();
  private readonly byRecipient = new Map<string, number>();
  private readonly sockets = new Set<net.Socket>();
  private waiters: Array<() => void> = [];
  private nextSession = 1;
  private readonly server: net.Server;
  port = 0;

  private constructor(readonly options: SinkOptions) {
    this.certificate = options.starttls || options.implicitTls ? selfSignedCertificate() : null;
    const handler = (socket: net.Socket) => this.accept(socket);
    this.server = options.implicitTls ? tls.createServer({ ...this.certificate! }, handler) : net.createServer(handler);
  }

  static async start(options: SinkOptions = {}): Promise<SmtpSink> {
    const sink = new SmtpSink(options);
    await new Promise<void>((resolve) => sink.server.listen(0, '127.0.0.1', resolve));
    sink.port = (sink.server.address() as net.AddressInfo).port;
    return sink;
  }

  /** SMTP_* settings that make Postier deliver here (plain SMTP unless `extra` says otherwise). */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(this.port), SMTP_USE_TLS: 'false', ...extra };
  }

  /**
   * Scripts a command (`any`: every command): later rules are tried first, so a specific rule
   * added after a general one wins; a function that returns undefined falls through. Returns a
   * function that removes the rule.
   */
  on(
    command: SinkCommand | 'any',
    behaviour: Behaviour | ((ctx: CommandContext) => Behaviour | undefined),
    options: RuleOptions = {},
  ): () => void {
    const rule: Rule = { command, behaviour, used: 0, ...options };
    this.rules.unshift(rule);
    return () => {
      this.rules = this.rules.filter((r) => r !== rule);
    };
  }

  /** Forgets the scripts and what was recorded (the counters too). */
  reset(): void {
    this.rules = [];
    this.messages.length = 0;
    this.commands.length = 0;
    this.chunks.length = 0;
    this.byMessageId.clear();
    this.byRecipient.clear();
    this.connections =
      this.logins =
      this.received =
      this.acceptedTotal =
      this.acceptedBytes =
      this.distinct =
      this.duplicates =
        0;
    this.peakSessions = this.sockets.size;
  }

  /** Messages answered 2xx after their final dot (empty when `fast`). */
  get accepted(): SinkMessage[] {
    return this.messages.filter((m) => m.accepted);
  }

  /** How many times a message with this Message-ID was answered 2xx. */
  acceptedCount(messageId: string): number {
    return this.byMessageId.get(messageId)?.accepted ?? 0;
  }

  /** performance.now() when the sink last answered 2xx for this Message-ID. */
  acceptedAt(messageId: string): number | undefined {
    const t = this.byMessageId.get(messageId);
    return t?.accepted ? t.acceptedAt : undefined;
  }

  /** The wire size of the last accepted message with this Message-ID. */
  sizeOf(messageId: string): number | undefined {
    const t = this.byMessageId.get(messageId);
    return t?.accepted ? t.size : undefined;
  }

  /** How many accepted messages had this envelope recipient. */
  deliveredTo(address: string): number {
    return this.byRecipient.get(address) ?? 0;
  }

  get openSessions(): number {
    return this.sockets.size;
  }

  async waitFor(predicate: () => boolean, timeoutMs = 15_000, what = 'sink condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline)
        throw new Error(
          `Timed out waiting for ${what} (${this.received} messages at the sink, ${this.acceptedTotal} accepted)`,
        );
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 25);
      });
    }
  }

  /** Waits until `n` messages have been accepted; the accepted messages (empty when `fast`). */
  async waitForAccepted(n: number, timeoutMs = 15_000): Promise<SinkMessage[]> {
    await this.waitFor(() => this.acceptedTotal >= n, timeoutMs, `${n} accepted messages`);
    return this.accepted;
  }

  /** A message as a mail client reads it (mailparser, loaded on first use: a benchmark never needs it). */
  async parse(m: SinkMessage): Promise<ParsedMail> {
    const { simpleParser } = await import('mailparser');
    return simpleParser(m.raw);
  }

  /** Every accepted message, parsed. */
  parseAccepted(): Promise<ParsedMail[]> {
    return Promise.all(this.accepted.map((m) => this.parse(m)));
  }

  /** Hangs up every open connection, as a relay does after its idle timeout or on restart. */
  hangUp(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.hangUp();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** @internal Whether any rule is set (unscripted commands skip building a context). */
  get scripted(): boolean {
    return this.rules.length > 0;
  }

  /** @internal The behaviour scripted for this command, if any (counts the use). */
  behaviourFor(ctx: CommandContext): Behaviour | undefined {
    for (const rule of this.rules) {
      if (rule.command !== ctx.command && rule.command !== 'any') continue;
      if (rule.times !== undefined && rule.used >= rule.times) continue;
      if (rule.match !== undefined && !matches(rule.match, ctx)) continue;
      const b = typeof rule.behaviour === 'function' ? rule.behaviour(ctx) : rule.behaviour;
      if (!b) continue;
      rule.used++;
      return b;
    }
    return undefined;
  }

  /** @internal The nth time this Message-ID reached the end of DATA ('' is not counted: 1). */
  arrived(messageId: string): number {
    if (!messageId) return 1;
    let t = this.byMessageId.get(messageId);
    if (!t) this.byMessageId.set(messageId, (t = { arrived: 0, accepted: 0, size: 0, acceptedAt: 0 }));
    return ++t.arrived;
  }

  /** @internal */
  record(messageId: string, recipients: string[], size: number, accepted: boolean, message: SinkMessage | null): void {
    this.received++;
    if (accepted) {
      this.acceptedTotal++;
      this.acceptedBytes += size;
      const t = messageId ? this.byMessageId.get(messageId) : undefined;
      if (t) {
        if (++t.accepted === 1) this.distinct++;
        else this.duplicates++;
        t.size = size;
        t.acceptedAt = performance.now();
      }
      for (const r of recipients) this.byRecipient.set(r, (this.byRecipient.get(r) ?? 0) + 1);
    }
    if (message) this.messages.push(message);
    if (this.waiters.length) for (const w of this.waiters.splice(0)) w();
  }

  private accept(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    this.peakSessions = Math.max(this.peakSessions, this.sockets.size);
    socket.on('close', () => this.sockets.delete(socket));
    new SinkSession(this, socket, this.nextSession++, !!this.options.implicitTls).start();
  }
}

function matches(m: Matcher, ctx: CommandContext): boolean {
  if (typeof m === 'function') return m(ctx);
  const subject = ctx.address ?? ctx.line;
  return typeof m === 'string' ? subject.toLowerCase().includes(m.toLowerCase()) : m.test(subject);
}

/** `250 a\n250 b` or `250 b` → wire lines; a bare text gets the code of the first line on every line. */
function wireLines(reply: string): string[] {
  const lines = reply.split(/\r?\n/);
  const code = /^\d{3}/.exec(lines[0]!)?.[0] ?? '250';
  return lines.map((l, i) => {
    const text = /^\d{3}[ -]?/.test(l) ? l.replace(/^(\d{3})[ -]?/, '') : l;
    return `${/^\d{3}/.exec(l)?.[0] ?? code}${i === lines.length - 1 ? ' ' : '-'}${text}\r\n`;
  });
}

const WIRED = new Map<string, string>();

/** A normal multi-line reply (EHLO's) on the wire, formatted once per text: it comes with every connection. */
function multiline(normal: string): string {
  let wire = WIRED.get(normal);
  if (wire === undefined) WIRED.set(normal, (wire = wireLines(normal).join('')));
  return wire;
}

type Mode = 'command' | 'data' | 'auth-plain' | 'auth-login-user' | 'auth-login-pass';

const EMPTY = Buffer.alloc(0);
const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('\r\n.\r\n');
/** The Message-ID is looked for in the first this-many bytes of a message. */
const HEAD_BYTES = 8192;

class SinkSession {
  private buffer: Buffer = EMPTY;
  private mode: Mode = 'command';
  private busy = false;
  private closed = false;
  private loginUser = '';
  private readonly info: SessionInfo;
  private readonly opts: SinkOptions;
  /** DATA under way: the chunks kept (all of them, or when `fast` the first few for the Message-ID). */
  private dataChunks: Buffer[] = [];
  private dataBytes = 0;
  private keptBytes = 0;
  /** The last (up to) 4 bytes of CRLF + DATA so far: a terminator can straddle two chunks. */
  private tail: Buffer = CRLF;
  /** Replies not yet written. */
  private out = '';

  constructor(
    private readonly sink: SmtpSink,
    private socket: net.Socket,
    id: number,
    secure: boolean,
  ) {
    this.opts = sink.options;
    this.info = { id, secure, user: null, hello: null, mailFrom: null, recipients: [] };
  }

  start(): void {
    this.listen(this.socket);
    this.greet();
  }

  private listen(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
    socket.on('data', (chunk: Buffer) => {
      if (this.mode === 'command' && !this.opts.fast)
        this.sink.chunks.push({ session: this.info.id, text: chunk.toString('latin1') });
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.pump();
    });
  }

  private greet(): void {
    this.busy = true;
    const code = this.respond('greeting', '', undefined, `220 ${this.name} ESMTP postier test sink`);
    void settle(code, (c) => {
      this.busy = false;
      if (c !== null) this.pump();
    });
  }

  private get mechanisms(): string[] {
    return this.opts.auth?.methods ?? ['PLAIN', 'LOGIN'];
  }

  private get name(): string {
    return this.opts.name ?? 'sink.test';
  }

  /**
   * Handles buffered input one command (or one message) at a time, in order. The replies to
   * pipelined commands leave in one write, as a real server's do (one wake-up of the client).
   */
  private pump(): void {
    if (this.busy) return;
    this.busy = true;
    while (!this.closed && this.buffer.length) {
      let step: boolean | void | Promise<unknown>;
      if (this.mode === 'data') {
        step = this.takeData();
        if (step === false) break;
      } else {
        const nl = this.buffer.indexOf(0x0a);
        if (nl === -1) break;
        const line = this.buffer.toString('utf8', 0, nl > 0 && this.buffer[nl - 1] === 0x0d ? nl - 1 : nl);
        this.buffer = this.buffer.subarray(nl + 1);
        step = this.handle(line);
      }
      // A scripted behaviour takes its time: the rest waits for it, in order.
      if (step instanceof Promise) {
        this.flush();
        void step.then(() => {
          this.busy = false;
          this.pump();
        });
        return;
      }
    }
    this.flush();
    this.busy = false;
  }

  private snapshot(): SessionInfo {
    return { ...this.info, recipients: [...this.info.recipients] };
  }

  /**
   * Answers one command: at once unless a script delays it (then a promise). A null reply code
   * means the session is over (dropped, stalled, closed).
   */
  private handle(line: string): void | Promise<void> {
    if (this.mode === 'auth-plain' || this.mode === 'auth-login-user' || this.mode === 'auth-login-pass')
      return this.authStep(line);
    if (!this.opts.fast)
      this.sink.commands.push({
        session: this.info.id,
        line: /^AUTH /i.test(line) ? line.replace(/^(AUTH \S+).*/i, '$1 ***') : line,
      });
    const space = line.indexOf(' ');
    const verb = (space === -1 ? line : line.slice(0, space)).toUpperCase();
    const arg = line.slice(verb.length).trim();
    switch (verb) {
      case 'EHLO': {
        if (this.opts.heloOnly)
          return settle(this.respond('ehlo', line, undefined, '502 5.5.2 Error: command not recognized'));
        const ext = [this.name];
        if (this.opts.pipelining !== false) ext.push('PIPELINING');
        ext.push(`SIZE ${this.opts.maxSize ?? 52_428_800}`, '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES');
        if (this.opts.starttls && !this.info.secure) ext.push('STARTTLS');
        if (this.opts.auth && (this.info.secure || !this.opts.starttls)) ext.push(`AUTH ${this.mechanisms.join(' ')}`);
        return settle(
          this.respond('ehlo', line, undefined, ext.map((e) => `250 ${e}`).join('\n')),
          (code) => ok(code) && this.hello(`EHLO ${arg}`),
        );
      }
      case 'HELO': {
        return settle(
          this.respond('helo', line, undefined, `250 ${this.name}`),
          (code) => ok(code) && this.hello(`HELO ${arg}`),
        );
      }
      case 'STARTTLS': {
        if (!this.opts.starttls || this.info.secure)
          return settle(this.respond('starttls', line, undefined, '502 5.5.1 Error: command not implemented'));
        return settle(
          this.respond('starttls', line, undefined, '220 2.0.0 Ready to start TLS'),
          (code) => ok(code) && this.upgrade(),
        );
      }
      case 'AUTH':
        return this.authStart(arg, line);
      case 'MAIL': {
        const address = /<([^>]*)>/.exec(arg)?.[1] ?? '';
        const size = Number(/\bSIZE=(\d+)/i.exec(arg)?.[1] ?? 0);
        let normal = '250 2.1.0 Ok';
        if (!this.info.hello) normal = '503 5.5.1 Error: send HELO/EHLO first';
        else if (this.opts.auth?.required && !this.info.user) normal = '530 5.7.0 Authentication required';
        else if (this.info.mailFrom !== null) normal = '503 5.5.1 Error: nested MAIL command';
        else if (this.opts.maxSize && size > this.opts.maxSize) normal = '552 5.3.4 Message size exceeds fixed limit';
        return settle(
          this.respond('mail', line, address, normal),
          (code) => ok(code) && (this.info.mailFrom = address),
        );
      }
      case 'RCPT': {
        const address = /<([^>]*)>/.exec(arg)?.[1] ?? '';
        const normal = this.info.mailFrom === null ? '503 5.5.1 Error: need MAIL command' : '250 2.1.5 Ok';
        return settle(
          this.respond('rcpt', line, address, normal),
          (code) => ok(code) && this.info.mailFrom !== null && this.info.recipients.push(address),
        );
      }
      case 'DATA': {
        const normal =
          this.info.mailFrom === null
            ? '503 5.5.1 Error: need MAIL command'
            : this.info.recipients.length === 0
              ? '554 5.5.1 Error: no valid recipients'
              : '354 End data with <CR><LF>.<CR><LF>';
        return settle(this.respond('data', line, undefined, normal), (code) => code === 354 && this.startData());
      }
      case 'RSET': {
        return settle(
          this.respond('rset', line, undefined, '250 2.0.0 Ok'),
          (code) => ok(code) && this.clearEnvelope(),
        );
      }
      case 'NOOP':
        return settle(this.respond('noop', line, undefined, '250 2.0.0 Ok'));
      case 'QUIT': {
        return settle(this.respond('quit', line, undefined, '221 2.0.0 Bye'), (code) => code !== null && this.end());
      }
      default:
        this.write(wireLines('502 5.5.2 Error: command not recognized').join(''));
    }
  }

  private hello(line: string): void {
    this.info.hello = line;
    this.clearEnvelope();
  }

  private clearEnvelope(): void {
    this.info.mailFrom = null;
    this.info.recipients = [];
  }

  /** STARTTLS accepted: bytes pipelined after it are discarded (RFC 3207), EHLO starts over. */
  private upgrade(): void {
    this.flush();
    const plain = this.socket;
    plain.removeAllListeners('data');
    this.buffer = EMPTY;
    const secure = new tls.TLSSocket(plain, { isServer: true, ...this.sink.certificate! });
    this.socket = secure;
    this.info.secure = true;
    this.info.hello = null;
    this.info.user = null;
    this.clearEnvelope();
    this.listen(secure);
  }

  private authStart(arg: string, line: string): void | Promise<void> {
    const [method = '', initial] = arg.split(/\s+/);
    const auth = this.opts.auth;
    if (!auth || (this.opts.starttls && !this.info.secure))
      return settle(this.respond('auth', line, undefined, '503 5.5.1 Error: authentication not enabled'));
    if (this.info.user) return settle(this.respond('auth', line, undefined, '503 5.5.1 Error: already authenticated'));
    const scripted = this.sink.scripted
      ? this.sink.behaviourFor({ command: 'auth', line, session: this.snapshot() })
      : undefined;
    if (scripted)
      return settle(
        this.perform(scripted, '535 5.7.8 Error: authentication failed'),
        (code) => ok(code) && (this.info.user = auth.user),
      );
    if (!this.mechanisms.includes(method.toUpperCase()))
      return this.write('504 5.5.4 Unrecognized authentication type\r\n');
    if (method.toUpperCase() === 'PLAIN') {
      if (initial) return this.checkPlain(initial);
      this.mode = 'auth-plain';
      return this.write('334 \r\n');
    }
    if (method.toUpperCase() === 'LOGIN') {
      this.mode = 'auth-login-user';
      return this.write(`334 ${Buffer.from('Username:').toString('base64')}\r\n`);
    }
    this.write('504 5.5.4 Unrecognized authentication type\r\n');
  }

  private authStep(line: string): void {
    if (this.mode === 'auth-plain') {
      this.mode = 'command';
      return this.checkPlain(line);
    }
    if (this.mode === 'auth-login-user') {
      this.loginUser = Buffer.from(line, 'base64').toString('utf8');
      this.mode = 'auth-login-pass';
      return this.write(`334 ${Buffer.from('Password:').toString('base64')}\r\n`);
    }
    this.mode = 'command';
    return this.login(this.loginUser, Buffer.from(line, 'base64').toString('utf8'));
  }

  private checkPlain(b64: string): void {
    const [, user = '', pass = ''] = Buffer.from(b64, 'base64').toString('utf8').split('\0');
    return this.login(user, pass);
  }

  private login(user: string, pass: string): void {
    if (user === this.opts.auth!.user && pass === this.opts.auth!.pass) {
      this.info.user = user;
      this.sink.logins++;
      return this.write('235 2.7.0 Authentication successful\r\n');
    }
    this.write('535 5.7.8 Error: authentication failed\r\n');
  }

  private startData(): void {
    this.mode = 'data';
    this.dataChunks = [];
    this.dataBytes = this.keptBytes = 0;
    this.tail = CRLF;
  }

  /** Keeps every chunk of a recorded message; when `fast`, only the first few (the head, for the Message-ID). */
  private keep(chunk: Buffer): void {
    if (!this.opts.fast || this.keptBytes < HEAD_BYTES) {
      this.dataChunks.push(chunk);
      this.keptBytes += chunk.length;
    }
  }

  /**
   * DATA mode: takes the buffered bytes, scanning each only once for the terminating line, then
   * records the message and answers it. False while the terminator has not arrived.
   */
  private takeData(): boolean | Promise<boolean> {
    const chunk = this.buffer;
    let end = straddling(this.tail, chunk);
    if (end === -1) {
      const within = chunk.indexOf(TERMINATOR);
      if (within !== -1) end = within + 5;
    }
    if (end === -1) {
      this.keep(chunk);
      this.dataBytes += chunk.length;
      this.tail = chunk.length >= 4 ? chunk.subarray(chunk.length - 4) : Buffer.concat([this.tail, chunk]).subarray(-4);
      this.buffer = EMPTY;
      return false;
    }
    this.keep(chunk.subarray(0, end));
    this.buffer = chunk.subarray(end);
    this.mode = 'command';
    // The wire bytes before the final `.\r\n` (the message's last CRLF included).
    const size = this.dataBytes + end - 3;
    const kept = this.dataChunks.length === 1 ? this.dataChunks[0]! : Buffer.concat(this.dataChunks);
    this.dataChunks = [];
    const messageId = messageIdOf(kept.subarray(0, Math.min(size, HEAD_BYTES)));
    const envelope = { from: this.info.mailFrom ?? '', to: this.info.recipients };
    const seen = this.sink.arrived(messageId);
    const tooBig = this.opts.maxSize !== undefined && size > this.opts.maxSize;
    const normal = tooBig
      ? '552 5.3.4 Message size exceeds fixed limit'
      : `250 2.0.0 Ok: queued as R${String(this.sink.received + 1).padStart(8, '0')}`;
    const behaviour = this.sink.scripted
      ? this.sink.behaviourFor({
          command: 'message',
          line: '',
          message: { messageId, seen, size },
          session: this.snapshot(),
        })
      : undefined;
    // A dropped, stalled or endless reply is no answer: the message counts as not accepted.
    const reply = behaviour?.drop || behaviour?.stall || behaviour?.endless ? null : (behaviour?.reply ?? normal);
    const accepted = reply?.startsWith('2') === true;
    const wire = this.opts.fast ? null : Buffer.from(kept);
    const message = wire && {
      session: this.info.id,
      envelope,
      raw: unstuff(wire.subarray(0, size)),
      wire,
      messageId,
      seen,
      reply,
      accepted,
      at: Date.now(),
    };
    this.sink.record(messageId, envelope.to, size, accepted, message);
    this.clearEnvelope();
    const code = behaviour ? this.perform(behaviour, normal) : this.say(normal);
    return code instanceof Promise ? code.then((c) => c !== null) : code !== null;
  }

  /** Answers per the scripted behaviour (later), or with the normal reply (now); the reply code, or null if the session ended. */
  private respond(
    command: SinkCommand,
    line: string,
    address: string | undefined,
    normal: string,
  ): Code | Promise<Code> {
    const behaviour = this.sink.scripted
      ? this.sink.behaviourFor({ command, line, address, session: this.snapshot() })
      : undefined;
    return behaviour ? this.perform(behaviour, normal) : this.say(normal);
  }

  /** The normal reply, queued at once. */
  private say(normal: string): Code {
    if (this.closed) return null;
    this.write(normal.includes('\n') ? multiline(normal) : `${normal}\r\n`);
    return Number(normal.slice(0, 3));
  }

  private async perform(b: Behaviour, normal: string): Promise<Code> {
    // What is owed before this reply goes now: a delay or a stall holds back only this one.
    this.flush();
    if (b.delayMs) await sleep(b.delayMs);
    if (this.closed) return null;
    if (b.stall) {
      await new Promise<void>((r) => this.socket.once('close', () => r()));
      return null;
    }
    if (b.drop) {
      if (b.drop === 'reset') this.socket.resetAndDestroy();
      else this.socket.end();
      this.closed = true;
      return null;
    }
    const reply = b.reply ?? normal;
    const code = Number(/^\d{3}/.exec(reply)?.[0] ?? 0);
    const lines = wireLines(reply);
    if (b.endless) {
      const every = b.trickle ?? { bytes: 1, everyMs: 50 };
      const again = lines.map((l) => `${l.slice(0, 3)}-${l.slice(4)}`).join('');
      for (;;) {
        if (!(await this.trickle(again, every))) return null;
      }
    }
    const text = lines.join('');
    if (b.trickle) return (await this.trickle(text, b.trickle)) ? code : null;
    this.write(text);
    if (code === 421) {
      this.end();
      this.closed = true;
      return null;
    }
    return code;
  }

  private async trickle(text: string, every: { bytes: number; everyMs: number }): Promise<boolean> {
    const bytes = Buffer.from(text, 'utf8');
    for (let i = 0; i < bytes.length; i += every.bytes) {
      if (this.closed) return false;
      this.socket.write(bytes.subarray(i, i + every.bytes));
      await sleep(every.everyMs);
    }
    return !this.closed;
  }

  /** Queues a reply; flush() sends what is queued. */
  private write(text: string): void {
    if (!this.closed) this.out += text;
  }

  private flush(): void {
    if (this.out && !this.closed) this.socket.write(this.out);
    this.out = '';
  }

  private end(): void {
    this.flush();
    this.socket.end();
  }
}

type Code = number | null;

function ok(code: Code): boolean {
  return code !== null && code >= 200 && code < 300;
}

/** Runs `then` on the reply code: at once when the reply was, else once it is (a scripted delay). */
function settle(code: Code | Promise<Code>, then?: (code: Code) => unknown): void | Promise<void> {
  if (code instanceof Promise) return code.then((c) => void then?.(c));
  then?.(code);
}

/**
 * Where the terminator ends in `chunk` when it began in `tail` (the last bytes before the chunk),
 * else -1. Checked byte by byte: this runs for every chunk of DATA.
 */
function straddling(tail: Buffer, chunk: Buffer): number {
  for (let inTail = Math.min(4, tail.length); inTail >= 1; inTail--) {
    const inChunk = 5 - inTail;
    if (chunk.length < inChunk) continue;
    let ok = true;
    for (let i = 0; ok && i < inTail; i++) ok = tail[tail.length - inTail + i] === TERMINATOR[i];
    for (let i = 0; ok && i < inChunk; i++) ok = chunk[i] === TERMINATOR[inTail + i];
    if (ok) return inChunk;
  }
  return -1;
}

/** The Message-ID header's value, looked for in the header section of `head` ('' if none). */
function messageIdOf(head: Buffer): string {
  let end = head.indexOf('\r\n\r\n');
  if (end === -1) end = head.indexOf('\n\n');
  const header = head.toString('latin1', 0, end === -1 ? head.length : end);
  return /^Message-ID:\s*(<[^>]+>)/im.exec(header)?.[1] ?? '';
}

/** Undoes dot-stuffing: a line starting with `..` starts with `.` in the message. */
function unstuff(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  let lineStart = 0;
  for (let i = 0; i <= data.length; i++) {
    if (i === lineStart && data[i] === 0x2e && data[i + 1] === 0x2e) {
      out.push(data.subarray(start, i));
      start = i + 1;
    }
    if (data[i] === 0x0a) lineStart = i + 1;
  }
  out.push(data.subarray(start));
  return Buffer.concat(out);
}
