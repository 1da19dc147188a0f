import dgram from 'node:dgram';
import net from 'node:net';
import * as packet from 'dns-packet';

/**
 * A real DNS server in the test process, over UDP and TCP on one port (a TXT record too large
 * for 512 octets gets the TC bit over UDP without EDNS, and the resolver asks again over TCP).
 * Answers from `zone`, which tests change as they go; a name absent from it is NXDOMAIN, a name
 * with `servfail` answers SERVFAIL. `queries` records every question asked.
 */
export interface ZoneEntry {
  /** TXT records, each as its strings (a long record is split in strings of ≤ 255 octets). */
  txt?: string[];
  mx?: Array<{ priority: number; exchange: string }>;
  servfail?: boolean;
}

export class DnsServer {
  readonly zone = new Map<string, ZoneEntry>();
  readonly queries: Array<{ name: string; type: string; tcp: boolean }> = [];

  private constructor(
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<DnsServer> {
    for (let i = 0; i < 20; i++) {
      const udp = dgram.createSocket('udp4');
      await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
      const port = udp.address().port;
      const tcp = net.createServer();
      const ok = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false));
        tcp.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (!ok) {
        udp.close();
        continue;
      }
      const server = new DnsServer(udp, tcp, port);
      server.listen();
      return server;
    }
    throw new Error('no port free for both UDP and TCP');
  }

  /** For DNS_SERVERS. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  set(name: string, entry: ZoneEntry): void {
    this.zone.set(name.toLowerCase(), entry);
  }

  private answer(query: packet.Packet, tcp: boolean): Buffer {
    const q = query.questions?.[0];
    const base = { id: query.id, type: 'response' as const, questions: query.questions ?? [] };
    if (!q) return packet.encode({ ...base, flags: packet.RECURSION_AVAILABLE | 1 /* FORMERR */ });
    this.queries.push({ name: q.name.toLowerCase(), type: q.type, tcp });
    const entry = this.zone.get(q.name.toLowerCase());
    const flags = packet.AUTHORITATIVE_ANSWER | packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE;
    if (!entry) return packet.encode({ ...base, flags: flags | 3 /* NXDOMAIN */ });
    if (entry.servfail) return packet.encode({ ...base, flags: flags | 2 /* SERVFAIL */ });
    const answers: packet.Answer[] = [];
    if (q.type === 'TXT')
      for (const record of entry.txt ?? [])
        answers.push({ type: 'TXT', name: q.name, ttl: 60, class: 'IN', data: split(record) });
    if (q.type === 'MX')
      for (const mx of entry.mx ?? [])
        answers.push({
          type: 'MX',
          name: q.name,
          ttl: 60,
          class: 'IN',
          data: { preference: mx.priority, exchange: mx.exchange },
        });
    const full = packet.encode({ ...base, flags, answers });
    const edns = query.additionals?.some((a) => a.type === 'OPT');
    if (!tcp && !edns && full.length > 512) return packet.encode({ ...base, flags: flags | packet.TRUNCATED_RESPONSE });
    return full;
  }

  private listen(): void {
    this.udp.on('message', (msg, rinfo) => {
      let query: packet.Packet;
      try {
        query = packet.decode(msg);
      } catch {
        return;
      }
      this.udp.send(this.answer(query, false), rinfo.port, rinfo.address);
    });
    this.tcp.on('connection', (socket) => {
      let buffered = Buffer.alloc(0);
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const len = buffered.readUInt16BE(0);
          const query = packet.decode(buffered.subarray(2, 2 + len));
          buffered = buffered.subarray(2 + len);
          const reply = this.answer(query, true);
          const framed = Buffer.alloc(2 + reply.length);
          framed.writeUInt16BE(reply.length, 0);
          reply.copy(framed, 2);
          socket.write(framed);
        }
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.udp.close(() => r()));
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}

/** A TXT record's strings: at most 255 octets each. */
function split(record: string): Buffer[] {
  const bytes = Buffer.from(record);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) parts.push(bytes.subarray(i, i + 255));
  return parts.length ? parts : [Buffer.alloc(0)];
}
