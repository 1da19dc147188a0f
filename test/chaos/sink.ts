import net from 'node:net';

/**
 * A cheap SMTP sink for the chaos run (20,000 messages: smtp-server would cost more than the
 * sender). It counts every 250 per Message-ID (so duplicates are visible), can answer 421 to
 * everything for a while (a relay that is down), and 550 after DATA for chosen recipients.
 */
export class ChaosSink {
  /** Message-ID → how many times the sink answered 250 for it. */
  readonly seen = new Map<string, number>();
  accepted = 0;
  tempFailed = 0;
  rejected = 0;
  /** Envelope recipients the sink said 250 for (after DATA). */
  readonly deliveredTo = new Set<string>();
  /** Message-ID → size of its DATA (bytes), the last time the sink said 250 for it. */
  readonly sizes = new Map<string, number>();
  mode: 'ok' | '421' = 'ok';
  rejectRcpt: (address: string) => boolean = () => false;
  port = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor() {
    this.server = net.createServer((socket) => this.session(socket));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  get distinct(): number {
    return this.seen.size;
  }

  get duplicates(): number {
    return this.accepted - this.seen.size;
  }

  reset(): void {
    this.seen.clear();
    this.deliveredTo.clear();
    this.sizes.clear();
    this.accepted = this.tempFailed = this.rejected = 0;
    this.mode = 'ok';
    this.rejectRcpt = () => false;
  }

  private session(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    const down = () => {
      this.tempFailed++;
      socket.end('421 4.3.2 Service not available, closing transmission channel\r\n');
    };
    if (this.mode === '421') return down();
    socket.write('220 chaos-sink ESMTP\r\n');
    let inData = false;
    let line = '';
    let head = '';
    let tail = '';
    let size = 0;
    let rcpts: string[] = [];
    socket.on('data', (chunk: Buffer) => {
      let s = chunk.toString('latin1');
      while (s.length) {
        if (inData) {
          const text = tail + s;
          const end = text.indexOf('\r\n.\r\n');
          if (head.length < 8192) head += s.slice(0, 8192);
          if (end === -1) {
            size += s.length;
            tail = text.slice(-4);
            return;
          }
          size += end - tail.length;
          s = text.slice(end + 5);
          inData = false;
          tail = '';
          if (this.mode === '421') return down();
          const refused = rcpts.find((r) => this.rejectRcpt(r));
          if (refused) {
            // Like a relay that checks recipients after DATA (a content/recipient filter).
            this.rejected++;
            socket.write(`550 5.1.1 <${refused}>: Recipient address rejected: User unknown\r\n`);
            continue;
          }
          const id = /^Message-ID:\s*(<[^>]+>)/im.exec(head)?.[1] ?? `#${this.accepted}`;
          this.seen.set(id, (this.seen.get(id) ?? 0) + 1);
          this.sizes.set(id, size);
          for (const r of rcpts) this.deliveredTo.add(r);
          this.accepted++;
          socket.write(`250 2.0.0 Ok: queued as C${this.accepted.toString(16).padStart(10, '0')}\r\n`);
          continue;
        }
        const nl = s.indexOf('\n');
        if (nl === -1) {
          line += s;
          return;
        }
        const raw = (line + s.slice(0, nl)).trim();
        const cmd = raw.toUpperCase();
        s = s.slice(nl + 1);
        line = '';
        if (this.mode === '421' && !cmd.startsWith('QUIT')) return down();
        if (cmd.startsWith('EHLO')) socket.write('250-chaos-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n');
        else if (cmd.startsWith('HELO')) socket.write('250 chaos-sink\r\n');
        else if (cmd.startsWith('MAIL FROM')) {
          rcpts = [];
          socket.write('250 2.1.0 Ok\r\n');
        } else if (cmd.startsWith('RCPT TO')) {
          const address = /<([^>]*)>/.exec(raw)?.[1] ?? '';
          rcpts.push(address);
          socket.write('250 2.1.5 Ok\r\n');
        } else if (cmd === 'DATA') {
          inData = true;
          head = '';
          size = 0;
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (cmd === 'QUIT') {
          socket.end('221 2.0.0 Bye\r\n');
          return;
        } else socket.write('250 2.0.0 Ok\r\n');
      }
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
