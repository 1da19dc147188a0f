import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SmtpPool, type SmtpPoolOptions } from '../src/delivery/smtp-pool.js';
import { SmtpSink } from './support/smtp-sink.js';

const mime = (n: number) => Buffer.from(`Message-ID: <pool-${n}@rgz.bj>\r\nSubject: ${n}\r\n\r\nCorps ${n}\r\n`);
const envelope = (to = 'client@example.com') => ({ from: 'noreply@rgz.bj', to: [to] });

describe('SmtpPool: pre-built messages over a few SMTP connections', () => {
  let sink: SmtpSink;
  const pools: SmtpPool[] = [];
  const pool = (opts: Partial<SmtpPoolOptions> = {}, port = sink.port) => {
    const p = new SmtpPool({
      client: { host: '127.0.0.1', port, security: 'none', timeoutMs: 2000, dataTimeoutMs: 2000 },
      size: 2,
      maxMessages: 100,
      ...opts,
    });
    pools.push(p);
    return p;
  };

  beforeAll(async () => {
    sink = await SmtpSink.start();
  });
  afterEach(() => {
    for (const p of pools.splice(0)) p.close();
    sink.reset();
  });
  afterAll(() => sink.close());

  it('sends the bytes as given, with the relay reply, over no more than `size` connections', async () => {
    const p = pool({ size: 3 });
    const infos = await Promise.all(
      Array.from({ length: 30 }, (_, i) => p.send(envelope(`c${i}@example.com`), mime(i))),
    );
    expect(infos.every((info) => info.data!.text.startsWith('250'))).toBe(true);
    expect(sink.accepted).toHaveLength(30);
    expect(sink.accepted.find((m) => m.messageId === '<pool-7@rgz.bj>')!.raw.toString()).toBe(mime(7).toString());
    expect(sink.accepted.find((m) => m.messageId === '<pool-7@rgz.bj>')!.envelope).toEqual({
      from: 'noreply@rgz.bj',
      to: ['c7@example.com'],
    });
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
    expect(info.data!.text).toMatch(/^250/);
    expect(sink.accepted.map((m) => m.messageId)).toEqual(['<pool-1@rgz.bj>', '<pool-2@rgz.bj>']);
    expect(sink.connections).toBe(2);
  });

  it('reports a refused recipient or message with its reply and keeps the connection for the next one', async () => {
    const p = pool({ size: 1 });
    sink.on('rcpt', { reply: '550 5.1.1 No such user' }, { match: 'nobody@example.com' });
    await expect(p.send(envelope('nobody@example.com'), mime(1))).resolves.toMatchObject({
      recipients: [{ address: 'nobody@example.com', accepted: false, code: 550 }],
      data: null,
    });
    sink.on(
      'message',
      { reply: '552 Message too big' },
      { match: (ctx) => ctx.message!.messageId === '<pool-2@rgz.bj>' },
    );
    await expect(p.send(envelope(), mime(2))).resolves.toMatchObject({
      recipients: [{ accepted: true }],
      data: { code: 552 },
    });
    await expect(p.send(envelope(), mime(3))).resolves.toMatchObject({ data: { text: expect.stringMatching(/^250/) } });
    expect(sink.connections).toBe(1);
  });

  it('resends a message whose MAIL FROM was refused once, with the same envelope object, on the same connection', async () => {
    const p = pool({ size: 1 });
    const same = envelope();
    sink.on('mail', { reply: '451 Sender temporarily refused' }, { times: 1 });
    await expect(p.send(same, mime(1))).rejects.toMatchObject({ phase: 'mail', kind: 'reply', code: 451 });
    await expect(p.send(same, mime(1))).resolves.toMatchObject({ data: { text: expect.stringMatching(/^250/) } });
    expect(same).toEqual(envelope());
    expect(sink.accepted.map((m) => m.messageId)).toEqual(['<pool-1@rgz.bj>']);
    expect(sink.connections).toBe(1);
  });

  it('uses a new connection, without counting a failure, when the idle one was closed before answering anything', async () => {
    // The relay's FIN crossing our MAIL FROM on the wire: the idle connection ends without a reply.
    const relay = await SmtpSink.start();
    try {
      const p = pool({ size: 1 }, relay.port);
      await p.send(envelope(), mime(1));
      relay.on('mail', { drop: true }, { times: 1 });
      await expect(p.send(envelope(), mime(2))).resolves.toMatchObject({ data: { code: 250 } });
      expect(relay.accepted.map((m) => m.messageId)).toEqual(['<pool-1@rgz.bj>', '<pool-2@rgz.bj>']);
      expect(relay.connections).toBe(2);
      // Once: a new connection that fails the same way is an attempt like any other.
      relay.on('mail', { drop: true });
      relay.hangUp();
      await expect(p.send(envelope(), mime(3))).rejects.toMatchObject({ phase: 'mail', kind: 'connection' });
    } finally {
      await relay.close();
    }
  });

  it('fails the send on a cut connection, then opens a new one for the next', async () => {
    const p = pool({ size: 1 });
    sink.on('message', { drop: true }, { match: (ctx) => ctx.message!.messageId === '<pool-1@rgz.bj>' });
    await expect(p.send(envelope(), mime(1))).rejects.toMatchObject({ phase: 'data_end', kind: 'connection' });
    await expect(p.send(envelope(), mime(2))).resolves.toMatchObject({ data: { text: expect.stringMatching(/^250/) } });
    expect(sink.connections).toBe(2);
  });

  it('gives its place back when a connection cannot be opened, so waiting sends still go out', async () => {
    // Three sends wait for the one place: each gets its own connection error, none hangs.
    const refused = pool({ size: 1 }, 1);
    const failures = await Promise.allSettled([1, 2, 3].map((n) => refused.send(envelope(), mime(n))));
    expect(
      failures.map((r) =>
        r.status === 'rejected'
          ? `${(r.reason as { phase?: string }).phase}/${(r.reason as { kind?: string }).kind}`
          : r.status,
      ),
    ).toEqual(['connect/connection', 'connect/connection', 'connect/connection']);
    const p = pool({ size: 1 });
    sink.on('message', { drop: true }, { match: (ctx) => ctx.message!.messageId === '<pool-1@rgz.bj>' });
    const results = await Promise.allSettled([1, 2, 3].map((n) => p.send(envelope(), mime(n))));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  });

  it('on close, lets the send in flight finish, fails the waiting ones and refuses new ones', async () => {
    const p = pool({ size: 1 });
    sink.on('message', { delayMs: 200 });
    const inFlight = p.send(envelope(), mime(1));
    const waiting = p.send(envelope(), mime(2));
    await new Promise((r) => setTimeout(r, 50));
    p.close();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(inFlight).resolves.toMatchObject({ data: { text: expect.stringMatching(/^250/) } });
    await expect(p.send(envelope(), mime(3))).rejects.toThrow(/closed/);
    expect(sink.accepted.map((m) => m.messageId)).toEqual(['<pool-1@rgz.bj>']);
  });

  it('takes a 503 (session out of step) as a reason for a new connection', async () => {
    const p = pool({ size: 1 });
    sink.on(
      'message',
      { reply: '503 Bad sequence of commands' },
      { match: (ctx) => ctx.message!.messageId === '<pool-1@rgz.bj>' },
    );
    await expect(p.send(envelope(), mime(1))).resolves.toMatchObject({ data: { code: 503 } });
    await p.send(envelope(), mime(2));
    expect(sink.connections).toBe(2);
  });
});

describe('SmtpPool with STARTTLS and AUTH', () => {
  let sink: SmtpSink;
  const auth = { user: 'postier', pass: 's3cret-pass' };
  beforeAll(async () => {
    sink = await SmtpSink.start({ starttls: true, auth: { ...auth, required: true } });
  });
  afterAll(() => sink.close());

  const pool = (credentials: { user: string; pass: string }) =>
    new SmtpPool({
      // The sink's certificate is self-signed: trusted here, never in the product.
      client: {
        host: '127.0.0.1',
        port: sink.port,
        security: 'starttls',
        tls: { ca: sink.certificate!.cert },
        auth: credentials,
        timeoutMs: 2000,
        dataTimeoutMs: 2000,
      },
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

  it('fails in the AUTH phase with the 535 on wrong credentials, and verify() reports the same', async () => {
    const p = pool({ user: 'postier', pass: 'wrong' });
    await expect(p.send(envelope(), mime(3))).rejects.toMatchObject({ phase: 'auth', kind: 'reply', code: 535 });
    await expect(p.verify()).rejects.toMatchObject({ phase: 'auth', code: 535 });
    await expect(pool(auth).verify()).resolves.toBeUndefined();
    p.close();
  });
});
