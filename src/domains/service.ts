import type { Kysely } from 'kysely';
import type pino from 'pino';
import { getDomain } from 'tldts';
import type { Config } from '../platform/config.js';
import type { DB } from '../platform/db/schema.js';
import { domainVerified } from '../platform/metrics.js';
import {
  checkDkim,
  checkDmarc,
  checkMx,
  checkSpf,
  type DomainChecks,
  dkimPublicKey,
  dmarcRecords,
  verified,
} from './checks.js';
import type { DnsLookup } from './dns.js';

/** Why Postier cares about a domain: From addresses use it, it has a DKIM key, bounces come back to it. */
export type DomainRole = 'from' | 'dkim' | 'bounce';

export interface SendingDomain {
  domain: string;
  roles: DomainRole[];
  /** The DKIM key Postier signs this domain's mail with (selector and public key). */
  dkim: { selector: string; publicKey: string } | null;
}

export interface DomainView {
  domain: string;
  roles: DomainRole[];
  dkim_selector: string | null;
  /** Every check the domain needs passed at the last check; false before the first. */
  verified: boolean;
  checked_at: string | null;
  checks: DomainChecks | null;
}

/**
 * The domains Postier sends as, from its configuration: SMTP_FROM_EMAIL's domain and those of
 * FROM_ALLOWED_DOMAINS (addresses count by their domain), DKIM_KEYS' domains, and BOUNCE_DOMAIN.
 */
export function sendingDomains(config: Config): SendingDomain[] {
  const byName = new Map<string, SendingDomain>();
  const add = (domain: string, role: DomainRole) => {
    const d = domain.toLowerCase();
    const entry = byName.get(d) ?? { domain: d, roles: [], dkim: null };
    if (!entry.roles.includes(role)) entry.roles.push(role);
    byName.set(d, entry);
    return entry;
  };
  for (const f of config.email.fromAllowed) add(f.slice(f.lastIndexOf('@') + 1), 'from');
  for (const k of config.dkimKeys)
    add(k.domain, 'dkim').dkim = { selector: k.selector, publicKey: dkimPublicKey(k.privateKey) };
  if (config.feedback.bounceDomain) add(config.feedback.bounceDomain, 'bounce');
  return [...byName.values()].sort((a, b) => a.domain.localeCompare(b.domain));
}

/** A name DNS can carry (RFC 1035 §2.3.4): labels of 1 to 63 octets, 253 in all, no trailing dot. */
export const isDnsName = (name: string): boolean =>
  name.length <= 253 && name.split('.').every((l) => l.length >= 1 && l.length <= 63);

const dkimNameOf = (d: SendingDomain) =>
  d.dkim ? `${d.dkim.selector}._domainkey.${d.domain}` : `<selector>._domainkey.${d.domain}`;

/**
 * The configuration takes dotted names of any length: a domain (or DKIM name) that DNS cannot
 * carry is judged invalid without asking. Null when its names are askable.
 */
export function unaskableChecks(d: SendingDomain): DomainChecks | null {
  const from = d.roles.includes('from') || d.roles.includes('dkim');
  const dkimName = dkimNameOf(d);
  const unaskable = [d.domain, ...(from && d.dkim ? [dkimName] : [])].find((n) => !isDnsName(n));
  if (!unaskable) return null;
  const invalid = (name: string) => ({
    status: 'invalid' as const,
    name,
    found: [],
    expected: null,
    detail: `${unaskable.slice(0, 80)}${unaskable.length > 80 ? '…' : ''} is not a valid DNS name (labels of at most 63 characters, 253 in all): correct it in the configuration`,
  });
  const checks: DomainChecks = {};
  if (from) checks.dkim = invalid(dkimName);
  checks.spf = invalid(d.domain);
  if (from) checks.dmarc = invalid(`_dmarc.${d.domain}`);
  if (d.roles.includes('bounce')) checks.mx = invalid(d.domain);
  return checks;
}

/** Runs the checks `d` needs against DNS. */
export async function checkDomain(d: SendingDomain, dns: DnsLookup): Promise<DomainChecks> {
  const unaskable = unaskableChecks(d);
  if (unaskable) return unaskable;
  const checks: DomainChecks = {};
  const from = d.roles.includes('from') || d.roles.includes('dkim');
  const dkimName = dkimNameOf(d);
  const [dkimTxt, spfTxt, dmarcTxt, mx] = await Promise.all([
    from && d.dkim ? dns.txt(dkimName) : null,
    dns.txt(d.domain),
    from ? dns.txt(`_dmarc.${d.domain}`) : null,
    d.roles.includes('bounce') ? dns.mx(d.domain) : null,
  ]);
  if (from) checks.dkim = checkDkim(dkimName, d.dkim, dkimTxt);
  checks.spf = checkSpf(d.domain, spfTxt);
  if (dmarcTxt) {
    // None of its own: the nearest parent's record covers a subdomain, up to the organisational
    // domain (the Public Suffix List's registrable domain: shop.co.uk, never co.uk).
    let name = `_dmarc.${d.domain}`;
    let txt = dmarcTxt;
    let inherited: string | null = null;
    const labels = d.domain.split('.');
    const top = labels.length - (getDomain(d.domain) ?? d.domain).split('.').length;
    for (let i = 1; !('error' in txt) && dmarcRecords(txt.records).length === 0 && i <= top; i++) {
      const parent = labels.slice(i).join('.');
      const up = await dns.txt(`_dmarc.${parent}`);
      // A failed lookup says nothing of that parent's record: the check is an error, not missing.
      if ('error' in up) [name, txt] = [`_dmarc.${parent}`, up];
      else if (dmarcRecords(up.records).length > 0) [name, txt, inherited] = [`_dmarc.${parent}`, up, parent];
    }
    checks.dmarc = checkDmarc(name, d.domain, txt, inherited);
  }
  if (mx) checks.mx = checkMx(d.domain, mx);
  return checks;
}

/**
 * The sending domains and their last DNS check. A check's result is stored (one row per
 * domain), so every process and the UI show the same answer, and sets
 * postier_domain_dns_verified{domain}.
 */
export class DomainService {
  /** The domains whose last check passed, as this process last read them (refresh, check). */
  private verifiedNow = new Set<string>();
  private sending: SendingDomain[] | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly config: Config,
    private readonly dns: DnsLookup,
    private readonly log: pino.Logger,
  ) {}

  /** Whether `domain` passed its last DNS check, as this process last read it (no query). */
  isVerified(domain: string): boolean {
    return this.verifiedNow.has(domain.toLowerCase());
  }

  /** Reads which domains passed their last check (every process, DOMAIN_VERIFICATION=enforce). */
  async refresh(): Promise<void> {
    const rows = await this.db.selectFrom('domain_checks').select(['domain', 'verified']).execute();
    this.verifiedNow = new Set(rows.filter((r) => Number(r.verified) === 1).map((r) => r.domain));
  }

  /** DOMAIN_VERIFICATION=enforce. */
  get enforced(): boolean {
    return this.config.domainVerification === 'enforce';
  }

  /** The sending domains, read from the configuration once (their DKIM public keys derived then). */
  domains(): SendingDomain[] {
    this.sending ??= sendingDomains(this.config);
    return this.sending;
  }

  async list(): Promise<DomainView[]> {
    const rows = await this.db.selectFrom('domain_checks').selectAll().execute();
    const byDomain = new Map(rows.map((r) => [r.domain, r]));
    return this.domains().map((d) => {
      // A name too long to be stored (see check) is shown judged.
      const unaskable = d.domain.length > 253 ? unaskableChecks(d) : null;
      return unaskable ? { ...view(d, undefined), checks: unaskable } : view(d, byDomain.get(d.domain));
    });
  }

  /** Checks one sending domain now; undefined when Postier does not send as it. */
  async check(domain: string, now = Date.now()): Promise<DomainView | undefined> {
    // As DNS writes it too: one trailing dot (the root), any case.
    const name = domain.toLowerCase().replace(/\.$/, '');
    const d = this.domains().find((x) => x.domain === name);
    if (!d) return undefined;
    const checks = await checkDomain(d, this.dns);
    const ok = verified(checks);
    const row = { domain: d.domain, verified: ok ? 1 : 0, result: JSON.stringify(checks), checked_at: now };
    // domain_checks.domain holds 253 characters, the most a DNS name has: a longer one (judged
    // invalid above) is answered, not stored.
    if (d.domain.length > 253) return view(d, row);
    // A check that started before the stored one (the periodic run on a slow resolver, finishing
    // after a Check now) saw older DNS: it does not replace the newer answer.
    const written = await this.db
      .insertInto('domain_checks')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('domain')
          .doUpdateSet({ verified: row.verified, result: row.result, checked_at: now })
          .where('domain_checks.checked_at', '<=', now),
      )
      .returning('domain')
      .executeTakeFirst();
    if (!written) {
      const newer = await this.db
        .selectFrom('domain_checks')
        .select(['verified', 'result', 'checked_at'])
        .where('domain', '=', d.domain)
        .executeTakeFirst();
      if (newer) {
        const newerOk = Number(newer.verified) === 1;
        domainVerified.set({ domain: d.domain }, newerOk ? 1 : 0);
        if (newerOk) this.verifiedNow.add(d.domain);
        else this.verifiedNow.delete(d.domain);
        return view(d, { ...newer, verified: Number(newer.verified) });
      }
    }
    domainVerified.set({ domain: d.domain }, ok ? 1 : 0);
    if (ok) this.verifiedNow.add(d.domain);
    else this.verifiedNow.delete(d.domain);
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status !== 'ok')
      .map(([name, c]) => `${name} ${c.status}`);
    if (failing.length) this.log.warn({ domain: d.domain, failing }, 'sending domain DNS check: not verified');
    return view(d, row);
  }

  /** Checks every sending domain, one after the other, each stamped with the time its lookups started. */
  async checkAll(): Promise<{ checked: number; verified: number }> {
    let ok = 0;
    const all = this.domains();
    for (const d of all) {
      // One domain's failure (its row not stored) must not leave the others unchecked.
      try {
        if ((await this.check(d.domain))?.verified) ok++;
      } catch (err) {
        this.log.error({ err, domain: d.domain }, 'sending domain DNS check failed');
      }
    }
    return { checked: all.length, verified: ok };
  }
}

function view(d: SendingDomain, row: { verified: number; result: string; checked_at: number } | undefined): DomainView {
  return {
    domain: d.domain,
    roles: d.roles,
    dkim_selector: d.dkim?.selector ?? null,
    verified: row?.verified === 1,
    checked_at: row ? new Date(Number(row.checked_at)).toISOString() : null,
    checks: row ? (JSON.parse(row.result) as DomainChecks) : null,
  };
}
