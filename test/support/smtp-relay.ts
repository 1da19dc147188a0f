import net from 'node:net';
import tls from 'node:tls';
import { type Certificate, selfSignedCertificate } from './certificate.js';

/**
 * A scriptable SMTP relay on raw `node:net` for tests, chaos runs and benchmarks. With no script
 * it is a fast sink that accepts everything and records each message (envelope, bytes). Scripts
 * make it misbehave per command, and per recipient for RCPT: a delay, a reply trickled a few
 * bytes at a time (or a reply that never ends), a stall (never answer), a dropped connection,
 * or any reply text. smtp-server answers through its own writer and cannot trickle or stall.
 *
 * Pipelined commands are answered one after the other, in order, each after its own behaviour
 * (a stalled MAIL leaves the RCPTs behind it unanswered, as a real server would).
 */

/** The commands a script can act on; `greeting` is the banner, `message` the reply after DATA's final dot. */
export type RelayCommand = 'greeting' | 'ehlo' | 'helo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'message' | 'rset' | 'noop' | 'quit';

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
  command: RelayCommand;
  /** The command line as received ('' for the greeting and the message reply). */
  line: string;
  /** MAIL FROM and RCPT TO: the address between the angle brackets. */
  address?: string;
  session: Readonly<SessionInfo>;
}

export type Matcher = string | RegExp | ((ctx: CommandContext) => boolean);

export interface RuleOptions {
  /** RCPT/MAIL: the address (a string is a substring, case-insensitive); else a test on the context. */
  match?: Matcher;
  /** Apply this many times, then fall through to the next rule or the normal answer. */
  times?: number;
}

export interface RelayMessage {
  session: number;
  envelope: { from: string; to: string[] };
  /** The message as the sender meant it: dot-stuffing undone, the terminating line removed. */
  raw: Buffer;
  /** The bytes after 354 exactly as they arrived, terminator included. */
  wire: Buffer;
  messageId: string;
  /** The reply the relay gave after the final dot (null when it dropped or stalled). */
  reply: string | null;
  accepted: boolean;
  at: number;
}

export interface RelayOptions {
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
  /** Keep each message's bytes (default true; a benchmark counting messages turns it off). */
  keepMessages?: boolean;
  /** Answer EHLO with 502, as a server that knows only HELO. */
  heloOnly?: boolean;
  name?: string;
}

interface Rule extends RuleOptions {
  command: RelayCommand;
  behaviour: Behaviour | ((ctx: CommandContext) => Behaviour | undefined);
  used: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SmtpRelay {
  readonly messages: RelayMessage[] = [];
  /** Every command line received, in order, with its session (AUTH payloads masked). */
  readonly commands: Array<{ session: number; line: string }> = [];
  /** Each chunk of command bytes as it arrived (a pipelined envelope arrives as one). */
  readonly chunks: Array<{ session: number; text: string }> = [];
  connections = 0;
  /** The most sessions open at once since the last reset. */
  peakSessions = 0;
  logins = 0;
  /** Messages that reached the end of DATA, kept or not (see keepMessages). */
  received = 0;
  readonly certificate: Certificate | null;
  private rules: Rule[] = [];
  private readonly sockets = new Set<net.Socket>();
  private waiters: Array<() => void> = [];
  private nextSession = 1;
  private readonly server: net.Server;
  port = 0;

  private constructor(readonly options: RelayOptions) {
    this.certificate = options.starttls || options.implicitTls ? selfSignedCertificate() : null;
    const handler = (socket: net.Socket) => this.accept(socket);
    this.server = options.implicitTls ? tls.createServer({ ...this.certificate! }, handler) : net.createServer(handler);
  }

  static async start(options: RelayOptions = {}): Promise<SmtpRelay> {
    const relay = new SmtpRelay(options);
    await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    relay.port = (relay.server.address() as net.AddressInfo).port;
    return relay;
  }

  /** SMTP_* settings that make Postier deliver here (plain SMTP unless `extra` says otherwise). */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(this.port), SMTP_USE_TLS: 'false', ...extra };
  }

  /**
   * Scripts a command: later rules are tried first, so a specific rule added after a general one
   * wins. Returns a function that removes the rule.
   */
  on(command: RelayCommand, behaviour: Behaviour | ((ctx: CommandContext) => Behaviour | undefined), options: RuleOptions = {}): () => void {
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
    this.connections = this.logins = this.received = 0;
    this.peakSessions = this.sockets.size;
  }

  /** Messages answered 2xx after their final dot. */
  get accepted(): RelayMessage[] {
    return this.messages.filter((m) => m.accepted);
  }

  /** Recipients that received a message with a 2xx reply, each once per accepted message. */
  deliveredTo(address: string): number {
    return this.accepted.filter((m) => m.envelope.to.includes(address)).length;
  }

  get openSessions(): number {
    return this.sockets.size;
  }

  async waitFor(predicate: () => boolean, timeoutMs = 15_000, what = 'relay condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what} (${this.messages.length} messages at the relay)`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 25);
      });
    }
  }

  /** Hangs up every open connection, as a relay does after its idle timeout or on restart. */
  hangUp(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.hangUp();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** @internal The behaviour scripted for this command, if any (counts the use). */
  behaviourFor(ctx: CommandContext): Behaviour | undefined {
    for (const rule of this.rules) {
      if (rule.command !== ctx.command) continue;
      if (rule.times !== undefined && rule.used >= rule.times) continue;
      if (rule.match !== undefined && !matches(rule.match, ctx)) continue;
      const b = typeof rule.behaviour === 'function' ? rule.behaviour(ctx) : rule.behaviour;
      if (!b) continue;
      rule.used++;
      return b;
    }
    return undefined;
  }

  /** @internal */
  record(m: RelayMessage): void {
    this.received++;
    if (this.options.keepMessages !== false) this.messages.push(m);
    for (const w of this.waiters.splice(0)) w();
  }

  private accept(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    this.peakSessions = Math.max(this.peakSessions, this.sockets.size);
    socket.on('close', () => this.sockets.delete(socket));
    new RelaySession(this, socket, this.nextSession++, !!this.options.implicitTls).start();
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

type Mode = 'command' | 'data' | 'auth-plain' | 'auth-login-user' | 'auth-login-pass';

class RelaySession {
  private buffer: Buffer = Buffer.alloc(0);
  private mode: Mode = 'command';
  private busy = false;
  private closed = false;
  private loginUser = '';
  private readonly info: SessionInfo;
  private readonly opts: RelayOptions;

  constructor(
    private readonly relay: SmtpRelay,
    private socket: net.Socket,
    id: number,
    secure: boolean,
  ) {
    this.opts = relay.options;
    this.info = { id, secure, user: null, hello: null, mailFrom: null, recipients: [] };
  }

  start(): void {
    this.listen(this.socket);
    void this.greet();
  }

  private listen(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
    socket.on('data', (chunk: Buffer) => {
      if (this.mode === 'command') this.relay.chunks.push({ session: this.info.id, text: chunk.toString('latin1') });
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      void this.pump();
    });
  }

  private async greet(): Promise<void> {
    this.busy = true;
    const ok = await this.respond({ command: 'greeting', line: '', session: this.info }, `220 ${this.name} ESMTP postier test relay`);
    this.busy = false;
    if (ok !== null) void this.pump();
  }

  private get mechanisms(): string[] {
    return this.opts.auth?.methods ?? ['PLAIN', 'LOGIN'];
  }

  private get name(): string {
    return this.opts.name ?? 'relay.test';
  }

  /** Handles buffered input one command (or one message) at a time, in order. */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.closed) {
        if (this.mode === 'data') {
          const done = await this.takeMessage();
          if (!done) break;
          continue;
        }
        const nl = this.buffer.indexOf(0x0a);
        if (nl === -1) break;
        const line = this.buffer.subarray(0, nl).toString('utf8').replace(/\r$/, '');
        this.buffer = this.buffer.subarray(nl + 1);
        await this.handle(line);
      }
    } finally {
      this.busy = false;
    }
  }

  /** Answers one command; `null` from respond means the session is over (dropped, stalled, closed). */
  private async handle(line: string): Promise<void> {
    const say = (command: RelayCommand, normal: string, address?: string) =>
      this.respond({ command, line, address, session: { ...this.info, recipients: [...this.info.recipients] } }, normal);
    if (this.mode === 'auth-plain' || this.mode === 'auth-login-user' || this.mode === 'auth-login-pass') return this.authStep(line);
    this.relay.commands.push({ session: this.info.id, line: /^AUTH /i.test(line) ? line.replace(/^(AUTH \S+).*/i, '$1 ***') : line });
    const verb = (/^\S+/.exec(line)?.[0] ?? '').toUpperCase();
    const arg = line.slice(verb.length).trim();
    switch (verb) {
      case 'EHLO': {
        if (this.opts.heloOnly) return void (await say('ehlo', '502 5.5.2 Error: command not recognized'));
        const ext = [this.name];
        if (this.opts.pipelining !== false) ext.push('PIPELINING');
        ext.push(`SIZE ${this.opts.maxSize ?? 52_428_800}`, '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES');
        if (this.opts.starttls && !this.info.secure) ext.push('STARTTLS');
        if (this.opts.auth && (this.info.secure || !this.opts.starttls)) ext.push(`AUTH ${this.mechanisms.join(' ')}`);
        const code = await say('ehlo', ext.map((e) => `250 ${e}`).join('\n'));
        if (ok(code)) this.hello(`EHLO ${arg}`);
        return;
      }
      case 'HELO': {
        const code = await say('helo', `250 ${this.name}`);
        if (ok(code)) this.hello(`HELO ${arg}`);
        return;
      }
      case 'STARTTLS': {
        if (!this.opts.starttls || this.info.secure) return void (await say('starttls', '502 5.5.1 Error: command not implemented'));
        const code = await say('starttls', '220 2.0.0 Ready to start TLS');
        if (code !== null && code >= 200 && code < 300) this.upgrade();
        return;
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
        const code = await say('mail', normal, address);
        if (ok(code)) this.info.mailFrom = address;
        return;
      }
      case 'RCPT': {
        const address = /<([^>]*)>/.exec(arg)?.[1] ?? '';
        const normal = this.info.mailFrom === null ? '503 5.5.1 Error: need MAIL command' : '250 2.1.5 Ok';
        const code = await say('rcpt', normal, address);
        if (ok(code) && this.info.mailFrom !== null) this.info.recipients.push(address);
        return;
      }
      case 'DATA': {
        const normal =
          this.info.mailFrom === null ? '503 5.5.1 Error: need MAIL command' : this.info.recipients.length === 0 ? '554 5.5.1 Error: no valid recipients' : '354 End data with <CR><LF>.<CR><LF>';
        const code = await say('data', normal);
        if (code === 354) this.mode = 'data';
        return;
      }
      case 'RSET': {
        const code = await say('rset', '250 2.0.0 Ok');
        if (ok(code)) this.clearEnvelope();
        return;
      }
      case 'NOOP':
        return void (await say('noop', '250 2.0.0 Ok'));
      case 'QUIT': {
        const code = await say('quit', '221 2.0.0 Bye');
        if (code !== null) this.socket.end();
        return;
      }
      default:
        await this.write(wireLines('502 5.5.2 Error: command not recognized').join(''));
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
    const plain = this.socket;
    plain.removeAllListeners('data');
    this.buffer = Buffer.alloc(0);
    const secure = new tls.TLSSocket(plain, { isServer: true, ...this.relay.certificate! });
    this.socket = secure;
    this.info.secure = true;
    this.info.hello = null;
    this.info.user = null;
    this.clearEnvelope();
    this.listen(secure);
  }

  private async authStart(arg: string, line: string): Promise<void> {
    const [method = '', initial] = arg.split(/\s+/);
    const ctx = { command: 'auth' as const, line, session: { ...this.info } };
    if (!this.opts.auth || (this.opts.starttls && !this.info.secure)) return void (await this.respond(ctx, '503 5.5.1 Error: authentication not enabled'));
    if (this.info.user) return void (await this.respond(ctx, '503 5.5.1 Error: already authenticated'));
    const scripted = this.relay.behaviourFor(ctx);
    if (scripted) {
      const code = await this.perform(scripted, '535 5.7.8 Error: authentication failed');
      if (ok(code)) this.info.user = this.opts.auth.user;
      return;
    }
    if (!this.mechanisms.includes(method.toUpperCase())) return void (await this.write('504 5.5.4 Unrecognized authentication type\r\n'));
    if (method.toUpperCase() === 'PLAIN') {
      if (initial) return this.checkPlain(initial);
      this.mode = 'auth-plain';
      return void (await this.write('334 \r\n'));
    }
    if (method.toUpperCase() === 'LOGIN') {
      this.mode = 'auth-login-user';
      return void (await this.write(`334 ${Buffer.from('Username:').toString('base64')}\r\n`));
    }
    await this.write('504 5.5.4 Unrecognized authentication type\r\n');
  }

  private async authStep(line: string): Promise<void> {
    if (this.mode === 'auth-plain') {
      this.mode = 'command';
      return this.checkPlain(line);
    }
    if (this.mode === 'auth-login-user') {
      this.loginUser = Buffer.from(line, 'base64').toString('utf8');
      this.mode = 'auth-login-pass';
      return void (await this.write(`334 ${Buffer.from('Password:').toString('base64')}\r\n`));
    }
    this.mode = 'command';
    return this.login(this.loginUser, Buffer.from(line, 'base64').toString('utf8'));
  }

  private checkPlain(b64: string): Promise<void> {
    const [, user = '', pass = ''] = Buffer.from(b64, 'base64').toString('utf8').split('\0');
    return this.login(user, pass);
  }

  private async login(user: string, pass: string): Promise<void> {
    if (user === this.opts.auth!.user && pass === this.opts.auth!.pass) {
      this.info.user = user;
      this.relay.logins++;
      return void (await this.write('235 2.7.0 Authentication successful\r\n'));
    }
    await this.write('535 5.7.8 Error: authentication failed\r\n');
  }

  /** DATA mode: waits for the terminating line, then records the message and answers it. */
  private async takeMessage(): Promise<boolean> {
    const b = this.buffer;
    let end: number;
    if (b.length >= 3 && b[0] === 0x2e && b[1] === 0x0d && b[2] === 0x0a) end = 0;
    else {
      const at = b.indexOf('\r\n.\r\n');
      if (at === -1) return false;
      end = at + 2;
    }
    const wire = Buffer.from(b.subarray(0, end + 3));
    this.buffer = b.subarray(end + 3);
    this.mode = 'command';
    const raw = unstuff(wire.subarray(0, end));
    const envelope = { from: this.info.mailFrom ?? '', to: [...this.info.recipients] };
    const head = raw.subarray(0, 8192).toString('latin1').split(/\r?\n\r?\n/)[0]!;
    const messageId = /^Message-ID:\s*(<[^>]+>)/im.exec(head)?.[1] ?? '';
    const tooBig = this.opts.maxSize !== undefined && raw.length > this.opts.maxSize;
    const ctx: CommandContext = { command: 'message', line: '', session: { ...this.info } };
    const normal = tooBig ? '552 5.3.4 Message size exceeds fixed limit' : `250 2.0.0 Ok: queued as R${String(this.relay.received + 1).padStart(8, '0')}`;
    const behaviour = this.relay.behaviourFor(ctx);
    // A dropped, stalled or endless reply is no answer: the message counts as not accepted.
    const reply = behaviour?.drop || behaviour?.stall || behaviour?.endless ? null : (behaviour?.reply ?? normal);
    this.relay.record({
      session: this.info.id,
      envelope,
      raw: this.opts.keepMessages === false ? Buffer.alloc(0) : raw,
      wire: this.opts.keepMessages === false ? Buffer.alloc(0) : wire,
      messageId,
      reply,
      accepted: reply !== null && reply.startsWith('2'),
      at: Date.now(),
    });
    this.clearEnvelope();
    const code = await this.perform(behaviour ?? {}, normal);
    return code !== null;
  }

  /** Answers per the scripted behaviour (or the normal reply); the reply code, or null if the session ended. */
  private respond(ctx: CommandContext, normal: string): Promise<number | null> {
    return this.perform(this.relay.behaviourFor(ctx) ?? {}, normal);
  }

  private async perform(b: Behaviour, normal: string): Promise<number | null> {
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
      const again = lines.map((l) => l.slice(0, 3) + '-' + l.slice(4)).join('');
      for (;;) {
        if (!(await this.trickle(again, every))) return null;
      }
    }
    const text = lines.join('');
    if (b.trickle) return (await this.trickle(text, b.trickle)) ? code : null;
    await this.write(text);
    if (code === 421) {
      this.socket.end();
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

  private write(text: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.write(text, () => resolve()));
  }
}

function ok(code: number | null): boolean {
  return code !== null && code >= 200 && code < 300;
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

