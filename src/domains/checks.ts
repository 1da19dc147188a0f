import { createPublicKey } from 'node:crypto';

/**
 * What a sending domain's DNS says, check by check, as pure functions of the records found, so
 * every rule is tested without a resolver. A domain is verified when each check it needs is ok:
 * DKIM (the key published under its selector is the one Postier signs with: proof that whoever
 * runs the domain set it up for Postier), SPF and DMARC for a From domain; MX and SPF for the
 * bounce domain (BOUNCE_DOMAIN, the envelope sender's domain).
 */

export type CheckStatus = 'ok' | 'missing' | 'mismatch' | 'invalid' | 'not_configured' | 'error';

export interface CheckResult {
  status: CheckStatus;
  /** The DNS name asked. */
  name: string;
  /** The records found there (TXT strings joined, or MX as `priority host`). */
  found: string[];
  /** What to publish there, when Postier knows it exactly. */
  expected: string | null;
  /** One sentence: what is wrong and what to do, or what was found. */
  detail: string;
}

export type CheckName = 'dkim' | 'spf' | 'dmarc' | 'mx';
export type DomainChecks = Partial<Record<CheckName, CheckResult>>;

/** What a lookup gave: records, none (NXDOMAIN or no record of the type), or a failure. */
export type Lookup<T> = { records: T[] } | { error: string };

/** The DKIM public key (the `p=` tag) of an RSA private key: its SubjectPublicKeyInfo, base64. */
export function dkimPublicKey(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** A DKIM key record's tags (RFC 6376 §3.6.1): `k=v` pairs separated by `;`, spaces ignored in `p`. */
export function dkimTags(record: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of record.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const name = part.slice(0, i).trim().toLowerCase();
    if (name && !tags.has(name)) tags.set(name, part.slice(i + 1).replace(/\s+/g, ''));
  }
  return tags;
}

const failed = (name: string, l: { error: string }): CheckResult => ({
  status: 'error',
  name,
  found: [],
  expected: null,
  detail: `The DNS lookup failed (${l.error}); the check will be run again`,
});

/**
 * Why receivers cannot use a DKIM key record whose `p=` is ours, or null when they can (RFC 6376
 * §3.2, §3.6.1): tag names are case-sensitive and none may occur twice; `v=`, when present, is
 * first and `DKIM1`; `k=` is `rsa` (the default); `h=`, when present, allows sha256 (Postier signs
 * rsa-sha256); `s=`, when present, allows `email` or `*`.
 */
export function dkimRecordProblem(record: string): string | null {
  const names: string[] = [];
  const tags = new Map<string, string>();
  for (const part of record.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (tags.has(name)) return `the tag ${name}= occurs twice, which voids the record`;
    names.push(name);
    tags.set(name, part.slice(i + 1).replace(/\s+/g, ''));
  }
  const upper = names.find(
    (n) => n !== n.toLowerCase() && ['v', 'k', 'h', 's', 'p', 't', 'n', 'g'].includes(n.toLowerCase()),
  );
  if (upper) return `tag names are case-sensitive: ${upper}= is not ${upper.toLowerCase()}=`;
  const v = tags.get('v');
  if (v !== undefined && v !== 'DKIM1') return `v=${v} is not v=DKIM1`;
  if (v !== undefined && names[0] !== 'v') return 'v=DKIM1 must be the first tag';
  const k = tags.get('k');
  if (k !== undefined && k !== 'rsa') return `k=${k}: Postier signs with an RSA key (k=rsa)`;
  const h = tags.get('h');
  if (h !== undefined && !h.split(':').includes('sha256'))
    return `h=${h} does not allow sha256, which Postier signs with`;
  const st = tags.get('s');
  if (st !== undefined && !st.split(':').some((x) => x === 'email' || x === '*'))
    return `s=${st} does not allow email (s=email or s=*)`;
  return null;
}

export function checkDkim(name: string, key: { publicKey: string } | null, txt: Lookup<string> | null): CheckResult {
  if (!key)
    return {
      status: 'not_configured',
      name,
      found: [],
      expected: null,
      detail: 'No DKIM key for this domain: mail from it is sent unsigned. Add it to DKIM_KEYS',
    };
  const expected = `v=DKIM1; k=rsa; p=${key.publicKey}`;
  if (!txt) throw new Error('checkDkim: a configured key needs its lookup');
  if ('error' in txt) return { ...failed(name, txt), expected };
  const found = txt.records;
  const keys = found.map(dkimTags).filter((t) => t.has('p'));
  if (keys.length === 0)
    return {
      status: 'missing',
      name,
      found,
      expected,
      detail: `No DKIM key record at ${name}: publish the expected TXT record`,
    };
  const ours = found.filter((r) => dkimTags(r).get('p') === key.publicKey);
  if (ours.length > 0) {
    // RFC 6376 §3.6.2.2: several TXT records at one selector give an undefined result.
    const problem =
      found.length > 1
        ? `Several records at this selector (${found.length}): receivers may read another one (RFC 6376 §3.6.2.2)`
        : dkimRecordProblem(ours[0]!);
    if (problem)
      return {
        status: 'invalid',
        name,
        found,
        expected,
        detail: `The published key is ours, but receivers cannot rely on this record: ${problem}. Publish exactly the expected record`,
      };
    return { status: 'ok', name, found, expected, detail: 'The published key is the one Postier signs with' };
  }
  return {
    status: 'mismatch',
    name,
    found,
    expected,
    detail: keys.some((t) => t.get('p') === '')
      ? 'The key at this selector is revoked (empty p=): receivers will fail every signature'
      : 'The published key is not the one Postier signs with: receivers will fail every signature',
  };
}

export function checkSpf(name: string, txt: Lookup<string>): CheckResult {
  if ('error' in txt) return failed(name, txt);
  const found = txt.records.filter((r) => /^v=spf1(\s|$)/i.test(r.trim()));
  const base = { name, found, expected: null };
  if (found.length === 0)
    return {
      ...base,
      status: 'missing',
      detail: "No SPF record: publish one TXT record `v=spf1 include:<your relay's SPF domain> ~all`",
    };
  if (found.length > 1)
    return {
      ...base,
      status: 'invalid',
      detail: 'Several SPF records: receivers treat that as an error (RFC 7208 §4.5); merge them into one',
    };
  if (/(^|\s)\+?all(\s|$)/i.test(found[0]!))
    return { ...base, status: 'invalid', detail: 'The SPF record ends with +all: it lets anyone send as this domain' };
  return { ...base, status: 'ok', detail: 'One SPF record' };
}

/** The DMARC records among TXT strings. */
export const dmarcRecords = (records: string[]) => records.filter((r) => /^v=DMARC1\s*(;|$)/i.test(r.trim()));

/**
 * `inheritedFrom`: the parent domain whose record was found when the domain has none of its own
 * (RFC 7489 §6.6.3: a subdomain falls under its organisational domain's record, `sp=` first).
 */
export function checkDmarc(
  name: string,
  domain: string,
  txt: Lookup<string>,
  inheritedFrom: string | null = null,
): CheckResult {
  if ('error' in txt) return failed(name, txt);
  const found = dmarcRecords(txt.records);
  const expected = `v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain}`;
  const base = { name, found, expected };
  if (found.length === 0)
    return {
      ...base,
      status: 'missing',
      detail: 'No DMARC record: Gmail and Yahoo want one from bulk senders; start with p=none',
    };
  if (found.length > 1)
    return { ...base, status: 'invalid', detail: 'Several DMARC records: receivers ignore them all' };
  const tags = dkimTags(found[0]!);
  const policy = ((inheritedFrom ? tags.get('sp') : undefined) ?? tags.get('p'))?.toLowerCase();
  if (policy !== 'none' && policy !== 'quarantine' && policy !== 'reject')
    return {
      ...base,
      status: 'invalid',
      detail: 'The DMARC record has no valid policy (p=none, quarantine or reject)',
    };
  return {
    ...base,
    status: 'ok',
    detail: inheritedFrom
      ? `DMARC policy ${policy}, from the record of ${inheritedFrom}, which covers its subdomains`
      : `DMARC policy ${policy}`,
  };
}

export function checkMx(name: string, mx: Lookup<{ priority: number; exchange: string }>): CheckResult {
  if ('error' in mx) return failed(name, mx);
  // A null MX (RFC 7505: one MX whose host is the root, `.`) says the domain accepts no mail.
  const isNull = (exchange: string) => exchange === '' || exchange === '.';
  const found = [...mx.records]
    .sort((a, b) => a.priority - b.priority)
    .map((r) => `${r.priority} ${isNull(r.exchange) ? '.' : r.exchange}`);
  if (mx.records.some((r) => isNull(r.exchange)))
    return {
      status: 'invalid',
      name,
      found,
      expected: null,
      detail:
        'A null MX (RFC 7505): the domain says it accepts no mail, so bounces to it are refused. Replace it with an MX pointing at the host of INBOUND_SMTP_PORT',
    };
  if (found.length === 0)
    return {
      status: 'missing',
      name,
      found,
      expected: null,
      detail:
        'No MX record: bounces sent to this domain cannot reach Postier. Point it at the host of INBOUND_SMTP_PORT',
    };
  return { status: 'ok', name, found, expected: null, detail: 'Bounces to this domain have somewhere to go' };
}

/** Verified: every check the domain needs passed (a check it does not need is absent). */
export function verified(checks: DomainChecks): boolean {
  const all = Object.values(checks);
  return all.length > 0 && all.every((c) => c.status === 'ok');
}
