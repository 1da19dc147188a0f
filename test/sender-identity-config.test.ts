import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { describe, expect, it } from 'vitest';
import { checkSenderAllowed, parseSender } from '../src/accept/index.js';
import { MimeCache } from '../src/delivery/mime.js';
import { buildMime } from '../src/delivery/mime/index.js';
import type { MessageRow } from '../src/platform/db/schema.js';
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { registry } from '../src/platform/metrics.js';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    record: `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`,
  };
}

describe('FROM_ALLOWED_DOMAINS and DKIM_KEYS', () => {
  it('always allows the configured sender domain, lower-cases entries, and refuses what is neither a domain nor an address', () => {
    expect(loadConfig({ SMTP_FROM_EMAIL: 'noreply@RGZ.bj' }).email.fromAllowed).toEqual(['rgz.bj']);
    const c = loadConfig({
      SMTP_FROM_EMAIL: 'noreply@rgz.bj',
      FROM_ALLOWED_DOMAINS: 'Shop.Example, alerts@ops.rgz.bj,rgz.bj',
    });
    expect(c.email.fromAllowed).toEqual(['rgz.bj', 'shop.example', 'alerts@ops.rgz.bj']);
    expect(() => loadConfig({ FROM_ALLOWED_DOMAINS: 'shop.example,not a domain' })).toThrow(/FROM_ALLOWED_DOMAINS/);
    // Names DNS cannot carry (a 64-character label, 260 characters in all) stop start-up, named.
    const longLabel = `${'a'.repeat(64)}.example`;
    const tooLong = `${Array.from({ length: 5 }, () => 'b'.repeat(50)).join('.')}.example`;
    for (const [env, message] of [
      [{ FROM_ALLOWED_DOMAINS: longLabel }, /FROM_ALLOWED_DOMAINS: "a{64}\.example" is not a DNS name/],
      [{ FROM_ALLOWED_DOMAINS: `ops@${tooLong}` }, /FROM_ALLOWED_DOMAINS: .* is not a DNS name/],
      [{ SMTP_FROM_EMAIL: `noreply@${longLabel}` }, /SMTP_FROM_EMAIL: .* is not a DNS name/],
      [{ DKIM_KEYS: `${longLabel}:s1:/nonexistent.pem` }, /DKIM_KEYS: .* not a DNS name/],
      [{ DKIM_KEYS: `shop.example:${'s'.repeat(64)}:/nonexistent.pem` }, /DKIM_KEYS: .* not a DNS name/],
      [
        { DKIM_DOMAIN: 'shop.example', DKIM_SELECTOR: 'x'.repeat(250), DKIM_PRIVATE_KEY: 'k' },
        /DKIM_DOMAIN, DKIM_SELECTOR: labels/,
      ],
    ] as const)
      expect(() => loadConfig(env), JSON.stringify(env).slice(0, 60)).toThrow(message);
  });

  it('matches a domain entry by the exact domain and an address entry by the exact address', () => {
    const global = ['rgz.bj', 'shop.example', 'alerts@ops.rgz.bj'];
    const ok = (a: string, own: string[] | null = null) => {
      try {
        checkSenderAllowed(a, { allowedFrom: own }, global, 'noreply@rgz.bj');
        return true;
      } catch (e) {
        expect((e as { code: string }).code).toBe('from_not_allowed');
        return false;
      }
    };
    expect(ok('x@Shop.Example')).toBe(true);
    expect(ok('x@sub.shop.example')).toBe(false);
    expect(ok('x@shop.example.evil')).toBe(false);
    expect(ok('alerts@ops.rgz.bj')).toBe(true);
    expect(ok('other@ops.rgz.bj')).toBe(false);
    expect(ok('x@shop.example', ['rgz.bj'])).toBe(false);
    expect(ok('x@rgz.bj', ['rgz.bj'])).toBe(true);
    // The configured sender itself, even for a key limited to other domains.
    expect(ok('noreply@rgz.bj', ['shop.example'])).toBe(true);
  });

  it('parses a sender with or without a display name, quoted or not', () => {
    expect(parseSender('a@Shop.Example')).toEqual({ email: 'a@shop.example', name: null });
    expect(parseSender('Shop <a@shop.example>')).toEqual({ email: 'a@shop.example', name: 'Shop' });
    expect(parseSender('"Shop, \\"Inc\\"" <a@shop.example>')).toEqual({ email: 'a@shop.example', name: 'Shop, "Inc"' });
    expect(() => parseSender('Shop <a@shop.example')).toThrow(/Invalid email address/);
  });

  it('reads DKIM_KEYS entries from PEM files and names the entry that is wrong', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-dkim-'));
    const file = path.join(dir, 'shop.pem');
    writeFileSync(file, keyPair().pem);
    const c = loadConfig({ DKIM_KEYS: `Shop.Example:s1:${file}` });
    expect(c.dkimKeys).toEqual([
      { domain: 'shop.example', selector: 's1', privateKey: expect.stringContaining('PRIVATE KEY') },
    ]);
    const bad = path.join(dir, 'bad.pem');
    writeFileSync(bad, 'not a key');
    for (const [value, message] of [
      [`shop.example:s1:${bad}`, /not a PEM RSA private key/],
      [`shop.example:s1:${path.join(dir, 'missing.pem')}`, /cannot read/],
      ['shop.example', /domain:selector/],
      [`shop.example:s1:${file},shop.example:s2:${file}`, /two keys for shop\.example/],
    ] as const) {
      try {
        loadConfig({ DKIM_KEYS: value });
        expect.unreachable(value);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as ConfigError).message).toMatch(message);
      }
    }
  });

  it('signs each message with the key of its From domain, and sends one without a key unsigned (counted)', async () => {
    const rgz = keyPair();
    const shop = keyPair();
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-dkim-'));
    writeFileSync(path.join(dir, 'shop.pem'), shop.pem);
    const config = loadConfig({
      SMTP_FROM_EMAIL: 'noreply@rgz.bj',
      DKIM_DOMAIN: 'rgz.bj',
      DKIM_SELECTOR: 'main',
      DKIM_PRIVATE_KEY: rgz.pem.replace(/\n/g, '\\n'),
      DKIM_KEYS: `shop.example:s2026:${path.join(dir, 'shop.pem')},xn--bcher-kva.de:idn:${path.join(dir, 'shop.pem')}`,
      FROM_ALLOWED_DOMAINS: 'shop.example,other.example,xn--bcher-kva.de',
    });
    const records: Record<string, string> = {
      'main._domainkey.rgz.bj': rgz.record,
      's2026._domainkey.shop.example': shop.record,
      'idn._domainkey.xn--bcher-kva.de': shop.record,
    };
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && records[name]) return [[records[name]]];
      throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
    };
    const sender = MimeCache.senderOf(config);
    const row = (from: string | null) =>
      ({
        recipient_email: 'client@example.com',
        cc: null,
        bcc: null,
        reply_to: null,
        headers: null,
        subject: 'Hello',
        text_content: 'Bonjour',
        html_content: '<p>Bonjour</p>',
        smtp_message_id: '<0195f0c2-7a7e-7000-8000-000000000001@rgz.bj>',
        created_at: Date.UTC(2026, 1, 1, 8),
        from_email: from,
        from_name: null,
      }) as MessageRow;
    const verdicts = async (from: string | null) => {
      const { raw } = await buildMime(row(from), [], sender);
      const { results } = await dkimVerify(raw, { resolver });
      return results.map((r) => [r.signingDomain, r.selector, r.status.result]);
    };
    expect(await verdicts(null)).toEqual([['rgz.bj', 'main', 'pass']]);
    expect(await verdicts('billing@rgz.bj')).toEqual([['rgz.bj', 'main', 'pass']]);
    expect(await verdicts('orders@shop.example')).toEqual([['shop.example', 's2026', 'pass']]);
    // A From in Unicode signs with its ASCII domain's key (keys are configured by ASCII name).
    expect(await verdicts('rechnung@bücher.de')).toEqual([['xn--bcher-kva.de', 'idn', 'pass']]);

    const before = (await registry.getSingleMetric('postier_dkim_unsigned_total')!.get()).values.find(
      (v) => v.labels.domain === 'other.example',
    )?.value;
    const { raw } = await buildMime(row('x@other.example'), [], sender);
    expect(raw.toString('latin1')).not.toMatch(/^DKIM-Signature:/im);
    const after = (await registry.getSingleMetric('postier_dkim_unsigned_total')!.get()).values.find(
      (v) => v.labels.domain === 'other.example',
    )?.value;
    expect(after).toBe((before ?? 0) + 1);
  });
});
