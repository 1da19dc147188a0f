import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { simpleParser } from 'mailparser';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { describe, expect, it } from 'vitest';
import { asWritten, readPlainFrom } from '../src/accept/submission/from-field.js';
import { selfSignedCertificate } from '../src/accept/submission/self-signed.js';
import { tlsFiles, watchTls } from '../src/accept/submission/tls.js';
import { readTls } from '../src/platform/tls-pair.js';
import { buildSubmittedMime, DkimSigner, type Sender } from '../src/delivery/mime/index.js';
import { loadConfig } from '../src/platform/config.js';
import type { MessageRow } from '../src/platform/db/schema.js';
import { mime } from './helpers/submission.js';

describe('the self-signed certificate of the submission listener', () => {
  it('is read the same by openssl and Node: version 3, the names as subjectAltName, a valid self-signature', () => {
    const pair = selfSignedCertificate(['localhost', 'mail.rgz.bj', '127.0.0.1', '::1'], 30);
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-cert-'));
    writeFileSync(path.join(dir, 'cert.pem'), pair.cert);
    const text = execFileSync('openssl', ['x509', '-in', path.join(dir, 'cert.pem'), '-noout', '-text']).toString();
    expect(text).toMatch(/Version: 3 \(0x2\)/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/DNS:localhost, DNS:mail\.rgz\.bj, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    expect(text).toMatch(/CA:FALSE/);
    expect(
      execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'cert.pem'), path.join(dir, 'cert.pem')]).toString(),
    ).toMatch(/: OK/);
    const x = new X509Certificate(pair.cert);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkHost('mail.rgz.bj')).toBe('mail.rgz.bj');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkHost('other.example')).toBeUndefined();
    const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(30);
    // The key belongs to the certificate: TLS accepts the pair.
    expect(() =>
      readTls({
        cert: path.join(dir, 'cert.pem'),
        key: (writeFileSync(path.join(dir, 'key.pem'), pair.key), path.join(dir, 'key.pem')),
      }),
    ).not.toThrow();
  });

  it('is made once into DATA_DIR with a private key only its owner reads, and kept across starts', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-data-'));
    const config = loadConfig({ DATA_DIR: dir });
    const first = tlsFiles(config);
    expect(first.generated).toBe(true);
    expect(statSync(first.key).mode & 0o777).toBe(0o600);
    const cert = readFileSync(first.cert, 'utf8');
    expect(readFileSync(tlsFiles(config).cert, 'utf8')).toBe(cert);
    // A kept pair TLS refuses (an earlier version's invalid serial, a damaged file) is made again.
    const damaged = cert.replace(/^(-----BEGIN CERTIFICATE-----\n.{4})..../, '$1AAAA');
    writeFileSync(first.cert, damaged);
    expect(() => readTls(first)).toThrow();
    const again = tlsFiles(config);
    expect(readFileSync(again.cert, 'utf8')).not.toBe(damaged);
    expect(() => readTls(again)).not.toThrow();
  });

  it('writes its serial number as minimal DER: a serial starting with zero bytes, or with its high bit set, is valid', () => {
    // A random serial starting with a zero byte was written with that byte (1 pair in about 300):
    // OpenSSL refuses such an INTEGER ("illegal padding"), and the listener could not start.
    const serials = ['00123456789abcdef0123456789abcde', '0000ff', '80', '00', 'ff00ff'].map((h) =>
      Buffer.from(h, 'hex'),
    );
    for (const serial of serials) {
      const pair = selfSignedCertificate(['localhost'], 30, new Date(), serial);
      const x = new X509Certificate(pair.cert);
      expect(BigInt(`0x${x.serialNumber}`), serial.toString('hex')).toBe(BigInt(`0x${serial.toString('hex')}`));
      expect(() => createSecureContext(pair)).not.toThrow();
    }
    for (let i = 0; i < 200; i++) expect(() => createSecureContext(selfSignedCertificate(['localhost']))).not.toThrow();
  });

  it('refuses a key that does not match the certificate', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-cert-'));
    writeFileSync(path.join(dir, 'cert.pem'), selfSignedCertificate(['a.example']).cert);
    writeFileSync(path.join(dir, 'key.pem'), selfSignedCertificate(['b.example']).key);
    expect(() => readTls({ cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') })).toThrow();
  });

  it('refuses an empty file, which TLS itself would take as no certificate at all', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-cert-'));
    const pair = selfSignedCertificate(['a.example']);
    const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
    writeFileSync(files.cert, '');
    writeFileSync(files.key, pair.key);
    expect(() => createSecureContext({ cert: '', key: pair.key })).not.toThrow();
    expect(() => readTls(files)).toThrow();
    writeFileSync(files.cert, pair.cert);
    writeFileSync(files.key, '');
    expect(() => readTls(files)).toThrow();
    writeFileSync(files.key, pair.key);
    expect(readTls(files)).toEqual({ cert: pair.cert, key: pair.key });
  });
});

// The login guard: test/submission-lockout.test.ts.

describe('the MIME delivered for a submitted message', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dnsRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  const resolver = async (name: string, type: string) => {
    if (type === 'TXT' && name === 'sel._domainkey.rgz.bj') return [[dnsRecord]];
    throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
  };
  const sender: Sender = {
    fromName: 'Postier',
    fromEmail: 'noreply@rgz.bj',
    replyTo: undefined,
    dkim: new DkimSigner({
      domain: 'rgz.bj',
      selector: 'sel',
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    }),
  };
  const row = (over: Partial<MessageRow>) =>
    ({
      id: '01900000-0000-7000-8000-000000000001',
      recipient_email: 'client@example.org',
      smtp_message_id: '<made@rgz.bj>',
      created_at: Date.UTC(2026, 11, 1, 10, 0, 0),
      headers: null,
      from_email: 'billing@rgz.bj',
      ...over,
    }) as MessageRow;

  it('is signed when its sender is of the DKIM domain (or under it), and the signature verifies', async () => {
    const raw = Buffer.from(mime({ Bcc: 'hidden@rgz.bj', 'X-Postier-Category': 'billing' }), 'latin1');
    const built = buildSubmittedMime(raw, row({}), sender);
    expect(built.envelope).toEqual({ from: 'billing@rgz.bj', to: ['client@example.org'] });
    const { results } = await dkimVerify(built.raw, { resolver });
    expect(results.map((r) => [r.signingDomain, r.status.result])).toEqual([['rgz.bj', 'pass']]);
    expect(built.raw.toString('latin1')).not.toMatch(/^(Bcc|X-Postier-Category):/im);
    const sub = buildSubmittedMime(
      Buffer.from(mime({ From: 'erp@billing.rgz.bj' }), 'latin1'),
      row({ from_email: 'erp@billing.rgz.bj' }),
      sender,
    );
    expect(sub.raw.toString('latin1')).toMatch(/^DKIM-Signature: .*d=rgz\.bj;/);
  });

  it('is not signed for a sender of another domain', () => {
    const built = buildSubmittedMime(
      Buffer.from(mime({ From: 'a@elsewhere.example' }), 'latin1'),
      row({ from_email: 'a@elsewhere.example' }),
      sender,
    );
    expect(built.raw.toString('latin1')).not.toMatch(/^DKIM-Signature:/im);
  });

  it("puts accept's List-Unsubscribe in place of the client's, and adds a Message-ID and a Date only when missing", async () => {
    const raw = Buffer.from(
      mime({ 'Message-ID': '', Date: '', 'List-Unsubscribe': '<https://erp.example/unsub>' }),
      'latin1',
    );
    const headers = JSON.stringify({
      'List-Unsubscribe': '<https://postier.rgz.bj/u/tok>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
    const built = buildSubmittedMime(raw, row({ headers }), { ...sender, dkim: undefined });
    const mail = await simpleParser(built.raw);
    expect(mail.messageId).toBe('<made@rgz.bj>');
    expect(mail.date?.toISOString()).toBe('2026-12-01T10:00:00.000Z');
    const text = built.raw.toString('latin1');
    expect(text.match(/^List-Unsubscribe:.*$/gim)).toEqual(['List-Unsubscribe: <https://postier.rgz.bj/u/tok>']);
    expect(text).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
  });
});

describe('the From field read before the 250 without mailparser', () => {
  const byMailparser = async (value: string) =>
    (await simpleParser(Buffer.from(`From: ${value}\r\n\r\n`, 'latin1'))).from?.value ?? [];

  it('reads the plain forms senders write, as mailparser reads them', async () => {
    const plain = [
      'billing@rgz.bj',
      '<billing@rgz.bj>',
      'RGZ Billing <billing@rgz.bj>',
      'RGZ<billing@rgz.bj>',
      '"RGZ, Billing" <billing@rgz.bj>',
      '"RGZ"<billing@rgz.bj>',
      '"" <billing@rgz.bj>',
      "O'Neil <o'neil+alerts@Ops.Example.COM>",
      'Odoo.Bot <odoo.bot@saas.example>',
    ];
    for (const value of plain) {
      const fast = readPlainFrom(value);
      expect(fast, value).toBeDefined();
      const [only, ...more] = await byMailparser(value);
      expect(more, value).toEqual([]);
      expect(fast, value).toEqual({ address: only!.address, name: only!.name });
    }
  });

  it('leaves comments, groups, lists, encoded words and escapes to mailparser', () => {
    for (const value of [
      'Bob <b@x.test> (the boss)',
      'b@x.test (Bob)',
      'b@x.test, c@x.test',
      'Team: b@x.test;',
      '=?utf-8?Q?B=C3=A9b?= <b@x.test>',
      '"B\\"ob" <b@x.test>',
      '" Bob" <b@x.test>',
      'Bob\t<b@x.test>',
      'Bob  Smith <b@x.test>',
      '<b@x.test> Bob',
      'Bob <b@x.test',
      '"b@x"@x.test',
      '<b@[127.0.0.1]>',
      'b@xn--bcher-kva.example',
      'Bob <b@xn--x-.test>',
      '"a  b" <b@x.test>',
      '"b@x.test" <b@x.test>',
    ])
      expect(readPlainFrom(value), value).toBeUndefined();
  });

  it('never reads a value otherwise than mailparser, over a generated corpus', async () => {
    // Pieces that matter to an address parser, put together at random (seeded: the same corpus each run).
    const pieces = [
      'xn--',
      'b@xn--bcher-kva.example',
      'b@xn--x-.test',
      '\r\n ',
      'a',
      'Z',
      '0',
      '.',
      ' ',
      '  ',
      '\t',
      '@',
      '<',
      '>',
      '"',
      ',',
      ';',
      ':',
      '(',
      ')',
      '\\',
      '=?',
      '?=',
      "'",
      '-',
      '_',
      '+',
      '[',
      ']',
      'bob',
      'x.test',
      'b@x.test',
      '<b@x.test>',
      '"Bob"',
      'Bob Smith',
    ];
    let seed = 0x2f6e2b1;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let read = 0;
    // Where the reader answers, mailparser answers the same: one address, the same name.
    // The reader gets the field's value unfolded (fieldValue); mailparser the field as written.
    const compare = async (value: string) => {
      const unfolded = value.replace(/\r\n(?=[ \t])/g, '').trim();
      const fast = unfolded === '' ? undefined : readPlainFrom(unfolded);
      if (!fast) return;
      read++;
      const parsed = await byMailparser(value);
      expect(parsed.length, value).toBe(1);
      expect(fast, value).toEqual({ address: asWritten(parsed[0]!.address!, unfolded), name: parsed[0]!.name });
    };
    for (let i = 0; i < 20_000; i++) {
      let value = '';
      for (let k = 1 + random(6); k > 0; k--) value += pieces[random(pieces.length)];
      await compare(value.trim());
    }
    // And names and addresses as senders write them, quoted or not, spaced or not.
    const names = ['', 'Bob', 'Bob Smith', 'Bob.Smith', "O'Neil", 'Bob, Smith', 'Bob;', 'a@b', 'Bob (x)', 'Zoë'];
    const addresses = [
      'b@x.test',
      'B.Ob+tag@X.Test',
      "o'n@x.test",
      'b..c@x.test',
      '.b@x.test',
      'b@x',
      'b@-x.test',
      'b@xn--bcher-kva.example',
      'b@xn--x-.test',
    ];
    for (const name of names)
      for (const quote of ['', '"'])
        for (const space of ['', ' '])
          for (const address of addresses) await compare(`${quote}${name}${quote}${space}<${address}>`.trim());
    // The corpus reaches the fast path often enough to mean something.
    expect(read).toBeGreaterThan(500);
  });
});

describe('watchTls', () => {
  it('sees a file rewritten in place that kept the mtime of its truncated state', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-watch-'));
    const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
    const a = selfSignedCertificate(['a.example']);
    const b = selfSignedCertificate(['b.example']);
    writeFileSync(files.cert, a.cert);
    writeFileSync(files.key, a.key);
    const loaded: string[] = [];
    const refused: unknown[] = [];
    const stop = watchTls(
      files,
      (m) => loaded.push(new X509Certificate(m.cert).subject),
      (e) => refused.push(e),
      20,
    );
    const until = async (done: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return done();
    };
    // fs.watchFile takes its first stat, the one changes are compared with, after a poll interval.
    await new Promise((r) => setTimeout(r, 200));
    try {
      // The renewal's key, and its certificate truncated: the watcher polls in between.
      const tick = 1_700_000_000; // whole seconds: set exactly, as two writes in one clock tick get them
      writeFileSync(files.key, b.key);
      writeFileSync(files.cert, '');
      utimesSync(files.cert, tick, tick);
      expect(await until(() => refused.length > 0)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      expect(loaded).toEqual([]);
      // The certificate's bytes land within the same tick: same mtime, same inode, another size.
      writeFileSync(files.cert, b.cert);
      utimesSync(files.cert, tick, tick);
      expect(await until(() => loaded.length > 0)).toBe(true);
      expect(loaded).toEqual(['CN=b.example']);
    } finally {
      stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
