import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkDkim, checkDmarc, checkSpf, dkimTags } from '../src/domains/checks.js';
import { dkimPublicKey, startDomainChecks } from '../src/domains/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import type { SubmissionServer } from '../src/accept/submission/index.js';
import { DnsServer } from './support/dns-server.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { sendKey, startSubmissionFor } from './helpers/submission.js';

/**
 * Sending domains prove their DNS: a real DNS server in the test process answers Node's
 * resolver, through the HTTP API, on both databases.
 */

const pem = (bits = 2048) =>
  generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

type Domain = {
  domain: string;
  roles: string[];
  dkim_selector: string | null;
  verified: boolean;
  checked_at: string | null;
  checks: Record<
    string,
    { status: string; name: string; found: string[]; expected: string | null; detail: string }
  > | null;
};

describe.each(backends)('sending domains on %s', (backend) => {
  let t: TestContext;
  let dns: DnsServer;
  let dir: string;
  let key: string;
  let publicKey: string;

  beforeAll(async () => {
    dns = await DnsServer.start();
    dir = mkdtempSync(path.join(tmpdir(), 'postier-dkim-'));
    key = pem();
    publicKey = dkimPublicKey(key);
    writeFileSync(path.join(dir, 'shop.pem'), key);
    t = await createTestContext(backend, {
      SMTP_FROM_EMAIL: 'noreply@shop.example',
      FROM_ALLOWED_DOMAINS: 'alerts.example,ops@other.example,news.shop.example,mail.rgz.co.uk',
      DKIM_KEYS: `shop.example:s1:${path.join(dir, 'shop.pem')}`,
      BOUNCE_DOMAIN: 'bounces.shop.example',
      DNS_SERVERS: dns.address,
    });
  });
  beforeEach(() => dns.zone.clear());
  afterAll(async () => {
    await t.close();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const check = async (domain: string) => {
    const res = await t.inject({ method: 'POST', url: `/api/v1/domains/${domain}/check` });
    expect(res.statusCode).toBe(200);
    return res.json() as Domain;
  };
  const publishGood = () => {
    dns.set('s1._domainkey.shop.example', { txt: [`v=DKIM1; k=rsa; p=${publicKey}`] });
    dns.set('shop.example', { txt: ['google-site-verification=abc', 'v=spf1 include:amazonses.com ~all'] });
    dns.set('_dmarc.shop.example', { txt: ['v=DMARC1; p=quarantine; rua=mailto:d@shop.example'] });
  };

  it('lists the domains Postier sends as, with why, unchecked at first', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/v1/domains' });
    expect(res.statusCode).toBe(200);
    const items = (res.json() as { items: Domain[] }).items;
    expect(items.map((d) => [d.domain, d.roles, d.dkim_selector])).toEqual([
      ['alerts.example', ['from'], null],
      ['bounces.shop.example', ['bounce'], null],
      ['mail.rgz.co.uk', ['from'], null],
      ['news.shop.example', ['from'], null],
      ['other.example', ['from'], null],
      ['shop.example', ['from', 'dkim'], 's1'],
    ]);
    expect(items.every((d) => d.verified === false && d.checked_at === null && d.checks === null)).toBe(true);
    expect(res.json()).toMatchObject({ enforced: false });
  });

  it('verifies a domain whose DKIM key, SPF and DMARC are published, and stores the result', async () => {
    publishGood();
    const d = await check('shop.example');
    expect(d.verified).toBe(true);
    expect(d.checks!.dkim).toMatchObject({
      status: 'ok',
      name: 's1._domainkey.shop.example',
      expected: `v=DKIM1; k=rsa; p=${publicKey}`,
    });
    // The key is longer than one TXT string: the resolver joins the strings back.
    expect(d.checks!.dkim!.found).toEqual([`v=DKIM1; k=rsa; p=${publicKey}`]);
    expect(d.checks!.spf).toMatchObject({ status: 'ok', found: ['v=spf1 include:amazonses.com ~all'] });
    expect(d.checks!.dmarc).toMatchObject({ status: 'ok', detail: 'DMARC policy quarantine' });
    expect(d.checks!.mx).toBeUndefined();
    const listed = ((await t.inject({ method: 'GET', url: '/api/v1/domains' })).json() as { items: Domain[] }).items;
    expect(listed.find((x) => x.domain === 'shop.example')).toMatchObject({ verified: true, checked_at: d.checked_at });
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^postier_domain_dns_verified\{domain="shop\.example"\} 1$/m);
    expect(dns.queries.map((q) => `${q.type} ${q.name}`)).toEqual(
      expect.arrayContaining(['TXT s1._domainkey.shop.example', 'TXT shop.example', 'TXT _dmarc.shop.example']),
    );
  });

  it('says what is wrong: another key, a revoked one, none; several SPF records, +all; no DMARC', async () => {
    publishGood();
    dns.set('s1._domainkey.shop.example', { txt: [`v=DKIM1; k=rsa; p=${dkimPublicKey(pem(1024))}`] });
    dns.set('shop.example', { txt: ['v=spf1 include:a.example ~all', 'v=spf1 include:b.example -all'] });
    dns.set('_dmarc.shop.example', { txt: [] });
    let d = await check('shop.example');
    expect(d.verified).toBe(false);
    expect(d.checks!.dkim).toMatchObject({
      status: 'mismatch',
      detail: expect.stringMatching(/not the one Postier signs/),
    });
    expect(d.checks!.spf).toMatchObject({ status: 'invalid', detail: expect.stringMatching(/Several SPF records/) });
    expect(d.checks!.dmarc).toMatchObject({
      status: 'missing',
      expected: 'v=DMARC1; p=none; rua=mailto:dmarc-reports@shop.example',
    });
    expect((await t.inject({ method: 'GET', url: '/metrics' })).body).toMatch(
      /^postier_domain_dns_verified\{domain="shop\.example"\} 0$/m,
    );

    dns.set('s1._domainkey.shop.example', { txt: ['v=DKIM1; k=rsa; p='] });
    dns.set('shop.example', { txt: ['v=spf1 +all'] });
    d = await check('shop.example');
    expect(d.checks!.dkim).toMatchObject({ status: 'mismatch', detail: expect.stringMatching(/revoked/) });
    expect(d.checks!.spf).toMatchObject({ status: 'invalid', detail: expect.stringMatching(/\+all/) });

    dns.zone.delete('s1._domainkey.shop.example');
    d = await check('SHOP.example');
    expect(d.checks!.dkim).toMatchObject({ status: 'missing', found: [] });
  });

  it('asks a From domain without a DKIM key to add one, and a bounce domain for its MX', async () => {
    const alerts = await check('alerts.example');
    expect(alerts.checks!.dkim).toMatchObject({ status: 'not_configured', detail: expect.stringMatching(/DKIM_KEYS/) });
    expect(alerts.checks!.spf!.status).toBe('missing');
    expect(alerts.verified).toBe(false);

    dns.set('bounces.shop.example', { txt: ['v=spf1 include:amazonses.com -all'] });
    let bounce = await check('bounces.shop.example');
    expect(Object.keys(bounce.checks!).sort()).toEqual(['mx', 'spf']);
    expect(bounce.checks!.mx).toMatchObject({ status: 'missing' });
    dns.set('bounces.shop.example', {
      txt: ['v=spf1 include:amazonses.com -all'],
      mx: [
        { priority: 20, exchange: 'mx2.shop.example' },
        { priority: 10, exchange: 'mx1.shop.example' },
      ],
    });
    bounce = await check('bounces.shop.example');
    expect(bounce.checks!.mx).toMatchObject({ status: 'ok', found: ['10 mx1.shop.example', '20 mx2.shop.example'] });
    expect(bounce.verified).toBe(true);
  });

  it('takes the parent domain’s DMARC record for a subdomain without one, its sp= first', async () => {
    dns.set('_dmarc.shop.example', { txt: ['v=DMARC1; p=none; sp=reject'] });
    const news = await check('news.shop.example');
    expect(news.checks!.dmarc).toMatchObject({
      status: 'ok',
      name: '_dmarc.shop.example',
      detail: 'DMARC policy reject, from the record of shop.example, which covers its subdomains',
    });
    // Its own record, when it has one, is the one that counts.
    dns.set('_dmarc.news.shop.example', { txt: ['v=DMARC1; p=quarantine'] });
    expect((await check('news.shop.example')).checks!.dmarc).toMatchObject({
      name: '_dmarc.news.shop.example',
      detail: 'DMARC policy quarantine',
    });
  });

  it('looks for a parent’s DMARC record up to the organisational domain, never at a public suffix', async () => {
    // co.uk is a public suffix: a record there is nobody's policy for mail.rgz.co.uk.
    dns.set('_dmarc.co.uk', { txt: ['v=DMARC1; p=reject'] });
    dns.set('_dmarc.uk', { txt: ['v=DMARC1; p=reject'] });
    const alone = await check('mail.rgz.co.uk');
    expect(alone.checks!.dmarc).toMatchObject({ status: 'missing', name: '_dmarc.mail.rgz.co.uk' });
    const asked = dns.queries.map((q) => `${q.type} ${q.name}`);
    expect(asked).toEqual(expect.arrayContaining(['TXT _dmarc.mail.rgz.co.uk', 'TXT _dmarc.rgz.co.uk']));
    expect(asked).not.toContain('TXT _dmarc.co.uk');
    // The organisational domain's own record covers it.
    dns.set('_dmarc.rgz.co.uk', { txt: ['v=DMARC1; p=quarantine'] });
    expect((await check('mail.rgz.co.uk')).checks!.dmarc).toMatchObject({
      status: 'ok',
      name: '_dmarc.rgz.co.uk',
      detail: 'DMARC policy quarantine, from the record of rgz.co.uk, which covers its subdomains',
    });
  });

  it('reports a resolver failure as an error, not as a missing record', async () => {
    dns.set('shop.example', { servfail: true });
    dns.set('_dmarc.shop.example', { servfail: true });
    dns.set('s1._domainkey.shop.example', { servfail: true });
    const d = await check('shop.example');
    expect(d.verified).toBe(false);
    for (const c of ['dkim', 'spf', 'dmarc'])
      expect(d.checks![c]).toMatchObject({ status: 'error', detail: expect.stringMatching(/ESERVFAIL/) });
  });

  it('refuses what it cannot check: another domain (404), a bad name (400), a send key (403), no key (401)', async () => {
    const other = await t.inject({ method: 'POST', url: '/api/v1/domains/gmail.com/check' });
    expect(other.statusCode).toBe(404);
    expect(other.json()).toMatchObject({
      error: { code: 'domain_not_found', details: { domains: expect.any(Array) } },
    });
    const bad = await t.inject({ method: 'POST', url: '/api/v1/domains/bad_name!/check' });
    expect(bad.statusCode).toBe(400);
    const long = await t.inject({ method: 'POST', url: `/api/v1/domains/${'a'.repeat(300)}.example/check` });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ error: { code: 'invalid_request' } });
    const { token } = await t.services.apiKeys.create('sender', 'send', null);
    expect((await t.inject({ method: 'GET', url: '/api/v1/domains', token })).statusCode).toBe(403);
    expect((await t.inject({ method: 'GET', url: '/api/v1/domains', token: null })).statusCode).toBe(401);
    expect(dns.queries.some((q) => q.name.includes('gmail'))).toBe(false);
  });

  it('checks every domain in the background, one process at a time, and records the run', async () => {
    publishGood();
    const job = startDomainChecks(t.services.db, t.services.domains, pino({ level: 'silent' }), 3_600_000, 10);
    try {
      const deadline = Date.now() + 10_000;
      let row: { last_result: string | null } | undefined;
      while (Date.now() < deadline) {
        row = await t.services.db
          .selectFrom('job_locks')
          .select('last_result')
          .where('name', '=', 'domain_dns_check')
          .executeTakeFirst();
        if (row?.last_result) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(JSON.parse(row!.last_result!)).toEqual({ checked: 6, verified: 1 });
    } finally {
      job.stop();
    }
  });
});

describe.each(backends)('DOMAIN_VERIFICATION=enforce on %s', (backend) => {
  let t: TestContext;
  let dns: DnsServer;
  let dir: string;
  let publicKey: string;
  let server: SubmissionServer;

  beforeAll(async () => {
    dns = await DnsServer.start();
    dir = mkdtempSync(path.join(tmpdir(), 'postier-dkim-'));
    const key = pem();
    publicKey = dkimPublicKey(key);
    writeFileSync(path.join(dir, 'shop.pem'), key);
    t = await createTestContext(backend, {
      SMTP_FROM_EMAIL: 'noreply@postier.example',
      FROM_ALLOWED_DOMAINS: 'shop.example',
      DKIM_KEYS: `shop.example:s1:${path.join(dir, 'shop.pem')}`,
      DNS_SERVERS: dns.address,
      DOMAIN_VERIFICATION: 'enforce',
    });
    server = await startSubmissionFor(t, { loginDelayStepMs: 1 });
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const raw = (from?: string) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'client@example.com', subject: 'Invoice', text: 'Your invoice', ...(from ? { from } : {}) },
    });

  it('refuses mail from a domain that has not passed its check (403, SMTP 550 5.7.1), takes it once it has', async () => {
    expect((await t.inject({ method: 'GET', url: '/api/v1/domains' })).json()).toMatchObject({ enforced: true });
    const refused = await raw('billing@shop.example');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({
      error: { code: 'domain_not_verified', details: { domain: 'shop.example' } },
    });
    // The configured sender is the operator's own: always allowed, as FROM_ALLOWED_DOMAINS has it.
    expect((await raw()).statusCode).toBe(201);

    const { token } = await sendKey(t);
    const talk = await SmtpTalk.connect(server.port);
    await talk.command('EHLO x');
    expect(await talk.login(token)).toMatch(/^235/);
    expect(await talk.command('MAIL FROM:<billing@shop.example>')).toMatch(/^550 5\.7\.1 domain_not_verified/);

    dns.set('s1._domainkey.shop.example', { txt: [`v=DKIM1; k=rsa; p=${publicKey}`] });
    dns.set('shop.example', { txt: ['v=spf1 include:amazonses.com ~all'] });
    dns.set('_dmarc.shop.example', { txt: ['v=DMARC1; p=reject'] });
    const checked = await t.inject({ method: 'POST', url: '/api/v1/domains/shop.example/check' });
    expect(checked.json()).toMatchObject({ verified: true });
    expect((await raw('billing@shop.example')).statusCode).toBe(201);
    expect(await talk.command('MAIL FROM:<billing@shop.example>')).toMatch(/^250/);
    talk.close();

    // A record removed: the next check takes the domain's right to send away again.
    dns.zone.delete('_dmarc.shop.example');
    await t.inject({ method: 'POST', url: '/api/v1/domains/shop.example/check' });
    expect((await raw('billing@shop.example')).statusCode).toBe(403);
  });
});

describe('domain DNS rules', () => {
  it('reads DKIM tags as RFC 6376 writes them', () => {
    const tags = dkimTags(' v=DKIM1 ; k = rsa; p=MIIB IjAN\tBg ;t=y');
    expect(tags.get('p')).toBe('MIIBIjANBg');
    expect(tags.get('k')).toBe('rsa');
    expect(tags.get('t')).toBe('y');
  });

  it('judges SPF and DMARC records', () => {
    const spf = (...records: string[]) => checkSpf('x.example', { records }).status;
    expect(spf('v=spf1 -all')).toBe('ok');
    expect(spf('V=SPF1 include:x ~all')).toBe('ok');
    expect(spf('v=spf1 all')).toBe('invalid');
    expect(spf('v=spf10 -all')).toBe('missing');
    expect(checkSpf('x.example', { error: 'ETIMEOUT' }).status).toBe('error');
    const dmarc = (...records: string[]) => checkDmarc('_dmarc.x.example', 'x.example', { records }).status;
    expect(dmarc('v=DMARC1; p=reject')).toBe('ok');
    expect(dmarc('v=DMARC1; rua=mailto:a@x.example')).toBe('invalid');
    expect(dmarc('v=DMARC1; p=reject', 'v=DMARC1; p=none')).toBe('invalid');
    expect(dmarc('v=spf1 -all')).toBe('missing');
    expect(checkDkim('s._domainkey.x.example', { publicKey: 'AAA' }, { records: ['v=DKIM1; p=AAA'] }).status).toBe(
      'ok',
    );
  });
});
