import net from 'node:net';

/**
 * A minimal SMTP sink for benchmarks: answers every command at once, never parses more than
 * the Message-ID header, and records when it said 250 for each Message-ID. Much cheaper than
 * smtp-server, so the figures measure the sender, not the sink.
 */
export class FastSink {
  readonly acceptedAt = new Map<string, number>();
  count = 0;
  bytes = 0;
  private server: net.Server;
  private sockets = new Set<net.Socket>();
  port = 0;

  constructor() {
    this.server = net.createServer((socket) => this.session(socket));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  private session(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    socket.write('220 sink ESMTP\r\n');
    let inData = false;
    let line = '';
    let head = '';
    let tail = '';
    let size = 0;
    socket.on('data', (chunk: Buffer) => {
      let s = chunk.toString('latin1');
      while (s.length) {
        if (inData) {
          const text = tail + s;
          const end = text.indexOf('\r\n.\r\n');
          if (head.length < 4096) head += s.slice(0, 4096);
          if (end === -1) {
            size += s.length;
            tail = text.slice(-4);
            return;
          }
          size += end - tail.length + 2;
          s = text.slice(end + 5);
          inData = false;
          tail = '';
          const id = /^Message-ID:\s*(<[^>]+>)/im.exec(head)?.[1] ?? `#${this.count}`;
          this.acceptedAt.set(id, performance.now());
          this.count++;
          this.bytes += size;
          socket.write(`250 Ok 0100${this.count.toString(16).padStart(12, '0')}-sink-000000\r\n`);
          continue;
        }
        const nl = s.indexOf('\n');
        if (nl === -1) {
          line += s;
          return;
        }
        const cmd = (line + s.slice(0, nl)).trim().toUpperCase();
        s = s.slice(nl + 1);
        line = '';
        if (cmd.startsWith('EHLO')) socket.write('250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n');
        else if (cmd.startsWith('HELO')) socket.write('250 sink\r\n');
        else if (cmd === 'DATA') {
          inData = true;
          head = '';
          size = 0;
          socket.write('354 go ahead\r\n');
        } else if (cmd === 'QUIT') {
          socket.end('221 bye\r\n');
          return;
        } else socket.write('250 Ok\r\n');
      }
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
