import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpClientOptions, SmtpConnection, SmtpError } from '../src/delivery/smtp-client/index.js';
import { selfSignedCertificate } from './support/certificate.js';
import { SmtpSink } from './support/smtp-sink.js';

const mime = (n: number | string) =>
  Buffer.from(`Message-ID: <client-${n}@rgz.bj>\r\nSubject: ${n}\r\n\r\nCorps ${n}\r\n`);
const auth = { user: 'postier', pass: 's3cret-pass' };

interface Received {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  secure: boolean;
  user: string | undefined;
  method: string | undefined;
}

/** A real smtp-server with our test certificate: what the client must interoperate with. */
async function smtpServer(options: Partial<SMTPServerOptions> = {}) {
  const received: Received[] = [];
  const methods = new Map<string, string>();
  const { key, cert } = selfSignedCertificate();
  const server = new SMTPServer({
    key,
    cert,
    logger: false,
    authOptional: true,
    onAuth(login, session, callback) {
      if (login.username !== auth.user || login.password !== auth.pass)
        return callback(Object.assign(new Error('Error: authentication failed'), { responseCode: 535 }));
      methods.set(session.id, login.method);
      callback(null, { user: login.username });
    },
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('nobody'))
        return callback(Object.assign(new Error('No such user'), { responseCode: 550 }));
      callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        received.push({
          envelope: { from, to: session.envelope.rcptTo.map((r) => r.address) },
          raw: Buffer.concat(chunks),
          secure: session.secure,
          user: session.user as string | undefined,
          method: methods.get(session.id),
        });
        callback(null, 'Ok queued');
      });
    },
    ...options,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    received,
    port: (server.server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const open = (port: number, o: Partial<SmtpClientOptions> = {}) =>
  SmtpConnection.open({ host: '127.0.0.1', port, security: 'none', timeoutMs: 2000, dataTimeoutMs: 2000, ...o });
const trusted = { ca: selfSignedCertificate().cert };

describe('SMTP client against smtp-server', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  const start = async (o: Partial<SMTPServerOptions> = {}) => {
    const s = await smtpServer(o);
    servers.push(s);
    return s;
  };

  it('sends over STARTTLS after AUTH PLAIN, with each recipient its own reply and DATA to the accepted ones only', async () => {
    const s = await start({ authMethods: ['PLAIN', 'LOGIN'] });
    const c = await open(s.port, { security: 'starttls', tls: trusted, auth });
    expect(c.extensions).toMatchObject({ pipelining: true, smtputf8: true, auth: ['PLAIN', 'LOGIN'] });
    const r = await c.send(
      { from: 'noreply@rgz.bj', to: ['a@example.com', 'nobody@example.com', 'b@example.com'] },
      mime(1),
    );
    expect(r.recipients.map((x) => [x.address, x.accepted, x.code])).toEqual([
      ['a@example.com', true, 250],
      ['nobody@example.com', false, 550],
      ['b@example.com', true, 250],
    ]);
    expect(r.data).toMatchObject({ code: 250, text: expect.stringMatching(/^250 .*Ok queued/) });
    expect(s.received).toHaveLength(1);
    expect(s.received[0]).toMatchObject({
      envelope: { from: 'noreply@rgz.bj', to: ['a@example.com', 'b@example.com'] },
      secure: true,
      user: 'postier',
      method: 'PLAIN',
    });
    expect(s.received[0]!.raw.equals(mime(1))).toBe(true);
    // The session carries the next message.
    await c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(2));
    expect(s.received).toHaveLength(2);
    await c.quit();
    expect(c.isClosed).toBe(true);
  });

  it('logs in with AUTH LOGIN when that is what the server offers', async () => {
    const s = await start({ authMethods: ['LOGIN'] });
    const c = await open(s.port, { security: 'starttls', tls: trusted, auth });
    await c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(3));
    expect(s.received[0]).toMatchObject({ user: 'postier', method: 'LOGIN', secure: true });
    c.close();
  });

  it('speaks TLS from the first byte on an implicit-TLS port', async () => {
    const s = await start({ secure: true });
    const c = await open(s.port, { security: 'tls', tls: trusted });
    await c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(4));
    expect(s.received[0]!.secure).toBe(true);
    c.close();
  });

  it('fails in the right phase: untrusted certificate, STARTTLS required but not offered, wrong password', async () => {
    const s = await start({ authMethods: ['PLAIN'] });
    await expect(open(s.port, { security: 'starttls' })).rejects.toMatchObject({ phase: 'starttls', kind: 'tls' });
    const plain = await start({ disabledCommands: ['STARTTLS'] });
    await expect(open(plain.port, { security: 'starttls' })).rejects.toMatchObject({
      phase: 'starttls',
      kind: 'tls',
      response: 'STARTTLS not offered',
    });
    const wrong = await open(s.port, {
      security: 'starttls',
      tls: trusted,
      auth: { user: 'postier', pass: 'nope' },
    }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(SmtpError);
    expect(wrong).toMatchObject({ phase: 'auth', kind: 'reply', code: 535 });
  });

  it('announces the size, and after a refused MAIL FROM resets the session and sends the next message', async () => {
    const s = await start({ size: 200 });
    const c = await open(s.port);
    expect(c.extensions.size).toBe(200);
    const big = Buffer.concat([mime('big'), Buffer.alloc(400, 'x')]);
    await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, big)).rejects.toMatchObject({
      phase: 'mail',
      kind: 'reply',
      code: 552,
    });
    expect(c.isClosed).toBe(false);
    await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(5))).resolves.toMatchObject({
      data: { code: 250 },
    });
    expect(s.received.map((m) => m.raw.toString())).toEqual([mime(5).toString()]);
    c.close();
  });

  it('returns every refusal without sending DATA when no recipient is accepted, and resets for the next message', async () => {
    const s = await start();
    const c = await open(s.port);
    const r = await c.send({ from: 'noreply@rgz.bj', to: ['nobody@example.com', 'nobody2@example.com'] }, mime(6));
    expect(r).toMatchObject({
      data: null,
      recipients: [
        { accepted: false, code: 550 },
        { accepted: false, code: 550 },
      ],
    });
    await c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(7));
    expect(s.received).toHaveLength(1);
    c.close();
  });
});

describe('SMTP client against the fault-injecting relay', () => {
  let relay: SmtpSink;
  beforeAll(async () => {
    relay = await SmtpSink.start();
  });
  afterEach(() => relay.reset());
  afterAll(() => relay.close());

  const endless = { reply: '250 still thinking', trickle: { bytes: 1, everyMs: 20 }, endless: true };

  it('pipelines MAIL FROM and every RCPT TO in one write, then sends DATA alone', async () => {
    const c = await open(relay.port);
    await c.send({ from: 'noreply@rgz.bj', to: ['a@example.com', 'b@example.com', 'c@example.com'] }, mime(10));
    const envelope = relay.chunks.find((ch) => ch.text.startsWith('MAIL FROM'));
    c.close();
    expect(envelope!.text).toBe(
      `MAIL FROM:<noreply@rgz.bj> SIZE=${mime(10).length}\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\n`,
    );
    expect(relay.chunks.some((ch) => ch.text === 'DATA\r\n')).toBe(true);
  });

  it('falls back to HELO and sends one command at a time without PIPELINING', async () => {
    const helo = await SmtpSink.start({ heloOnly: true });
    try {
      const c = await open(helo.port);
      expect(c.extensions.pipelining).toBe(false);
      await c.send({ from: 'noreply@rgz.bj', to: ['a@example.com', 'b@example.com'] }, mime(11));
      c.close();
      expect(helo.commands.map((x) => /^(MAIL FROM|RCPT TO|\w+)/.exec(x.line)![1])).toEqual([
        'EHLO',
        'HELO',
        'MAIL FROM',
        'RCPT TO',
        'RCPT TO',
        'DATA',
      ]);
      expect(
        helo.chunks.filter((ch) => /^(MAIL|RCPT)/.test(ch.text)).map((ch) => ch.text.split('\r\n').length - 1),
      ).toEqual([1, 1, 1]);
      expect(helo.accepted[0]!.envelope.to).toEqual(['a@example.com', 'b@example.com']);
    } finally {
      await helo.close();
    }
  });

  it('reads multi-line replies and their enhanced codes', async () => {
    relay.on(
      'rcpt',
      {
        reply:
          '550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 Please check the address.',
      },
      { match: 'gone' },
    );
    const c = await open(relay.port);
    const r = await c.send({ from: 'noreply@rgz.bj', to: ['gone@example.com', 'a@example.com'] }, mime(12));
    expect(r.recipients[0]).toEqual({
      address: 'gone@example.com',
      accepted: false,
      code: 550,
      enhanced: '5.1.1',
      response:
        '550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 Please check the address.',
    });
    expect(r.recipients[1]).toMatchObject({ accepted: true, enhanced: '2.1.5' });
    c.close();
  });

  it.each([
    ['greeting', 'greeting'],
    ['ehlo', 'ehlo'],
  ] as const)(
    'closes a session whose %s reply trickles without end once its deadline is over',
    async (command, phase) => {
      relay.on(command, endless);
      const started = Date.now();
      const e = await open(relay.port, { timeoutMs: 400 }).catch((x: unknown) => x);
      expect(e).toMatchObject({ phase, kind: 'timeout' });
      // Bytes kept coming all along: the deadline counts from the phase's start, not the last byte.
      expect(Date.now() - started).toBeLessThan(5000);
      await relay.waitFor(() => relay.openSessions === 0, 5000, 'the relay to see the connection closed');
    },
  );

  it.each([
    ['mail', 'mail', { stall: true }],
    ['rcpt', 'rcpt', endless],
    ['data', 'data', endless],
    ['message', 'data_end', endless],
  ] as const)(
    'gives up on %s at its deadline (%s), and the connection is closed',
    async (command, phase, behaviour) => {
      relay.on(command, behaviour);
      const c = await open(relay.port, { timeoutMs: 400, dataTimeoutMs: 600 });
      const started = Date.now();
      await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(13))).rejects.toMatchObject({
        phase,
        kind: 'timeout',
      });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(c.isClosed).toBe(true);
    },
  );

  it('waits for a slow reply that ends within its deadline', async () => {
    relay.on('rcpt', { reply: '250 2.1.5 Ok, eventually', trickle: { bytes: 4, everyMs: 20 } });
    relay.on('message', { delayMs: 200 });
    const c = await open(relay.port, { timeoutMs: 1500, dataTimeoutMs: 1500 });
    await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(14))).resolves.toMatchObject({
      recipients: [{ accepted: true, response: '250 2.1.5 Ok, eventually' }],
      data: { code: 250 },
    });
    c.close();
  });

  it('ends the session on 421, whatever the command', async () => {
    relay.on('rcpt', { reply: '421 4.7.0 Try again later, closing connection' }, { match: 'b@' });
    const c = await open(relay.port);
    await expect(
      c.send({ from: 'noreply@rgz.bj', to: ['a@example.com', 'b@example.com'] }, mime(15)),
    ).rejects.toMatchObject({ phase: 'rcpt', kind: 'reply', code: 421, enhanced: '4.7.0' });
    expect(c.isClosed).toBe(true);
    expect(relay.messages).toHaveLength(0);
  });

  it('resets after a refused MAIL FROM and refuses nothing it has not been told to', async () => {
    relay.on('mail', { reply: '530 5.7.0 Authentication required' }, { times: 1 });
    const c = await open(relay.port);
    await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(16))).rejects.toMatchObject({
      phase: 'mail',
      code: 530,
      enhanced: '5.7.0',
    });
    expect(relay.commands.map((x) => x.line)).toContain('RSET');
    await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(17))).resolves.toMatchObject({
      data: { code: 250 },
    });
    c.close();
  });

  it('closes an idle session the server talks to unasked, and says so', async () => {
    const c = await open(relay.port);
    const closed = new Promise((r) => c.once('close', r));
    relay.on('noop', { reply: '250 ok' });
    await c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(18));
    relay.hangUp();
    await closed;
    expect(c.isClosed).toBe(true);
    await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(19))).rejects.toMatchObject({
      kind: 'connection',
      nothingSent: true,
    });
  });

  it('refuses a cut connection, and a connection refused, with the phase they happened in', async () => {
    relay.on('message', { drop: 'reset' });
    const c = await open(relay.port);
    await expect(c.send({ from: 'noreply@rgz.bj', to: ['a@example.com'] }, mime(20))).rejects.toMatchObject({
      phase: 'data_end',
      kind: 'connection',
    });
    await expect(open(1)).rejects.toMatchObject({ phase: 'connect', kind: 'connection' });
  });

  it('refuses addresses that would break the command line, before writing anything', async () => {
    const c = await open(relay.port);
    await expect(
      c.send({ from: 'noreply@rgz.bj', to: ['a@example.com>\r\nRCPT TO:<b@example.com'] }, mime(21)),
    ).rejects.toMatchObject({ phase: 'rcpt', kind: 'protocol', nothingSent: true });
    expect(relay.commands.filter((x) => x.line.startsWith('MAIL'))).toHaveLength(0);
    c.close();
  });
});

describe('SMTP client: the bytes of DATA', () => {
  let relay: SmtpSink;
  let ours: SmtpConnection;
  let theirs: SMTPConnection;
  beforeAll(async () => {
    relay = await SmtpSink.start();
    ours = await open(relay.port);
    theirs = new SMTPConnection({ host: '127.0.0.1', port: relay.port, ignoreTLS: true });
    await new Promise<void>((resolve, reject) => theirs.connect((err) => (err ? reject(err) : resolve())));
  });
  afterAll(async () => {
    ours.close();
    theirs.close();
    await relay.close();
  });

  /** The bytes the relay received after 354, for the same raw message from each client. */
  const wireOf = async (raw: Buffer): Promise<[Buffer, Buffer]> => {
    const before = relay.messages.length;
    await ours.send({ from: 'a@rgz.bj', to: ['b@example.com'] }, raw);
    await new Promise<void>((resolve, reject) =>
      theirs.send({ from: 'a@rgz.bj', to: ['b@example.com'] }, raw, (err) => (err ? reject(err) : resolve())),
    );
    const [a, b] = relay.messages.slice(before);
    return [a!.wire, b!.wire];
  };

  it('are exactly what Nodemailer sends: dots doubled, bare CR and LF made CRLF, the final dot line', async () => {
    const cases = [
      '',
      'x',
      '.',
      '..\r\n',
      'a\r\n.b\r\n.\r\n',
      'a\nb\n',
      'a\rb\r',
      'a\r.b',
      '\r\n.\r\n',
      'end without newline',
      'ends with CR\r',
      '.\n.\r.',
      'é ünïcode\r\n.ok\n',
    ];
    for (const text of cases) {
      const [a, b] = await wireOf(Buffer.from(text, 'utf8'));
      expect(a.toString('latin1'), JSON.stringify(text)).toBe(b.toString('latin1'));
    }
    expect((await wireOf(Buffer.from('a\r.b')))[0].toString('latin1')).toBe('a\r\n..b\r\n.\r\n');
  });

  it('match Nodemailer for any mix of dots, CR, LF and text', async () => {
    const piece = fc.constantFrom('.', '\r', '\n', '\r\n', 'a', ' ', '..', '\r\n.\r\n');
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 40 }), async (parts) => {
        const [a, b] = await wireOf(Buffer.from(parts.join(''), 'latin1'));
        return a.equals(b);
      }),
      { numRuns: 60 },
    );
  });
});
