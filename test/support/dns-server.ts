import dgram from 'node:dgram';
import net from 'node:net';
import * as packet from 'dns-packet';

/**
 * A real DNS server in the test process, over UDP and TCP on one port (an answer too large for
 * 512 octets gets the TC bit over UDP without EDNS, and the resolver asks again over TCP).
 * Answers from `zone`, which tests change as they go; a name absent from it is NXDOMAIN, a name
 * with `servfail` answers SERVFAIL. `queries` records every question asked.
 *
 * A zone entry can also answer what a hostile or careless zone would (test/domsec-dns): records
 * of any type and owner name (a CNAME loop, 250 records, a null MX), any RCODE, bytes that are
 * not a DNS message, an answer held back until a promise settles, or no answer at all.
 */
export interface ZoneEntry {
  /** TXT records, each as its text (split in strings of ≤ 255 octets) or as its strings, as sent. */
  txt?: Array<string | Buffer[]>;
  mx?: Array<{ priority: number; exchange: string }>;
  servfail?: boolean;
  /** The answer section as sent, in place of txt and mx: any records, or a function of the question. */
  answers?: packet.Answer[] | ((q: packet.Question) => packet.Answer[]);
  /** The RCODE of the answer (2 SERVFAIL, 3 NXDOMAIN, …), with its records if any. */
  rcode?: number;
  /** These bytes in place of the answer (a malformed message). */
  raw?: Buffer;
  /** The answer waits until this settles (a slow server). */
  hold?: Promise<void>;
  /** No answer at all (after `hold`, if any). */
  silent?: boolean;
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

  /** The reply to send, or null for none. */
  private async answer(query: packet.Packet, tcp: boolean): Promise<Buffer | null> {
    const q = query.questions?.[0];
    const base = { id: query.id, type: 'response' as const, questions: query.questions ?? [] };
    if (!q) return packet.encode({ ...base, flags: packet.RECURSION_AVAILABLE | 1 /* FORMERR */ });
    this.queries.push({ name: q.name.toLowerCase(), type: q.type, tcp });
    const entry = this.zone.get(q.name.toLowerCase());
    const flags = packet.AUTHORITATIVE_ANSWER | packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE;
    if (!entry) return packet.encode({ ...base, flags: flags | 3 /* NXDOMAIN */ });
    if (entry.hold) await entry.hold;
    if (entry.silent) return null;
    if (entry.raw) return entry.raw;
    if (entry.servfail) return packet.encode({ ...base, flags: flags | 2 /* SERVFAIL */ });
    const answers = typeof entry.answers === 'function' ? entry.answers(q) : (entry.answers ?? records(entry, q));
    const full = packet.encode({ ...base, flags: flags | (entry.rcode ?? 0), answers });
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
      void this.answer(query, false).then((reply) => {
        if (reply) this.udp.send(reply, rinfo.port, rinfo.address);
      });
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
          void this.answer(query, true).then((reply) => {
            if (!reply) return;
            const framed = Buffer.alloc(2 + reply.length);
            framed.writeUInt16BE(reply.length, 0);
            reply.copy(framed, 2);
            socket.write(framed);
          });
        }
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.udp.close(() => r()));
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}

/** The TXT or MX records of `entry` that answer `q`. */
function records(entry: ZoneEntry, q: packet.Question): packet.Answer[] {
  const base = { name: q.name, ttl: 60, class: 'IN' as const };
  if (q.type === 'TXT') return (entry.txt ?? []).map((r) => ({ ...base, type: 'TXT' as const, data: txtStrings(r) }));
  if (q.type === 'MX')
    return (entry.mx ?? []).map((mx) => ({
      ...base,
      type: 'MX' as const,
      data: { preference: mx.priority, exchange: mx.exchange },
    }));
  return [];
}

/** A TXT record's strings: at most 255 octets each (strings given as such are kept as they are). */
export function txtStrings(record: string | Buffer[]): Buffer[] {
  if (Array.isArray(record)) return record;
  const bytes = Buffer.from(record);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) parts.push(bytes.subarray(i, i + 255));
  return parts.length ? parts : [Buffer.alloc(0)];
}
