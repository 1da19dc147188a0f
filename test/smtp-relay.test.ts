import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterEach, describe, expect, it } from 'vitest';
import { type RelayOptions, SmtpRelay } from './support/smtp-relay.js';

/**
 * The test relay must be a faithful SMTP server before it can be a useful faulty one: held here
 * to an independent client (Nodemailer's), with STARTTLS, implicit TLS, both AUTH mechanisms and
 * pipelining, then to its scripts' promises (times, matches, the order of pipelined replies).
 */
const raw = (n: number) => Buffer.from(`Message-ID: <relay-${n}@rgz.bj>\r\nSubject: ${n}\r\n\r\n.starts with a dot\r\nbody ${n}\r\n`);

describe('SmtpRelay', () => {
  const relays: SmtpRelay[] = [];
  const start = async (o: RelayOptions = {}) => {
    const r = await SmtpRelay.start(o);
    relays.push(r);
    return r;
  };
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.close();
  });

  /** Nodemailer's SMTPConnection: connect (and log in), send, quit; the reply or the error. */
  async function nodemailerSend(relay: SmtpRelay, opts: SMTPConnection.Options, envelope: { from: string; to: string[] }, message: Buffer, auth?: { user: string; pass: string }) {
    const c = new SMTPConnection({ host: '127.0.0.1', port: relay.port, tls: { ca: relay.certificate?.cert }, ...opts });
    // Errors reach the callbacks; the event would otherwise be unhandled when the relay closes.
    c.on('error', () => {});
    const ended = new Promise((resolve) => c.once('end', resolve));
    await new Promise<void>((resolve, reject) => c.connect((err) => (err ? reject(err) : resolve())));
    try {
      if (auth) await new Promise<void>((resolve, reject) => c.login(auth, (err) => (err ? reject(err) : resolve())));
      return await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => c.send(envelope, message, (err, info) => (err ? reject(err) : resolve(info!))));
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
    expect(relay.accepted[0]).toMatchObject({ envelope: { from: 'a@rgz.bj', to: ['b@example.com', 'c@example.com'] }, messageId: '<relay-1@rgz.bj>', accepted: true });
    expect(relay.accepted[0]!.raw.equals(raw(1))).toBe(true);
    expect(relay.accepted[0]!.wire.toString()).toContain('\r\n..starts with a dot\r\n');
    // Wrong credentials and no login at all are refused like a real relay does.
    await expect(nodemailerSend(relay, { requireTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(2), { user: 'u', pass: 'x' })).rejects.toMatchObject({ responseCode: 535 });
    await expect(nodemailerSend(relay, { requireTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(3))).rejects.toMatchObject({ responseCode: 530 });
  });

  it('speaks implicit TLS, refuses a message over its SIZE, and can keep counts only', async () => {
    const tls = await start({ implicitTls: true, maxSize: 100 });
    await expect(nodemailerSend(tls, { secure: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(4))).resolves.toMatchObject({ accepted: ['b@example.com'] });
    await expect(nodemailerSend(tls, { secure: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, Buffer.concat([raw(5), Buffer.alloc(200, 'x')]))).rejects.toMatchObject({ responseCode: 552 });
    const counting = await start({ keepMessages: false });
    await nodemailerSend(counting, { ignoreTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com'] }, raw(6));
    expect([counting.received, counting.messages.length]).toEqual([1, 0]);
  });

  it('applies a script the given number of times, to the matching recipients only, later scripts first', async () => {
    const relay = await start();
    relay.on('rcpt', { reply: '550 5.1.1 no' }, { match: 'gone' });
    relay.on('rcpt', { reply: '450 4.2.0 later' }, { match: 'gone', times: 1 });
    const first = await nodemailerSend(relay, { ignoreTLS: true }, { from: 'a@rgz.bj', to: ['gone@example.com', 'ok@example.com'] }, raw(7));
    expect(first.rejectedErrors?.map((e) => (e as { responseCode?: number }).responseCode)).toEqual([450]);
    const second = await nodemailerSend(relay, { ignoreTLS: true }, { from: 'a@rgz.bj', to: ['gone@example.com', 'ok@example.com'] }, raw(8));
    expect(second.rejectedErrors?.map((e) => (e as { responseCode?: number }).responseCode)).toEqual([550]);
    expect(relay.accepted.map((m) => m.envelope.to)).toEqual([['ok@example.com'], ['ok@example.com']]);
  });

  it('answers pipelined commands in order, each after its own delay', async () => {
    const relay = await start();
    relay.on('mail', { delayMs: 150 });
    relay.on('rcpt', { reply: '250 2.1.5 slowly', trickle: { bytes: 3, everyMs: 10 } });
    const info = await nodemailerSend(relay, { ignoreTLS: true }, { from: 'a@rgz.bj', to: ['b@example.com', 'c@example.com'] }, raw(9));
    expect(info.accepted).toEqual(['b@example.com', 'c@example.com']);
    expect(relay.chunks.find((c) => c.text.startsWith('MAIL'))!.text).toMatch(/^MAIL FROM:<a@rgz\.bj>.*\r\nRCPT TO:<b@example\.com>.*\r\nRCPT TO:<c@example\.com>/);
  });
});
