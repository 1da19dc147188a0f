import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import DKIM from 'nodemailer/lib/dkim';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { invoiceExample } from './helpers/fixtures.js';
import { SmtpSink } from './helpers/smtp-sink.js';

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
    const signs = vi.spyOn(DKIM.prototype, 'sign');
    sink.respond = (m) => (m.seen === 1 ? { kind: 'reply', code: 451, text: 'Try again later' } : { kind: 'accept' });
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
    expect(results.map((r) => [r.signingDomain, r.selector, r.status.result])).toEqual([['rgz.bj', 'postier2026', 'pass']]);

    // The check is real: the same message with one word changed does not verify. (RFC 6376
    // §3.9: a body hash mismatch; mailauth reports it as neutral.)
    const altered = Buffer.from(second!.raw.toString('latin1').replace('Montant', 'Mont4nt'), 'latin1');
    expect(altered.equals(second!.raw)).toBe(false);
    const tampered = await dkimVerify(altered, { resolver });
    expect(tampered.results[0]!.status).toMatchObject({ result: 'neutral', comment: expect.stringMatching(/body hash did not verify/) });
  });
});
