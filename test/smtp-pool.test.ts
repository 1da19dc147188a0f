import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SmtpPool, type SmtpPoolOptions } from '../src/delivery/smtp-pool.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const mime = (n: number) => Buffer.from(`Message-ID: <pool-${n}@rgz.bj>\r\nSubject: ${n}\r\n\r\nCorps ${n}\r\n`);
const envelope = (to = 'client@example.com') => ({ from: 'noreply@rgz.bj', to: [to] });

describe('SmtpPool: pre-built messages over a few SMTP connections', () => {
  let sink: SmtpSink;
  const pools: SmtpPool[] = [];
  const pool = (opts: Partial<SmtpPoolOptions> = {}, port = sink.port) => {
    const p = new SmtpPool({ connection: { host: '127.0.0.1', port, ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000, socketTimeout: 2000 }, size: 2, maxMessages: 100, ...opts });
    pools.push(p);
    return p;
  };

  beforeAll(async () => {
    sink = await SmtpSink.start();
  });
  afterEach(() => {
    for (const p of pools.splice(0)) p.close();
    sink.reset();
    sink.connections = 0;
  });
  afterAll(() => sink.close());

  it('sends the bytes as given, with the relay reply, over no more than `size` connections', async () => {
    const p = pool({ size: 3 });
    const infos = await Promise.all(Array.from({ length: 30 }, (_, i) => p.send(envelope(`c${i}@example.com`), mime(i))));
    expect(infos.every((info) => info.response.startsWith('250'))).toBe(true);
    expect(sink.accepted).toHaveLength(30);
    expect(sink.accepted.find((m) => m.messageId === '<pool-7@rgz.bj>')!.raw.toString()).toBe(mime(7).toString());
    expect(sink.accepted.find((m) => m.messageId === '<pool-7@rgz.bj>')!.envelope).toEqual({ from: 'noreply@rgz.bj', to: ['c7@example.com'] });
    expect(sink.connections).toBe(3);
  });

  it('replaces a connection after maxMessages', async () => {
    const p = pool({ size: 1, maxMessages: 4 });
    for (let i = 0; i < 10; i++) await p.send(envelope(), mime(i));
    expect(sink.accepted).toHaveLength(10);
    expect(sink.connections).toBe(3);
  });

  it('sends on a new connection, without an error, when the relay closed the idle one', async () => {
    const p = pool({ size: 1 });
    await p.send(envelope(), mime(1));
    sink.hangUp();
    await new Promise((r) => setTimeout(r, 50));
    const info = await p.send(envelope(), mime(2));
    expect(info.response).toMatch(/^250/);
    expect(sink.accepted.map((m) => m.messageId)).toEqual(['<pool-1@rgz.bj>', '<pool-2@rgz.bj>']);
    expect(sink.connections).toBe(2);
  });

  it('reports a refused recipient or message with its reply and keeps the connection for the next one', async () => {
    const p = pool({ size: 1 });
    sink.refusedRecipients.add('nobody@example.com');
    await expect(p.send(envelope('nobody@example.com'), mime(1))).rejects.toMatchObject({ code: 'EENVELOPE', responseCode: 550 });
    sink.respond = (m) => (m.messageId === '<pool-2@rgz.bj>' ? { kind: 'reply', code: 552, text: 'Message too big' } : { kind: 'accept' });
    await expect(p.send(envelope(), mime(2))).rejects.toMatchObject({ code: 'EMESSAGE', responseCode: 552 });
    await expect(p.send(envelope(), mime(3))).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
    expect(sink.connections).toBe(1);
  });

  it('resends a message whose MAIL FROM was refused once, with the same envelope object, on the same connection', async () => {
    const p = pool({ size: 1 });
    const same = envelope();
    sink.mailFromFailures = 1;
    await expect(p.send(same, mime(1))).rejects.toMatchObject({ code: 'EENVELOPE', responseCode: 451 });
    await expect(p.send(same, mime(1))).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
    expect(same).toEqual(envelope());
    expect(sink.accepted.map((m) => m.messageId)).toEqual(['<pool-1@rgz.bj>']);
    expect(sink.connections).toBe(1);
  });

  it('uses a new connection, without counting a failure, when the idle one can no longer be written to', async () => {
    const p = pool({ size: 1 });
    await p.send(envelope(), mime(1));
    // The state between the relay's FIN and the socket's close: our side is ended, not yet closed.
    const idle = (p as unknown as { idle: Array<{ smtp: { _socket: { end(): void } } }> }).idle;
    expect(idle).toHaveLength(1);
    idle[0]!.smtp._socket.end();
    await expect(p.send(envelope(), mime(2))).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
    expect(sink.connections).toBe(2);
  });

  it('fails the send on a cut connection, then opens a new one for the next', async () => {
    const p = pool({ size: 1 });
    sink.respond = (m) => (m.messageId === '<pool-1@rgz.bj>' ? { kind: 'drop' } : { kind: 'accept' });
    await expect(p.send(envelope(), mime(1))).rejects.toMatchObject({ code: 'ECONNECTION' });
    await expect(p.send(envelope(), mime(2))).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
    expect(sink.connections).toBe(2);
  });

  it('gives its place back when a connection cannot be opened, so waiting sends still go out', async () => {
    // Three sends wait for the one place: each gets its own connection error, none hangs.
    const refused = pool({ size: 1 }, 1);
    const failures = await Promise.allSettled([1, 2, 3].map((n) => refused.send(envelope(), mime(n))));
    expect(failures.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : r.status))).toEqual(['ESOCKET', 'ESOCKET', 'ESOCKET']);
    const p = pool({ size: 1 });
    sink.respond = (m) => (m.messageId === '<pool-1@rgz.bj>' ? { kind: 'drop' } : { kind: 'accept' });
    const results = await Promise.allSettled([1, 2, 3].map((n) => p.send(envelope(), mime(n))));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  });

  it('on close, lets the send in flight finish, fails the waiting ones and refuses new ones', async () => {
    const p = pool({ size: 1 });
    sink.respond = () => ({ kind: 'slow', ms: 200 });
    const inFlight = p.send(envelope(), mime(1));
    const waiting = p.send(envelope(), mime(2));
    await new Promise((r) => setTimeout(r, 50));
    p.close();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(inFlight).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
    await expect(p.send(envelope(), mime(3))).rejects.toThrow(/closed/);
    expect(sink.accepted.map((m) => m.messageId)).toEqual(['<pool-1@rgz.bj>']);
  });

  it('takes a 503 (session out of step) as a reason for a new connection', async () => {
    const p = pool({ size: 1 });
    sink.respond = (m) => (m.messageId === '<pool-1@rgz.bj>' ? { kind: 'reply', code: 503, text: 'Bad sequence of commands' } : { kind: 'accept' });
    await expect(p.send(envelope(), mime(1))).rejects.toMatchObject({ responseCode: 503 });
    await p.send(envelope(), mime(2));
    expect(sink.connections).toBe(2);
  });
});

describe('SmtpPool with STARTTLS and AUTH', () => {
  let sink: SmtpSink;
  const auth = { user: 'postier', pass: 's3cret-pass' };
  beforeAll(async () => {
    sink = await SmtpSink.start({ auth });
  });
  afterAll(() => sink.close());

  const pool = (credentials: { user: string; pass: string }) =>
    new SmtpPool({
      // smtp-server's built-in certificate is self-signed: trusted here, never in the product.
      connection: { host: '127.0.0.1', port: sink.port, requireTLS: true, tls: { rejectUnauthorized: false }, connectionTimeout: 2000, greetingTimeout: 2000, socketTimeout: 2000 },
      auth: credentials,
      size: 1,
      maxMessages: 100,
    });

  it('upgrades to TLS, logs in once per connection and sends', async () => {
    const p = pool(auth);
    await p.send(envelope(), mime(1));
    await p.send(envelope(), mime(2));
    p.close();
    expect(sink.accepted).toHaveLength(2);
    expect(sink.logins).toBe(1);
  });

  it('fails with EAUTH on wrong credentials, and verify() reports the same', async () => {
    const p = pool({ user: 'postier', pass: 'wrong' });
    await expect(p.send(envelope(), mime(3))).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535 });
    await expect(p.verify()).rejects.toMatchObject({ code: 'EAUTH' });
    await expect(pool(auth).verify()).resolves.toBeUndefined();
    p.close();
  });
});
