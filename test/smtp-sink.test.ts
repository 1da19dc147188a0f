import net from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterEach, describe, expect, it } from 'vitest';
import { type SinkOptions, SmtpSink } from './support/smtp-sink.js';

/**
 * The test sink must be a faithful SMTP server before it can be a useful faulty one: held here
 * to an independent client (Nodemailer's), with STARTTLS, implicit TLS, both AUTH mechanisms and
 * pipelining, then to its scripts' promises (times, matches, the order of pipelined replies), and
 * its fast mode to the same counts as its recording one.
 */
const raw = (n: number) =>
  Buffer.from(`Message-ID: <relay-${n}@rgz.bj>\r\nSubject: ${n}\r\n\r\n.starts with a dot\r\nbody ${n}\r\n`);

describe('SmtpSink', () => {
  const relays: SmtpSink[] = [];
  const start = async (o: SinkOptions = {}) => {
    const r = await SmtpSink.start(o);
    relays.push(r);
    return r;
  };
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.close();
  });

  /** Nodemailer's SMTPConnection: connect (and log in), send, quit; the reply or the error. */
  async function nodemailerSend(
    relay: SmtpSink,
    opts: SMTPConnection.Options,
    envelope: { from: string; to: string[] },
    message: Buffer,
    auth?: { user: string; pass: string },
  ) {
    const c = new SMTPConnection({
      host: '127.0.0.1',
      port: relay.port,
      tls: { ca: relay.certificate?.cert },
      ...opts,
    });
    // Errors reach the callbacks; the event would otherwise be unhandled when the relay closes.
    c.on('error', () => {});
    const ended = new Promise((resolve) => c.once('end', resolve));
    await new Promise<void>((resolve, reject) => c.connect((err) => (err ? reject(err) : resolve())));
    try {
      if (auth) await new Promise<void>((resolve, reject) => c.login(auth, (err) => (err ? reject(err) : resolve())));
      return await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
        c.send(envelope, message, (err, info) => (err ? reject(err) : resolve(info!))),
      );
    } finally {
      c.quit();
      await ended;
    }
  }

  it('accepts mail from an independent client over STARTTLS with AUTH PLAIN or LOGIN, and records envelope and bytes', async () => {
    const relay = await start({ starttls: true, auth: { user: 'u', pass: 'p', required: true } });
    const login = await start({ starttls: true, auth: { user: 'u', pass: 'p', required: true, methods: ['LOGIN'] } });
    const envelope = { from: 'a@rgz.bj', to: ['b@example.com', 'c@example.com'] };
    for (const r of [relay, login]) {
      const info = await nodemailerSend(r, { requireTLS: true }, envelope, raw(1), { user: 'u', pass: 'p' });
      expect(info.accepted).toEqual(['b@example.com', 'c@example.com']);
    }
    expect(login.commands.find((c) => c.line.startsWith('AUTH'))!.line).toBe('AUTH LOGIN ***');
    expect(relay.commands.find((c) => c.line.startsWith('AUTH'))!.line).toBe('AUTH PLAIN ***');
    await nodemailerSend(relay, { requireTLS: true }, envelope, raw(1), { user: 'u', pass: 'p' });
    expect(relay.accepted).toHaveLength(2);
    expect(login.logins).toBe(1);
    expect(relay.accepted[0]).toMatchObject({
      envelope: { from: 'a@rgz.bj', to: ['b@example.com', 'c@example.com'] },
      messageId: '<relay-1@rgz.bj>',
      accepted: true,
    });
    expect(relay.accepted[0]!.raw.equals(raw(1))).toBe(true);
    expect(relay.accepted[0]!.wire.toString()).toContain('\r\n..starts with a dot\r\n');
    // Wrong credentials and no login at all are refused like a real relay does.
    await expect(
      nodemailerSend(relay, { requireTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(2), {
        user: 'u',
        pass: 'x',
      }),
    ).rejects.toMatchObject({ responseCode: 535 });
    await expect(
      nodemailerSend(relay, { requireTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(3)),
    ).rejects.toMatchObject({ responseCode: 530 });
  });

  it('speaks implicit TLS, refuses a message over its SIZE, and can keep counts only', async () => {
    const tls = await start({ implicitTls: true, maxSize: 100 });
    await expect(
      nodemailerSend(tls, { secure: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(4)),
    ).resolves.toMatchObject({ accepted: ['b@example.com'] });
    await expect(
      nodemailerSend(
        tls,
        { secure: true },
        { from: 'a@rgz.bj', to: ['b@example.com'] },
        Buffer.concat([raw(5), Buffer.alloc(200, 'x')]),
      ),
    ).rejects.toMatchObject({ responseCode: 552 });
    const counting = await start({ fast: true });
    await nodemailerSend(counting, { ignoreTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(6));
    expect([
      counting.received,
      counting.acceptedTotal,
      counting.messages.length,
      counting.commands.length,
      counting.chunks.length,
    ]).toEqual([1, 1, 0, 0, 0]);
  });

  it('counts the same per Message-ID and per recipient in fast mode as when recording, and tells each reply how often its Message-ID came', async () => {
    for (const fast of [false, true]) {
      const sink = await start({ fast });
      // The first arrival of each Message-ID is refused, as a greylisting relay does after DATA.
      const seen: number[] = [];
      sink.on(
        'message',
        (ctx) => (
          seen.push(ctx.message!.seen), ctx.message!.seen === 1 ? { reply: '451 4.7.1 Try again later' } : undefined
        ),
      );
      const send = (n: number, to: string[]) =>
        nodemailerSend(sink, { ignoreTLS: true }, { from: 'a@rgz.bj', to }, raw(n)).catch(
          (e: { responseCode?: number }) => e.responseCode,
        );
      expect(await send(1, ['b@example.com'])).toBe(451);
      await send(1, ['b@example.com']);
      await send(1, ['b@example.com', 'c@example.com']);
      await send(2, ['c@example.com']);
      expect(await send(2, ['c@example.com'])).toMatchObject({ accepted: ['c@example.com'] });
      expect(seen).toEqual([1, 2, 3, 1, 2]);
      expect([sink.received, sink.acceptedTotal, sink.distinct, sink.duplicates]).toEqual([5, 3, 2, 1]);
      expect([
        sink.acceptedCount('<relay-1@rgz.bj>'),
        sink.acceptedCount('<relay-2@rgz.bj>'),
        sink.acceptedCount('<relay-3@rgz.bj>'),
      ]).toEqual([2, 1, 0]);
      expect([sink.deliveredTo('b@example.com'), sink.deliveredTo('c@example.com')]).toEqual([2, 2]);
      // The size is the message on the wire: one line dot-stuffed, the terminating line left out.
      expect(sink.sizeOf('<relay-1@rgz.bj>')).toBe(raw(1).length + 1);
      expect(sink.acceptedAt('<relay-2@rgz.bj>')).toBeGreaterThan(sink.acceptedAt('<relay-1@rgz.bj>')!);
      expect(sink.acceptedBytes).toBe(2 * (raw(1).length + 1) + raw(2).length + 1);
      expect(sink.messages).toHaveLength(fast ? 0 : 5);
      if (!fast)
        expect(sink.messages.map((m) => [m.messageId, m.seen, m.accepted])).toEqual([
          ['<relay-1@rgz.bj>', 1, false],
          ['<relay-1@rgz.bj>', 2, true],
          ['<relay-1@rgz.bj>', 3, true],
          ['<relay-2@rgz.bj>', 1, false],
          ['<relay-2@rgz.bj>', 2, true],
        ]);
      sink.reset();
      expect([
        sink.received,
        sink.acceptedTotal,
        sink.distinct,
        sink.duplicates,
        sink.acceptedCount('<relay-1@rgz.bj>'),
        sink.deliveredTo('b@example.com'),
      ]).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });

  it('finds the end of DATA wherever the chunks split it, one byte at a time included, with an empty message and a pipelined next transaction', async () => {
    const message = 'Message-ID: <split@rgz.bj>\r\nSubject: split\r\n\r\n..a stuffed dot\r\nlast line\r\n';
    const data = `${message}.\r\n`;
    const envelope = 'MAIL FROM:<a@rgz.bj>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n';
    // Every cut near the end (the terminator split every way), a cut in the header, and no cut.
    const cuts = [
      ...Array.from({ length: 8 }, (_, i) => [data.length - 1 - i]),
      [10],
      [],
      Array.from({ length: data.length - 1 }, (_, i) => i + 1),
    ];
    for (const fast of [false, true]) {
      const sink = await start({ fast });
      for (const at of cuts) {
        const pieces = [0, ...at, data.length]
          .slice(1)
          .map((end, i, ends) => data.slice(i === 0 ? 0 : ends[i - 1], end));
        await talk(sink.port, ['EHLO test\r\n', envelope, ...pieces]);
      }
      // The empty message (its terminator right after DATA), then a transaction in the same write as the terminator.
      await talk(sink.port, ['EHLO test\r\n', `${envelope}.\r\n${envelope}${data}`]);
      expect(sink.received).toBe(cuts.length + 2);
      expect(sink.acceptedCount('<split@rgz.bj>')).toBe(cuts.length + 1);
      expect(sink.sizeOf('<split@rgz.bj>')).toBe(message.length);
      if (!fast) {
        const got = sink.messages.filter((m) => m.messageId === '<split@rgz.bj>');
        for (const m of got) expect(m.raw.toString()).toBe(message.replace('..a', '.a'));
        expect(got.every((m) => m.wire.toString() === data)).toBe(true);
        expect(sink.messages.find((m) => m.messageId === '')!.raw).toHaveLength(0);
      }
    }
  });

  it('scripts every command at once with `any` (a relay that is down), and parses what it accepted', async () => {
    const sink = await start();
    let refused = 0;
    const recover = sink.on(
      'any',
      () => (refused++, { reply: '421 4.3.2 Service not available, closing transmission channel' }),
    );
    expect(await talk(sink.port, [])).toBe('421 4.3.2 Service not available, closing transmission channel\r\n');
    expect(refused).toBe(1);
    recover();
    await Promise.all(
      [1, 2].map((n) => nodemailerSend(sink, { ignoreTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(n))),
    );
    expect(await sink.waitForAccepted(2)).toHaveLength(2);
    expect((await sink.parseAccepted()).map((m) => m.subject).sort()).toEqual(['1', '2']);
    await expect(sink.waitForAccepted(3, 100)).rejects.toThrow(/3 accepted messages/);
  });

  it('applies a script the given number of times, to the matching recipients only, later scripts first', async () => {
    const relay = await start();
    relay.on('rcpt', { reply: '550 5.1.1 no' }, { match: 'gone' });
    relay.on('rcpt', { reply: '450 4.2.0 later' }, { match: 'gone', times: 1 });
    const first = await nodemailerSend(
      relay,
      { ignoreTLS: true },
      { from: 'a@rgz.bj', to: ['gone@example.com', 'ok@example.com'] },
      raw(7),
    );
    expect(first.rejectedErrors?.map((e) => (e as { responseCode?: number }).responseCode)).toEqual([450]);
    const second = await nodemailerSend(
      relay,
      { ignoreTLS: true },
      { from: 'a@rgz.bj', to: ['gone@example.com', 'ok@example.com'] },
      raw(8),
    );
    expect(second.rejectedErrors?.map((e) => (e as { responseCode?: number }).responseCode)).toEqual([550]);
    expect(relay.accepted.map((m) => m.envelope.to)).toEqual([['ok@example.com'], ['ok@example.com']]);
  });

  it('answers pipelined commands in order, each after its own delay', async () => {
    const relay = await start();
    relay.on('mail', { delayMs: 150 });
    relay.on('rcpt', { reply: '250 2.1.5 slowly', trickle: { bytes: 3, everyMs: 10 } });
    const info = await nodemailerSend(
      relay,
      { ignoreTLS: true },
      { from: 'a@rgz.bj', to: ['b@example.com', 'c@example.com'] },
      raw(9),
    );
    expect(info.accepted).toEqual(['b@example.com', 'c@example.com']);
    expect(relay.chunks.find((c) => c.text.startsWith('MAIL'))!.text).toMatch(
      /^MAIL FROM:<a@rgz\.bj>.*\r\nRCPT TO:<b@example\.com>.*\r\nRCPT TO:<c@example\.com>/,
    );
  });
});

/** Writes each piece on its own (10 ms apart, so each is a chunk of its own), then QUIT; resolves once the sink has hung up. */
async function talk(port: number, pieces: string[]): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  // Writing to a sink that has hung up fails: what it said is the answer.
  socket.on('error', () => {});
  let heard = '';
  socket.on('data', (d: Buffer) => (heard += d.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (const p of [...pieces, 'QUIT\r\n']) {
    socket.write(p);
    await new Promise((r) => setTimeout(r, 10));
  }
  await closed;
  return heard;
}
