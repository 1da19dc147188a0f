import type { AddressInfo, Socket } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** What the sink answers to one message, decided when its DATA has arrived. */
export type SinkAction =
  | { kind: 'accept'; reply?: string }
  | { kind: 'reply'; code: number; text?: string }
  /** Cut the TCP connection instead of answering (a relay crash, a network cut). */
  | { kind: 'drop' }
  /** Answer after a delay (a slow relay); past the client's timeout it is a timeout. */
  | { kind: 'slow'; ms: number; then?: SinkAction };

export interface SinkMessage {
  messageId: string;
  /** 1 for the first time this Message-ID reached the sink, 2 for the second, … */
  seen: number;
  envelope: { from: string; to: string[] };
  raw: Buffer;
  action: SinkAction;
  at: number;
}

/**
 * A real SMTP server in the test process (smtp-server), scriptable per message: accept with a
 * chosen reply, answer 421/451/550, drop the connection, or be slow. Everything that reaches
 * DATA is recorded, with what the sink did about it.
 */
export interface SinkOptions {
  /** Offer STARTTLS (smtp-server's built-in self-signed certificate) and require AUTH with these. */
  auth?: { user: string; pass: string };
}

export class SmtpSink {
  readonly messages: SinkMessage[] = [];
  respond: (m: Omit<SinkMessage, 'action' | 'at'>) => SinkAction = () => ({ kind: 'accept' });
  /** RCPT TO addresses answered 550 (the envelope is refused before DATA). */
  readonly refusedRecipients = new Set<string>();
  /** The next this-many MAIL FROM commands are answered 451. */
  mailFromFailures = 0;
  /** TCP connections accepted so far, and AUTH logins that succeeded. */
  connections = 0;
  logins = 0;
  private readonly seenCount = new Map<string, number>();
  private readonly sockets = new Map<number, Socket>();
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(options: SinkOptions = {}): Promise<SmtpSink> {
    let sink!: SmtpSink;
    const { auth } = options;
    const server = new SMTPServer({
      secure: false,
      disabledCommands: auth ? [] : ['STARTTLS', 'AUTH'],
      authOptional: !auth,
      logger: false,
      maxClients: 200,
      onAuth(login, _session, callback) {
        if (login.username !== auth?.user || login.password !== auth?.pass) return callback(Object.assign(new Error('Invalid credentials'), { responseCode: 535 }));
        sink.logins++;
        callback(null, { user: login.username });
      },
      onMailFrom(_address, _session, callback) {
        if (sink.mailFromFailures > 0) {
          sink.mailFromFailures--;
          return callback(Object.assign(new Error('Sender temporarily refused'), { responseCode: 451 }));
        }
        callback();
      },
      onRcptTo(address, _session, callback) {
        if (sink.refusedRecipients.has(address.address)) return callback(Object.assign(new Error('No such user'), { responseCode: 550 }));
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => sink.onMessage(Buffer.concat(chunks), session, callback));
      },
    });
    server.server.on('connection', (socket: Socket) => {
      sink.connections++;
      const port = socket.remotePort!;
      sink?.sockets.set(port, socket);
      socket.on('close', () => sink?.sockets.delete(port));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sink = new SmtpSink(server, (server.server.address() as AddressInfo).port);
    return sink;
  }

  /** SMTP_* settings that make Postier deliver here. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(this.port), SMTP_USE_TLS: 'false', ...extra };
  }

  private onMessage(raw: Buffer, session: { remotePort: number; envelope: { mailFrom: false | { address: string }; rcptTo: { address: string }[] } }, callback: (err?: Error | null, msg?: string) => void): void {
    const messageId = /^Message-ID:\s*(<[^>]+>)/im.exec(raw.toString('latin1').split(/\r?\n\r?\n/)[0]!)?.[1] ?? '';
    const seen = (this.seenCount.get(messageId) ?? 0) + 1;
    this.seenCount.set(messageId, seen);
    const envelope = { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) };
    const base = { messageId, seen, envelope, raw };
    const action = this.respond(base);
    this.messages.push({ ...base, action, at: Date.now() });
    this.perform(action, session.remotePort, callback);
    for (const w of this.waiters.splice(0)) w();
  }

  private perform(action: SinkAction, remotePort: number, callback: (err?: Error | null, msg?: string) => void): void {
    switch (action.kind) {
      case 'accept':
        return callback(null, action.reply ?? 'Ok queued');
      case 'reply':
        return callback(Object.assign(new Error(action.text ?? `Error ${action.code}`), { responseCode: action.code }));
      case 'drop':
        this.sockets.get(remotePort)?.destroy();
        return;
      case 'slow':
        setTimeout(() => this.perform(action.then ?? { kind: 'accept' }, remotePort, callback), action.ms);
    }
  }

  /** Messages the sink accepted (answered 250). */
  get accepted(): SinkMessage[] {
    return this.messages.filter((m) => m.action.kind === 'accept' || (m.action.kind === 'slow' && (m.action.then?.kind ?? 'accept') === 'accept'));
  }

  acceptedCount(messageId: string): number {
    return this.accepted.filter((m) => m.messageId === messageId).length;
  }

  async waitFor(predicate: () => boolean, timeoutMs = 15_000, what = 'sink condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what} (${this.messages.length} messages at the sink)`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  parse(m: SinkMessage): Promise<ParsedMail> {
    return simpleParser(m.raw);
  }

  /** Hangs up every open connection, as a relay does after its idle timeout or on restart. */
  hangUp(): void {
    for (const s of this.sockets.values()) s.destroy();
  }

  reset(): void {
    this.refusedRecipients.clear();
    this.mailFromFailures = 0;
    this.messages.length = 0;
    this.seenCount.clear();
    this.respond = () => ({ kind: 'accept' });
  }

  close(): Promise<void> {
    for (const s of this.sockets.values()) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
