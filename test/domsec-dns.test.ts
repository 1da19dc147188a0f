import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as packet from 'dns-packet';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { DomainService, dkimPublicKey, dnsLookup } from '../src/domains/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { DnsServer, txtStrings } from './support/dns-server.js';

/**
 * Outside review of the sending-domain checks against a DNS server that answers what a hostile
 * or careless zone would: records receivers cannot use, null MX, CNAME loops, huge and malformed
 * answers, bytes that are not text. A real DNS server in the test process
 * (test/support/dns-server.ts, its hostile entries), Node's resolver, the HTTP API, both databases.
 */

type Rr = packet.Answer;

const pem = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

type Check = { status: string; name: string; found: string[]; expected: string | null; detail: string };
type Domain = { domain: string; verified: boolean; checked_at: string | null; checks: Record<string, Check> | null };

describe.each(backends)('sending-domain checks against a hostile DNS on %s', (backend) => {
  let t: TestContext;
  let dns: DnsServer;
  let dir: string;
  let publicKey: string;

  beforeAll(async () => {
    dns = await DnsServer.start();
    dir = mkdtempSync(path.join(tmpdir(), 'postier-domsec-'));
    const key = pem();
    publicKey = dkimPublicKey(key);
    writeFileSync(path.join(dir, 'shop.pem'), key);
    t = await createTestContext(backend, {
      SMTP_FROM_EMAIL: 'noreply@shop.example',
      FROM_ALLOWED_DOMAINS: 'news.shop.example',
      DKIM_KEYS: `shop.example:s1:${path.join(dir, 'shop.pem')}`,
      BOUNCE_DOMAIN: 'bounces.shop.example',
      DNS_SERVERS: dns.address,
    });
  });
  beforeEach(() => {
    dns.zone.clear();
    dns.queries.length = 0;
  });
  afterAll(async () => {
    await t?.close();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const check = async (domain: string) => {
    const res = await t.inject({ method: 'POST', url: `/api/v1/domains/${domain}/check` });
    expect(res.statusCode).toBe(200);
    return res.json() as Domain;
  };
  const publishGood = () => {
    dns.set('s1._domainkey.shop.example', { txt: [`v=DKIM1; k=rsa; p=${publicKey}`] });
    dns.set('shop.example', { txt: ['v=spf1 include:amazonses.com ~all'] });
    dns.set('_dmarc.shop.example', { txt: ['v=DMARC1; p=reject'] });
  };

  it('verifies the good records, a DKIM key behind a CNAME (as SES and others publish it) too', async () => {
    publishGood();
    expect((await check('shop.example')).verified).toBe(true);
    dns.set('s1._domainkey.shop.example', {
      answers: (q) => [
        { type: 'CNAME', name: q.name, ttl: 60, class: 'IN', data: 's1.dkim.relay.example' },
        {
          type: 'TXT',
          name: 's1.dkim.relay.example',
          ttl: 60,
          class: 'IN',
          data: txtStrings(`v=DKIM1; k=rsa; p=${publicKey}`),
        },
      ],
    });
    const d = await check('shop.example');
    expect(d.checks!.dkim!.status).toBe('ok');
    expect(d.verified).toBe(true);
  });

  it('does not call a DKIM record ours when receivers cannot use it, though its p= is our key', async () => {
    publishGood();
    const p = `p=${publicKey}`;
    const unusable: Array<[string[], RegExp]> = [
      [[`v=DKIM1; k=ed25519; ${p}`], /k=ed25519/],
      [[`v=DKIM1; k=rsa; h=sha1; ${p}`], /h=sha1/],
      [[`v=DKIM1; k=rsa; s=other; ${p}`], /s=other/],
      [[`v=DKIM2; ${p}`], /v=DKIM2/],
      [[`k=rsa; v=DKIM1; ${p}`], /first tag/],
      // RFC 6376 §3.2: tag names are case-sensitive, a duplicated tag voids the record.
      [[`v=DKIM1; k=rsa; P=${publicKey}`], /P=/],
      [[`v=DKIM1; ${p}; p=MIIBother`], /twice/],
      // §3.6.2.2: several TXT records at one selector: the result is undefined.
      [[`v=DKIM1; k=rsa; ${p}`, `v=DKIM1; k=rsa; p=${dkimPublicKey(pem())}`], /Several records/],
    ];
    for (const [records, why] of unusable) {
      dns.set('s1._domainkey.shop.example', { txt: records });
      const d = await check('shop.example');
      expect(d.checks!.dkim, records.join(' | ')).toMatchObject({ status: expect.not.stringMatching(/^ok$/) });
      expect(d.checks!.dkim!.detail, records.join(' | ')).toMatch(why);
      expect(d.verified).toBe(false);
    }
    // What receivers do accept: no v=, h= naming sha256, s=email or *, t= flags, spaces and split strings.
    for (const ok of [
      p,
      `v=DKIM1; h=sha1:sha256; s=email; t=s; ${p}`,
      `v=DKIM1;k=rsa;s=*;n=ops note;${p.slice(0, 40)} ${p.slice(40)}`,
    ]) {
      dns.set('s1._domainkey.shop.example', { txt: [ok] });
      expect((await check('shop.example')).checks!.dkim, ok).toMatchObject({ status: 'ok' });
    }
  });

  it('does not take a null MX (RFC 7505: no mail accepted here) for a bounce domain’s MX', async () => {
    dns.set('bounces.shop.example', { txt: ['v=spf1 -all'] });
    dns.set('bounces.shop.example', {
      answers: (q) =>
        q.type === 'MX'
          ? [{ type: 'MX', name: q.name, ttl: 60, class: 'IN', data: { preference: 0, exchange: '.' } }]
          : [{ type: 'TXT', name: q.name, ttl: 60, class: 'IN', data: ['v=spf1 -all'] }],
    });
    const d = await check('bounces.shop.example');
    expect(d.checks!.mx).toMatchObject({ status: 'invalid', found: ['0 .'], detail: expect.stringMatching(/null MX/) });
    expect(d.verified).toBe(false);
  });

  it('says error, not missing, when the parent domain’s DMARC lookup failed', async () => {
    dns.set('_dmarc.news.shop.example', { txt: [] });
    dns.set('_dmarc.shop.example', { rcode: 2 /* SERVFAIL */ });
    const d = await check('news.shop.example');
    expect(d.checks!.dmarc).toMatchObject({
      status: 'error',
      name: '_dmarc.shop.example',
      detail: expect.stringMatching(/ESERVFAIL/),
    });
  });

  it('keeps the newer check when an older one (the periodic run, slow DNS) finishes after it', async () => {
    // The periodic run asks first and sees the zone before the record is published; its answer is
    // held. The operator publishes, clicks Check now (verified), then the old answer arrives.
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    dns.set('shop.example', { txt: ['v=spf1 include:amazonses.com ~all'] });
    dns.set('_dmarc.shop.example', { txt: ['v=DMARC1; p=reject'] });
    dns.set('s1._domainkey.shop.example', { answers: [], hold: gate });
    // Another process's service on the same database (its resolver waits 20 s: no retry meanwhile).
    const periodic = new DomainService(
      t.services.db,
      t.config,
      dnsLookup([dns.address], 20_000),
      pino({ level: 'silent' }),
    );
    const run = periodic.checkAll();
    const deadline = Date.now() + 10_000;
    const asked = () => dns.queries.some((q) => q.type === 'TXT' && q.name === 's1._domainkey.shop.example');
    while (!asked() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 5));
    publishGood();
    const now = await check('shop.example');
    expect(now.verified).toBe(true);
    release();
    await run;
    const listed = ((await t.inject({ method: 'GET', url: '/api/v1/domains' })).json() as { items: Domain[] }).items;
    expect(listed.find((d) => d.domain === 'shop.example')).toMatchObject({
      verified: true,
      checked_at: now.checked_at,
    });
    // The process whose check lost reads the stored answer: enforce lets the domain send there too.
    expect(periodic.isVerified('shop.example')).toBe(true);
  });

  it('answers 200 with what it found, and no private key, whatever the zone sends', async () => {
    const rr = (name: string, type: string, data: unknown) => ({ type, name, ttl: 60, class: 'IN', data }) as Rr;
    // A CNAME loop, 250 records (over TCP), bytes that are not text (a NUL, 0xff), a malformed answer.
    dns.set('shop.example', {
      answers: (q) => [rr(q.name, 'CNAME', 'loop.example'), rr('loop.example', 'CNAME', q.name)],
    });
    dns.set('_dmarc.shop.example', {
      answers: (q) =>
        Array.from({ length: 250 }, (_, i) => rr(q.name, 'TXT', [`v=DMARC1; p=none; n=${i}${'x'.repeat(200)}`])),
    });
    dns.set('s1._domainkey.shop.example', {
      txt: [[Buffer.from('v=DKIM1\0; p=\xff'), Buffer.from([0xc3, 0x28, 0])]],
    });
    let d = await check('shop.example');
    expect(d.checks!.spf!.status).toBe('missing');
    expect(d.checks!.dmarc).toMatchObject({ status: 'invalid', found: expect.any(Array) });
    expect(d.checks!.dmarc!.found).toHaveLength(250);
    expect(d.checks!.dkim!.status).toBe('mismatch');
    dns.set('s1._domainkey.shop.example', { raw: Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0]) });
    d = await check('shop.example');
    expect(d.checks!.dkim!.status).toBe('error');
    const listed = await t.inject({ method: 'GET', url: '/api/v1/domains' });
    expect(listed.statusCode).toBe(200);
    for (const body of [listed.body, JSON.stringify(d)]) {
      expect(body).not.toMatch(/PRIVATE KEY/);
      expect(body).not.toContain(readFileSync(path.join(dir, 'shop.pem'), 'utf8').split('\n')[5]);
    }
  });

  it('takes the domain as DNS writes it too: a trailing dot, upper case', async () => {
    publishGood();
    for (const name of ['shop.example.', 'SHOP.Example.']) {
      const d = await check(name);
      expect(d).toMatchObject({ domain: 'shop.example', verified: true });
    }
  });
});

describe.each(backends)('sending domains that are not DNS names, on %s', (backend) => {
  // The configuration refuses such names at start-up (test/sender-identity-config); the checks
  // still judge one they are handed (a 64-character label, 260 characters in all) without asking.
  const longLabel = `${'a'.repeat(64)}.example`;
  const tooLong = `${Array.from({ length: 5 }, () => 'b'.repeat(50)).join('.')}.example`;
  let t: TestContext;
  let dns: DnsServer;
  let domains: DomainService;

  beforeAll(async () => {
    dns = await DnsServer.start();
    t = await createTestContext(backend, { SMTP_FROM_EMAIL: 'noreply@shop.example', DNS_SERVERS: dns.address });
    const config = { ...t.config, email: { ...t.config.email, fromAllowed: ['shop.example', longLabel, tooLong] } };
    domains = new DomainService(t.services.db, config, dnsLookup([dns.address]), t.services.log);
  });
  afterAll(async () => {
    await t?.close();
    await dns?.close();
  });

  it('judges them invalid without asking, and the periodic run still checks the others', async () => {
    expect(tooLong.length).toBeGreaterThan(253);
    dns.set('shop.example', { txt: ['v=spf1 -all'] });
    const result = await domains.checkAll();
    expect(result).toEqual({ checked: 3, verified: 0 });
    const by = new Map((await domains.list()).map((d) => [d.domain, d]));
    expect(by.get('shop.example')!.checks!.spf).toMatchObject({ status: 'ok' });
    for (const name of [longLabel, tooLong]) {
      const d = by.get(name)!;
      expect(d.checks, name).not.toBeNull();
      for (const c of Object.values(d.checks!))
        expect(c, name).toMatchObject({ status: 'invalid', detail: expect.stringMatching(/not a valid DNS name/) });
    }
    expect(dns.queries.some((q) => q.name.includes('aaaa') || q.name.includes('bbbb'))).toBe(false);
    expect(await domains.check(longLabel)).toMatchObject({ verified: false, checks: { spf: { status: 'invalid' } } });
  });
});

describe('the resolver against a server that never answers', () => {
  let dns: DnsServer;
  beforeAll(async () => {
    dns = await DnsServer.start();
  });
  afterAll(async () => {
    await dns?.close();
  });

  it('gives up after two tries’ worth of its timeout, with ETIMEOUT (c-ares alone takes twice as long)', async () => {
    dns.set('shop.example', { silent: true });
    const lookup = dnsLookup([dns.address], 1000);
    const started = performance.now();
    const answer = await lookup.txt('shop.example');
    const took = performance.now() - started;
    expect(answer).toEqual({ error: 'ETIMEOUT' });
    expect(dns.queries.filter((q) => q.name === 'shop.example').length).toBeGreaterThanOrEqual(1);
    // The deadline is 2 × 1000 ms; c-ares 1.34 on its own answers ETIMEOUT after ~4 s here.
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(3500);
  });
});
