import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MessageRow } from '../src/platform/db/schema.js';
import { buildMime, DkimSigner, type MimeAttachment, type Sender } from '../src/delivery/mime/index.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { invoiceExample, pdfBytes } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

describe('DKIM signing', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dnsRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  // The receiving side's DNS: the public key where DKIM_SELECTOR._domainkey.DKIM_DOMAIN says.
  const resolver = async (name: string, type: string) => {
    if (type === 'TXT' && name === 'postier2026._domainkey.rgz.bj') return [[dnsRecord]];
    throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
  };
  let t: TestContext;
  let sink: SmtpSink;
  let worker: Worker;

  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(
      'sqlite',
      sink.env({
        DKIM_DOMAIN: 'rgz.bj',
        DKIM_SELECTOR: 'postier2026',
        // As it is usually given in an environment file: one line, \n for the line breaks.
        DKIM_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace(/\n/g, '\\n'),
        SMTP_FROM_EMAIL: 'facturation@rgz.bj',
        WORKER_POLL_MS: '20',
        WORKER_RETRY_BASE_SECONDS: '0.05',
        WORKER_RETRY_MAX_SECONDS: '0.1',
      }),
    );
    worker = startWorker(t.services, smtpTarget(t.services, null));
  });
  afterAll(async () => {
    await worker.stop();
    await t.close();
    await sink.close();
  });

  it('signs each message once: the signature verifies with the published key, on every attempt, and fails on altered content', async () => {
    const signs = vi.spyOn(DkimSigner.prototype, 'sign');
    sink.on('message', (ctx) => (ctx.message!.seen === 1 ? { reply: '451 Try again later' } : undefined));
    const [id] = await sendOk(t, invoiceExample());
    await waitForStatus(t, [id!], ['sent']);
    expect(sink.messages).toHaveLength(2);
    expect(signs).toHaveBeenCalledTimes(1);
    signs.mockRestore();
    const [first, second] = sink.messages;
    expect(second!.raw.equals(first!.raw)).toBe(true);
    const header = /^DKIM-Signature:[^]*?\r\n(?![ \t])/im.exec(first!.raw.toString('latin1'))?.[0] ?? '';
    expect(header).toMatch(/d=rgz\.bj;/);
    expect(header).toMatch(/s=postier2026;/);
    const { results } = await dkimVerify(second!.raw, { resolver });
    expect(results.map((r) => [r.signingDomain, r.selector, r.status.result])).toEqual([
      ['rgz.bj', 'postier2026', 'pass'],
    ]);

    // The check is real: the same message with one word changed does not verify. (RFC 6376
    // §3.9: a body hash mismatch; mailauth reports it as neutral.)
    const altered = Buffer.from(second!.raw.toString('latin1').replace('Montant', 'Mont4nt'), 'latin1');
    expect(altered.equals(second!.raw)).toBe(false);
    const tampered = await dkimVerify(altered, { resolver });
    expect(tampered.results[0]!.status).toMatchObject({
      result: 'neutral',
      comment: expect.stringMatching(/body hash did not verify/),
    });
  });
});

describe('DKIM signer', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const dnsRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  const resolver = async (name: string, type: string) => {
    if (type === 'TXT' && name === 'sel._domainkey.rgz.bj') return [[dnsRecord]];
    throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
  };
  const signer = new DkimSigner({ domain: 'rgz.bj', selector: 'sel', privateKey: pem });
  const row = (r: Partial<MessageRow>) =>
    ({
      recipient_email: 'client@example.com',
      cc: null,
      bcc: null,
      reply_to: null,
      headers: null,
      subject: 'Votre facture',
      text_content: 'Bonjour',
      html_content: '<p>Bonjour</p>',
      smtp_message_id: '<0195f0c2-7a7e-7000-8000-000000000001@rgz.bj>',
      created_at: Date.UTC(2026, 1, 1, 8),
      ...r,
    }) as MessageRow;
  const sender = (s: Partial<Sender> = {}): Sender => ({
    fromName: 'RGZ Notifications',
    fromEmail: 'noreply@rgz.bj',
    replyTo: undefined,
    dkim: signer,
    ...s,
  });
  const unsubscribe = {
    'List-Unsubscribe': `<https://rgz.bj/u/${'t0k3n'.repeat(20)}>, <mailto:unsub@rgz.bj?subject=u>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
  const longName = `relevé détaillé ${'février '.repeat(8)}— ligne n°42.pdf`;

  const cases: Record<string, [Partial<MessageRow>, MimeAttachment[], Partial<Sender>?]> = {
    'a non-ASCII subject folded over several encoded words': [
      { subject: `🚨 Résumé — ${'consommation détaillée de la ligne n°42, '.repeat(4)}` },
      [],
    ],
    'an accented display name and folded address lists': [
      {
        cc: JSON.stringify(Array.from({ length: 6 }, (_, i) => `copie.${i}@filiale-${i}.example.org`)),
        reply_to: 'support@rgz.bj',
      },
      [],
      { fromName: 'Zoé Kpadé — Facturation' },
    ],
    'List-Unsubscribe (long, folded) and List-Unsubscribe-Post': [{ headers: JSON.stringify(unsubscribe) }, []],
    'an attachment with a long non-ASCII filename (folded parameters)': [
      {},
      [{ filename: longName, content_type: 'application/pdf', data: pdfBytes() }],
    ],
    'bodies with trailing white space and empty lines at the end': [
      { text_content: 'Ligne  avec   espaces   \n\tTab\t\n\n\n\n', html_content: '<p>x</p>   \n\n\n' },
      [],
    ],
    'a body that is only empty lines': [{ text_content: '\n\n\n', html_content: null }, []],
  };

  for (const [name, [r, attachments, s]] of Object.entries(cases)) {
    it(`verifies with mailauth: ${name}`, async () => {
      const { raw } = await buildMime(row(r), attachments, sender(s));
      const { results } = await dkimVerify(raw, { resolver });
      expect(results.map((x) => [x.signingDomain, x.status.result])).toEqual([['rgz.bj', 'pass']]);
      // Altered after signing, it no longer verifies.
      const text = raw.toString('latin1');
      const altered = Buffer.from(text.replace(/^(Subject: .)/m, '$1x'), 'latin1');
      expect((await dkimVerify(altered, { resolver })).results[0]!.status.result).not.toBe('pass');
    });
  }

  it('signs List-Unsubscribe-Post (RFC 8058 §4) besides the fields Nodemailer signs', async () => {
    const { raw } = await buildMime(
      row(cases['List-Unsubscribe (long, folded) and List-Unsubscribe-Post']![0]),
      [],
      sender(),
    );
    const dkim = /^DKIM-Signature:[^]*?\r\n(?![ \t])/m.exec(raw.toString('latin1'))![0].replace(/\r\n[ \t]/g, ' ');
    expect(dkim).toMatch(
      /h=from:subject:date:message-id:to:mime-version:content-type:list-unsubscribe:list-unsubscribe-post;/,
    );
  });

  it('gives the signature Nodemailer gives the same bytes', async () => {
    // Our message unsigned, then signed by each signer: Nodemailer through its public API (a raw message).
    const { raw } = await buildMime(
      row(cases['a non-ASCII subject folded over several encoded words']![0]),
      [],
      sender({ dkim: undefined }),
    );
    const text = raw.toString('latin1');
    const head = text.slice(0, text.indexOf('\r\n\r\n'));
    const fields = head.split(/\r\n(?![ \t])/).map((line) => ({ name: line.slice(0, line.indexOf(':')), line }));
    const ours = signer.sign(fields, raw.subarray(head.length + 4)).line;
    const transport = nodemailer.createTransport({
      streamTransport: true,
      buffer: true,
      dkim: { domainName: 'rgz.bj', keySelector: 'sel', privateKey: pem },
    });
    const info = await transport.sendMail({ raw, envelope: { from: 'noreply@rgz.bj', to: ['client@example.com'] } });
    const theirs = /^DKIM-Signature:[^]*?\r\n(?![ \t])/m
      .exec((info.message as Buffer).toString('latin1'))![0]
      .trimEnd();
    const tags = (h: string) =>
      Object.fromEntries(
        h
          .slice(h.indexOf(':') + 1)
          .replace(/\s+/g, '')
          .split(';')
          .map((t) => t.split(/=(.*)/s).slice(0, 2)),
      );
    expect(tags(ours)).toEqual(tags(theirs));
    expect(tags(ours).b).toMatch(/^[A-Za-z0-9+/]{300,}={0,2}$/);
  });

  it('refuses a key that is not RSA at start-up rather than sending unsigned mail', () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => new DkimSigner({ domain: 'rgz.bj', selector: 'sel', privateKey: ed })).toThrow(/RSA private key/);
  });
});
