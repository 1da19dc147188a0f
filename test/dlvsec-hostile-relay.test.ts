import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { smtpTargets, startWorker } from '../src/delivery/start.js';
import { ReplyReader, SmtpConnection } from '../src/delivery/smtp-client/index.js';
import { SmtpPool } from '../src/delivery/smtp-pool.js';
import { classifyReply } from '../src/delivery/smtp-reply.js';
import type { Worker } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { attemptEvents, messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

/**
 * Relays that do what no script of the SmtpSink can: raw bytes written when and how the test
 * says. `answer` gets each command line (DATA's bytes are read up to the final dot, then
 * `answer('.')`) and returns the bytes to write, or null to say nothing.
 */
class RawRelay {
  readonly server: net.Server;
  connections = 0;
  messages = 0;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly greeting: string | null,
    private readonly answer: (line: string, session: number) => string | null,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  static async start(greeting: string | null, answer: (line: string, session: number) => string | null) {
    const r = new RawRelay(greeting, answer);
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    r.port = (r.server.address() as net.AddressInfo).port;
    return r;
  }

  private accept(socket: net.Socket): void {
    const session = ++this.connections;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    if (this.greeting !== null) socket.write(this.greeting);
    let buffer = '';
    let data = false;
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (data) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end === -1) return;
          buffer = buffer.slice(end + 5);
          data = false;
          this.messages++;
          this.reply(socket, '.', session);
          continue;
        }
        const nl = buffer.indexOf('\r\n');
        if (nl === -1) return;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (/^DATA$/i.test(line)) data = true;
        this.reply(socket, line, session);
      }
    });
  }

  private reply(socket: net.Socket, line: string, session: number): void {
    const out = this.answer(line, session);
    if (out !== null && !socket.destroyed) socket.write(out);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** What a plain, willing relay answers. */
function normal(line: string): string {
  if (/^EHLO/i.test(line)) return '250-relay.test\r\n250 PIPELINING\r\n';
  if (/^DATA$/i.test(line)) return '354 go ahead\r\n';
  if (line === '.') return '250 2.0.0 Ok: queued\r\n';
  if (/^QUIT/i.test(line)) return '221 bye\r\n';
  return '250 2.0.0 Ok\r\n';
}

const mime = (n: number) => Buffer.from(`Message-ID: <hostile-${n}@rgz.bj>\r\nSubject: ${n}\r\n\r\nCorps ${n}\r\n`);
const envelope = { from: 'noreply@rgz.bj', to: ['client@example.com'] };
const client = (port: number) =>
  ({ host: '127.0.0.1', port, security: 'none', timeoutMs: 2000, dataTimeoutMs: 2000 }) as const;

describe('a relay that says more than it was asked', () => {
  const relays: RawRelay[] = [];
  afterAll(async () => {
    for (const r of relays) await r.close();
  });

  it('is not trusted with the next message: a second reply sent with the reply to the final dot ends the connection', async () => {
    // Answers the final dot with its 250 and, in the same packet, a 550 meant for nothing: the
    // next message's MAIL FROM read that 550 as its own and failed for good.
    const relay = await RawRelay.start('220 relay.test ESMTP\r\n', (line) =>
      line === '.' ? '250 2.0.0 Ok: queued as A1\r\n550 5.1.1 Stale refusal\r\n' : normal(line),
    );
    relays.push(relay);
    const pool = new SmtpPool({ client: client(relay.port), size: 1, maxMessages: 100 });
    try {
      await expect(pool.send(envelope, mime(1))).resolves.toMatchObject({ data: { code: 250 } });
      await expect(pool.send(envelope, mime(2))).resolves.toMatchObject({
        recipients: [{ accepted: true }],
        data: { code: 250, text: '250 2.0.0 Ok: queued as A1' },
      });
      expect(relay.messages).toBe(2);
      expect(relay.connections).toBe(2);
    } finally {
      pool.close();
    }
  });

  it('is out of step after a reply to EHLO followed by another: a protocol error, before any message', async () => {
    const relay = await RawRelay.start('220 relay.test ESMTP\r\n', (line) =>
      /^EHLO/i.test(line) ? '250 relay.test\r\n250 2.0.0 Ok\r\n' : normal(line),
    );
    relays.push(relay);
    await expect(SmtpConnection.open(client(relay.port))).rejects.toMatchObject({
      phase: 'ehlo',
      kind: 'protocol',
      message: expect.stringMatching(/reply nobody asked for: 250 2\.0\.0 Ok/),
    });
  });
});

describe('a relay that offers STARTTLS and does not keep its word', () => {
  const relays: RawRelay[] = [];
  afterAll(async () => {
    for (const r of relays) await r.close();
  });
  const ehlo = '250-relay.test\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n';

  it.each([
    ['answers 220 and goes on in clear', '220 2.0.0 Ready\r\n250 2.0.0 Ok\r\n'],
    ['answers 220 and closes', null],
    ['refuses it', '454 4.7.0 TLS not available\r\n'],
  ] as const)(
    '%s: the session fails in STARTTLS before a byte of the message or the password is sent',
    async (_what, answer) => {
      const lines: string[] = [];
      let relay!: RawRelay;
      relay = await RawRelay.start('220 relay.test ESMTP\r\n', (line) => {
        lines.push(line);
        if (/^EHLO/i.test(line)) return ehlo;
        if (/^STARTTLS/i.test(line)) {
          if (answer === null) {
            setImmediate(() => relay.close());
            return '220 2.0.0 Ready\r\n';
          }
          return answer;
        }
        return normal(line);
      });
      relays.push(relay);
      const e = await SmtpConnection.open({
        ...client(relay.port),
        security: 'starttls',
        auth: { user: 'postier', pass: 'secret' },
      }).catch((x: unknown) => x);
      // Going on in clear leaves our ClientHello unanswered: the handshake's deadline ends it.
      expect(e).toMatchObject({ phase: 'starttls', kind: answer?.includes('250') ? 'timeout' : 'tls' });
      expect(lines.filter((l) => !/^(EHLO|STARTTLS)/i.test(l) && !l.startsWith('\x16'))).toEqual([]);
    },
  );
});

describe('a relay answering codes SMTP does not have', () => {
  const relays: RawRelay[] = [];
  afterAll(async () => {
    for (const r of relays) await r.close();
  });

  it('is refused at a 099 greeting (a relay problem), and a 699 or 199 to the final dot is no acceptance', async () => {
    const greeting = await RawRelay.start('099 hello?\r\n', normal);
    relays.push(greeting);
    const e = await SmtpConnection.open(client(greeting.port)).catch((x: unknown) => x);
    expect(e).toMatchObject({ phase: 'greeting', kind: 'reply', code: 99 });
    expect(
      classifyReply({ ...(e as { phase: 'greeting' }), kind: 'reply', code: 99, enhanced: null, text: '099' }),
    ).toEqual({ class: 'relay_problem', relayProblem: 'refused_session' });

    for (const code of [699, 199]) {
      const relay = await RawRelay.start('220 relay.test\r\n', (line) =>
        line === '.' ? `${code} 2.0.0 Ok?\r\n` : normal(line),
      );
      relays.push(relay);
      const c = await SmtpConnection.open(client(relay.port));
      const r = await c.send(envelope, mime(code));
      c.close();
      expect(r.data).toMatchObject({ code, enhanced: null });
      const verdict = classifyReply({ phase: 'data_end', kind: 'reply', code, enhanced: null, text: r.data!.text });
      expect(verdict.class).toBe('transient');
    }
  });
});

describe('a relay whose greeting never ends', () => {
  it('is cut off at 64 KiB, a protocol error in the greeting, long before its 100 MB are written', async () => {
    let written = 0;
    const line = Buffer.from(`220-${'x'.repeat(1020)}\r\n`);
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      const pump = () => {
        while (!socket.destroyed && written < 100 * 1024 * 1024) {
          written += line.length;
          if (!socket.write(line)) return void socket.once('drain', pump);
        }
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      await expect(SmtpConnection.open(client(port))).rejects.toMatchObject({
        phase: 'greeting',
        kind: 'protocol',
        message: 'Reply longer than 65536 bytes',
      });
      expect(written).toBeLessThan(20 * 1024 * 1024);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('ReplyReader against hostile bytes', () => {
  it('reads the same replies whatever the bytes are split into', () => {
    const wire = Buffer.from(
      '220 h\u00e9llo\r\n250-first\r\n250-sec\u00f6nd\r\n250 last\r\n550 5.1.1 gone\u0000 \xff\r\n',
      'utf8',
    );
    const whole = new ReplyReader().push(wire);
    expect(whole.map((r) => r.code)).toEqual([220, 250, 550]);
    const reader = new ReplyReader();
    const byByte = [...wire].flatMap((_, i) => reader.push(wire.subarray(i, i + 1)));
    expect(byByte).toEqual(whole);
    expect(reader.pending).toBe(false);
  });

  it('refuses a line without end past its limit, one byte at a time, and a reply of endless lines', () => {
    const reader = new ReplyReader(4096);
    const push = () => {
      for (let i = 0; i < 5000; i++) reader.push(Buffer.from('2'));
    };
    expect(push).toThrow(/Reply longer than 4096 bytes/);
    const lines = new ReplyReader(4096);
    expect(() => lines.push(Buffer.from('250-more\r\n'.repeat(500)))).toThrow(/Reply longer than 4096 bytes/);
  });
});

// The two relays that fall silent, on both databases, side by side (one test each, with its own
// relay and context): most of each run is waiting for SMTP_TIMEOUT_SECONDS to pass, with the CPU idle.
describe.concurrent.each(backends)('a relay that takes the connection and never answers, on %s', (backend) => {
  let t: TestContext;
  let tarpit: RawRelay;
  let fallback: SmtpSink;
  let worker: Worker | null = null;

  beforeAll(async () => {
    tarpit = await RawRelay.start(null, () => null);
    fallback = await SmtpSink.start();
    t = await createTestContext(backend, {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(tarpit.port),
      SMTP_USE_TLS: 'false',
      SMTP_FALLBACK_URLS: `smtp://127.0.0.1:${fallback.port}`,
      SMTP_FAILOVER_COOLDOWN_SECONDS: '600',
      SMTP_TIMEOUT_SECONDS: '0.5',
      SMTP_POOL_SIZE: '2',
      WORKER_POLL_MS: '20',
      WORKER_RETRY_BASE_SECONDS: '0.05',
      WORKER_RETRY_MAX_SECONDS: '0.2',
    });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
  });
  afterAll(async () => {
    await t.close();
    await tarpit.close();
    await fallback.close();
  });

  it('counts as failing: its greeting times out, and every send waiting for it moves to the fallback in the same attempt', async () => {
    const to = Array.from({ length: 8 }, (_, i) => `noc${i}@rgz.bj`);
    const ids: string[] = [];
    for (const a of to) ids.push(...(await sendOk(t, { ...incidentExample(), to: a })));
    worker = startWorker(t.services, smtpTargets(t.services, null));
    await waitForStatus(t, ids, ['sent'], 20_000);
    for (const a of to) expect(fallback.deliveredTo(a)).toBe(1);
    for (const id of ids) {
      expect(await messageRow(t, id)).toMatchObject({ status: 'sent', attempts: 1, lease_owner: null });
      const tries = (await attemptEvents(t, id)) as Array<{ relay?: string; attempt: number }>;
      expect(tries.map((a) => [a.attempt, a.relay])).toEqual([[1, 'relay-2']]);
    }
    // The pool opened its two sessions to the silent relay; the six sends waiting for a place
    // were told of the silence then, rather than each opening a session and waiting for it.
    expect(tarpit.connections).toBe(2);
  });
});

describe.concurrent.each(backends)('a relay that greets, then hangs at MAIL FROM, on %s', (backend) => {
  let t: TestContext;
  let relay: RawRelay;
  let worker: Worker | null = null;

  beforeAll(async () => {
    // Its first two sessions answer the greeting and EHLO, then nothing; the third works.
    const hung = new Set<number>();
    relay = await RawRelay.start('220 relay.test ESMTP\r\n', (line, session) => {
      if (session <= 2 && /^MAIL/i.test(line)) hung.add(session);
      return hung.has(session) ? null : normal(line);
    });
    t = await createTestContext(backend, {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(relay.port),
      SMTP_USE_TLS: 'false',
      SMTP_TIMEOUT_SECONDS: '0.5',
      WORKER_POLL_MS: '20',
      WORKER_RETRY_BASE_SECONDS: '0.05',
      WORKER_RETRY_MAX_SECONDS: '0.2',
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await t.close();
    await relay.close();
  });

  it('is a relay problem: the attempts are not spent, and the message goes once the relay answers', async () => {
    const [id] = await sendOk(t, { ...incidentExample(), to: 'noc@rgz.bj' });
    // One attempt allowed: a silence at MAIL FROM spent it, and the message failed at once.
    await t.services.db.updateTable('email_messages').set({ max_attempts: 1 }).where('id', '=', id!).execute();
    worker = startWorker(t.services, smtpTargets(t.services, null));
    await waitForStatus(t, [id!], ['sent', 'failed'], 20_000);
    expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', attempts: 1, relay_problem_since: null });
    const tries = (await attemptEvents(t, id!)) as Array<{ attempt: number; phase?: string; relay_problem?: string }>;
    expect(tries.map((a) => [a.attempt, a.phase ?? null, a.relay_problem ?? null])).toEqual([
      [1, 'mail', 'timeout'],
      [1, 'mail', 'timeout'],
      [1, null, null],
    ]);
    expect(relay.messages).toBe(1);
  });
});
