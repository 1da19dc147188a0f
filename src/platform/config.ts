import { createPrivateKey, createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseTrustProxy } from './http/trusted-proxies.js';

/** A name DNS can carry (RFC 1035 §2.3.4): labels of 1 to 63 octets, 253 in all, no trailing dot. */
const isDnsName = (name: string): boolean =>
  name.length <= 253 && name.split('.').every((l) => l.length >= 1 && l.length <= 63);
const DNS_NAME_RULE = '(labels of 1 to 63 characters, 253 in all)';

/** A URL as a start-up error may quote it: its password, if any, masked (stderr ends in the journal). */
const withoutPassword = (url: string): string => url.replace(/(\/\/[^/@:\s]*:)[^@\s]*@/, '$1***@');

/**
 * Configuration is read from the environment once, validated as a whole, and passed down.
 * Nothing reads process.env after start-up: tests build a Config and hand it to the app.
 * A bad value stops start-up with one message naming every bad variable (ConfigError).
 */

export type RateLimit = { count: number; per: 'hour' | 'day' } | 'unlimited';

export interface Config {
  host: string;
  port: number;
  /** `postier serve`: HTTP processes sharing the port (node:cluster); 1 serves from the main process. */
  apiProcesses: number;
  publicUrl: string;
  databaseUrl: string;
  /** On SIGTERM: how long an API process keeps serving, not ready, before it closes its listener. */
  shutdownDelaySeconds: number;
  /** PostgreSQL: connections in a process's pool (each HTTP process of API_PROCESSES has its own). */
  databasePoolSize: number;
  /** PostgreSQL: writes sent as prepared statements (DATABASE_PREPARED_STATEMENTS). */
  databasePreparedStatements: boolean;
  /** PostgreSQL: connections in the pool of `postier serve`'s delivery thread. */
  workerDatabasePoolSize: number;
  /** SQLite: how long a request may wait in all for another connection's write lock before 503 `unavailable`. */
  dbLockWaitSeconds: number;
  /** SQLITE_CACHE_MB: the page cache of each SQLite connection of the process (the API's, the worker's). */
  sqliteCacheMb: number;
  dataDir: string;
  logLevel: string;
  adminToken: string | undefined;
  secretKey: string | undefined;
  /** When set, GET /metrics wants it as a bearer token; otherwise /metrics is public. */
  metricsToken: string | undefined;
  bodyLimitBytes: number;
  /** TRUST_PROXY: the proxies whose X-Forwarded-For names a request's client (platform/http/trusted-proxies.ts); [] for none. */
  trustProxy: string[];
  /** API_AUTH_*: failed bearer tokens from one client before it is refused for lockoutSeconds (docs/api.md). */
  apiAuth: { maxFailures: number; lockoutSeconds: number };

  smtp: {
    host: string | undefined;
    port: number;
    user: string | undefined;
    password: string | undefined;
    fromName: string;
    fromEmail: string;
    replyTo: string | undefined;
    useTls: boolean;
    timeoutSeconds: number;
    /** Deadline of the message bytes and the reply to DATA's final dot. */
    dataTimeoutSeconds: number;
    /** A message that met nothing but relay problems for this long fails. */
    relayProblemMaxHours: number;
    retryMaxAttempts: number;
    poolSize: number;
    /** SMTP_FALLBACK_URLS: relays tried in order when those before them have a relay problem. */
    fallbacks: SmtpRelayConfig[];
    /** SMTP_FAILOVER_COOLDOWN_SECONDS: how long a relay that failed over is passed by before it is tried again. */
    failoverCooldownSeconds: number;
  };
  captureSmtpPort: number;
  /** TRACK_OPENS, TRACK_CLICKS, TRACKING_CATEGORIES: open and click tracking of HTML mail (off by default). */
  tracking: { opens: boolean; clicks: boolean; categories: string[] | null };
  /** DNS_SERVERS: resolvers for the sending domains' DNS checks (`ip` or `ip:port`); empty: the system's. */
  dnsServers: string[];
  /** DOMAIN_VERIFICATION: `report` (default) shows the DNS checks; `enforce` also refuses mail from a From domain that has not passed. */
  domainVerification: 'report' | 'enforce';
  /** DOMAIN_CHECK_HOURS: how often serving processes check the sending domains' DNS; 0: only on demand. */
  domainCheckHours: number;
  /** SPAMD_ADDRESS: a SpamAssassin spamd (host:port) that scores captured mail; unset: no spam check. */
  spamd: { host: string; port: number } | undefined;
  dkim: { domain: string; selector: string; privateKey: string } | undefined;
  /** DKIM_KEYS: one key per From domain (DKIM_DOMAIN's key, when set, is among them). */
  dkimKeys: Array<{ domain: string; selector: string; privateKey: string }>;

  email: {
    rateLimits: Record<string, RateLimit>;
    /** RETENTION_ENABLED: this process runs the retention jobs (a lock row still lets one process run each at a time). */
    retentionEnabled: boolean;
    auditRetentionDays: number;
    autoAnonymizeAfterDays: number;
    maxAttachmentSizeBytes: number;
    allowedAttachmentTypes: string[];
    templatesDir: string;
    suppressionBypassCategories: string[];
    defaultLocale: string;
    timezone: string;
    maxRecipientsPerRequest: number;
    /** FROM_ALLOWED_DOMAINS: domains or full addresses any `from` must match (SMTP_FROM_EMAIL's domain always does); lower case. */
    fromAllowed: string[];
  };
  brand: { name: string; logoUrl: string; supportEmail: string; websiteUrl: string };
  worker: {
    batchSize: number;
    concurrency: number;
    /** WORKER_MAX_BUILD_MB: what the messages being built and sent at once may hold (a larger one goes alone). */
    buildBudgetBytes: number;
    leaseSeconds: number;
    pollMs: number;
    thread: boolean;
    retryBaseSeconds: number;
    retryMaxSeconds: number;
    metricsPort: number | undefined;
    /** How often a worker writes its heartbeat row. */
    heartbeatSeconds: number;
    /** A worker silent this long is dead: any live worker takes its leases over. */
    deadAfterSeconds: number;
    /** WORKER_DRAIN_SECONDS: on SIGTERM, how long sends in flight may take to end. */
    drainSeconds: number;
  };
  /** Amazon SNS notifications (SES bounces, complaints, deliveries). */
  sns: { certCacheDir: string; allowedTopicArns: string[] };
  /** Feedback from any relay: VERP, the inbound listener, IMAP, provider webhooks, suppression rules (docs/feedback.md). */
  feedback: FeedbackConfig;
  /** List-Unsubscribe on mail of these classes; the mailto half goes to `mailto`. */
  unsubscribe: { classes: string[]; mailto: string };
  outboundWebhooks: { retryBaseMs: number; maxAttempts: number; timeoutMs: number; pollMs: number };
  /** The SMTP submission listener (docs/submission.md). */
  submission: {
    enabled: boolean;
    host: string;
    /** 0: any free port (logged). */
    port: number;
    /** Implicit TLS (port 465 style); undefined: none. */
    tlsPort: number | undefined;
    /** PEM files; both undefined: a self-signed pair kept in DATA_DIR. */
    tlsCert: string | undefined;
    tlsKey: string | undefined;
    maxBytes: number;
    maxRecipients: number;
    /** Failed logins from one address before it is refused for authLockoutSeconds. */
    authMaxFailures: number;
    authLockoutSeconds: number;
    /**
     * SUBMISSION_SPOOL_MAX_AGE_SECONDS: when the oldest message waiting in the spool is older,
     * each new message's 250 is held back (flow control); 0: never.
     */
    spoolMaxAgeMs: number;
    /** SUBMISSION_FLOW_DELAY_MS: the longest a message's 250 is held back for it. */
    flowDelayMs: number;
    /** SUBMISSION_INGEST_THREAD: the spool's ingester on a thread of its own, not the listener's loop (default: on PostgreSQL). */
    ingestThread: boolean;
  };
}

export interface FeedbackConfig {
  /** BOUNCE_DOMAIN: the envelope sender becomes bounces+<token>@this domain (VERP). */
  bounceDomain: string | undefined;
  /** INBOUND_SMTP_PORT: the listener for BOUNCE_DOMAIN (unset: no listener). */
  inboundSmtpPort: number | undefined;
  inboundSmtpHost: string;
  /** Largest report accepted by the listener (a larger one is refused with 552). */
  inboundMaxBytes: number;
  /** INBOUND_CLIENT_MB_PER_HOUR: report bytes stored per client address an hour (0: no limit). */
  inboundClientBytesPerHour: number;
  /** TLS key and certificate offered by STARTTLS (PEM files); unset: a self-signed one. */
  inboundTlsKeyFile: string | undefined;
  inboundTlsCertFile: string | undefined;
  softBounceLimit: number;
  softBounceDays: number;
  /** BOUNCE_IMAP_URL: imap(s)://user:password@host[:port]/MAILBOX polled for reports. */
  imapUrl: string | undefined;
  /** Where handled mail is moved to. */
  imapDoneFolder: string;
  imapPollSeconds: number;
  /** Provider webhooks: a provider without configuration answers 404. */
  postmark: { username: string; password: string } | { header: string; token: string } | undefined;
  mailgunSigningKeys: string[];
  sendgridPublicKey: string | undefined;
  brevo: { token: string; queryParam: string | undefined } | undefined;
  /** How long a pending report stays leased by one worker while it classifies it. */
  leaseSeconds: number;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Collects every problem instead of stopping at the first, so one start-up names them all. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)}: expected an integer between ${min} and ${max}`);
      return fallback;
    }
    return n;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)}: expected a number between ${min} and ${max}`);
      return fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(v)}: expected true or false`);
    return fallback;
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if ((values as readonly string[]).includes(v)) return v as T;
    this.problems.push(`${name}=${JSON.stringify(v)}: expected ${values.join(' or ')}`);
    return fallback;
  }

  list(name: string, fallback: string[]): string[] {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    return v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  /** Checks only the variable's own value: a fallback from another variable was checked there. */
  email(name: string, fallback: string | undefined): string | undefined {
    const v = this.raw(name);
    if (v !== undefined && !/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(v)) {
      this.problems.push(`${name}=${JSON.stringify(v)}: expected an email address`);
    }
    return v ?? fallback;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const v = this.raw(name) ?? fallback;
    if (v === '') return v;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
    } catch {
      this.problems.push(`${name}=${JSON.stringify(withoutPassword(v))}: expected a URL (${protocols.join(' or ')})`);
    }
    return v;
  }

  rateLimit(name: string, fallback: RateLimit): RateLimit {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const parsed = parseRateLimit(v);
    if (!parsed) {
      this.problems.push(`${name}=${JSON.stringify(v)}: expected "unlimited" or N/hour or N/day`);
      return fallback;
    }
    return parsed;
  }
}

export function parseRateLimit(v: string): RateLimit | undefined {
  if (v.toLowerCase() === 'unlimited') return 'unlimited';
  const m = /^(\d+)\s*\/\s*(hour|day)$/i.exec(v);
  if (!m) return undefined;
  return { count: Number(m[1]), per: m[2]!.toLowerCase() as 'hour' | 'day' };
}

function readTrustProxy(r: Reader): string[] {
  const { entries, problems } = parseTrustProxy(r.list('TRUST_PROXY', ['loopback']));
  for (const p of problems) r.problems.push(`TRUST_PROXY: ${p}`);
  return problems.length > 0 ? ['loopback'] : entries;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const KNOWN_ATTACHMENT_TYPES = ['pdf', 'png', 'jpg', 'jpeg', 'gif', 'json', 'csv', 'txt'];

export function loadConfig(env: Env = process.env): Config {
  const r = new Reader(env);

  const host = r.string('HOST', '127.0.0.1');
  const port = r.int('PORT', 8000, 0, 65535);
  const dataDir = path.resolve(r.string('DATA_DIR', './data'));
  // The default database lives in DATA_DIR (a service that moves DATA_DIR moves its database with it).
  const databaseUrl = r.string('DATABASE_URL', `sqlite:${path.join(dataDir, 'postier.db')}`);
  const apiProcesses = r.int('API_PROCESSES', 1, 1, 64);
  // Each process opens the database itself: an in-memory one would be a different, empty database in each.
  if (apiProcesses > 1 && databaseUrl === 'sqlite::memory:')
    r.problems.push('API_PROCESSES > 1 needs a database file or PostgreSQL, not sqlite::memory:');
  if (!/^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(databaseUrl)) {
    r.problems.push(
      `DATABASE_URL=${JSON.stringify(withoutPassword(databaseUrl))}: expected sqlite:PATH or postgres://…`,
    );
  }
  const logLevel = r.string('LOG_LEVEL', 'info');
  if (!LOG_LEVELS.includes(logLevel))
    r.problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`);

  const adminToken = r.raw('POSTIER_ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 24) {
    r.problems.push('POSTIER_ADMIN_TOKEN: must be at least 24 characters (use `openssl rand -hex 24`)');
  }
  // A bearer token any host may try: long enough not to be guessed, and only characters a
  // header carries as they are (Prometheus sends it verbatim in Authorization).
  const metricsToken = r.raw('METRICS_TOKEN');
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(metricsToken))
    r.problems.push(
      'METRICS_TOKEN: must be at least 16 printable ASCII characters without spaces (use `openssl rand -hex 16`)',
    );
  const secretKey = r.raw('POSTIER_SECRET_KEY');
  if (secretKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(secretKey)) {
    r.problems.push('POSTIER_SECRET_KEY: expected 64 hex characters (32 bytes; `openssl rand -hex 32`)');
  }

  const smtpPort = r.int('SMTP_PORT', 587, 1, 65535);
  const fromEmail = r.email('SMTP_FROM_EMAIL', 'noreply@postier.localhost')!;
  const fromDomain = fromEmail.slice(fromEmail.lastIndexOf('@') + 1);
  if (!isDnsName(fromDomain))
    r.problems.push(`SMTP_FROM_EMAIL: ${JSON.stringify(fromDomain.slice(0, 80))} is not a DNS name ${DNS_NAME_RULE}`);
  const dkimDomain = r.raw('DKIM_DOMAIN');
  const dkimSelector = r.raw('DKIM_SELECTOR');
  const dkimKey = r.raw('DKIM_PRIVATE_KEY');
  const dkimSet = [dkimDomain, dkimSelector, dkimKey].filter((x) => x !== undefined).length;
  if (dkimSet !== 0 && dkimSet !== 3)
    r.problems.push('DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY: set all three or none');
  else if (dkimSet === 3 && !isDnsName(`${dkimSelector}._domainkey.${dkimDomain}`))
    r.problems.push(`DKIM_DOMAIN, DKIM_SELECTOR: ${DNS_NAME_RULE.slice(1, -1)} for <selector>._domainkey.<domain>`);
  // A key that does not load (or is not RSA) stops start-up: mail must never go out unsigned without a word.
  if (dkimKey !== undefined && !privateKeyLoads(dkimKey.replace(/\\n/g, '\n')))
    r.problems.push('DKIM_PRIVATE_KEY: not a PEM RSA private key (use \\n for the line breaks on one line)');

  const dkimKeys =
    dkimSet === 3
      ? [{ domain: dkimDomain!.toLowerCase(), selector: dkimSelector!, privateKey: dkimKey!.replace(/\\n/g, '\n') }]
      : [];
  for (const entry of r.list('DKIM_KEYS', [])) {
    const m = /^([A-Za-z0-9.-]+\.[A-Za-z0-9-]+):([A-Za-z0-9._-]+):(.+)$/.exec(entry);
    if (!m) {
      r.problems.push(`DKIM_KEYS: ${JSON.stringify(entry)} is not domain:selector:/path/to/private-key.pem`);
      continue;
    }
    const domain = m[1]!.toLowerCase();
    if (!isDnsName(domain) || !isDnsName(`${m[2]!}._domainkey.${domain}`)) {
      r.problems.push(
        `DKIM_KEYS: ${JSON.stringify(`${m[1]}:${m[2]}`.slice(0, 120))}: the domain or selector is not a DNS name ${DNS_NAME_RULE}`,
      );
      continue;
    }
    let pem = '';
    try {
      pem = readFileSync(m[3]!, 'utf8');
    } catch (e) {
      r.problems.push(`DKIM_KEYS: cannot read ${m[3]} for ${domain}: ${(e as Error).message}`);
      continue;
    }
    if (!privateKeyLoads(pem)) r.problems.push(`DKIM_KEYS: ${m[3]} (for ${domain}) is not a PEM RSA private key`);
    else if (dkimKeys.some((k) => k.domain === domain)) r.problems.push(`DKIM_KEYS: two keys for ${domain}`);
    else dkimKeys.push({ domain, selector: m[2]!, privateKey: pem });
  }

  const fromAllowed = [fromEmail.slice(fromEmail.lastIndexOf('@') + 1).toLowerCase()];
  for (const entry of r.list('FROM_ALLOWED_DOMAINS', []).map((e) => e.toLowerCase())) {
    if (!/^([^\s@<>",]+@)?[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(entry))
      r.problems.push(`FROM_ALLOWED_DOMAINS: ${JSON.stringify(entry)} is neither a domain nor an email address`);
    else if (!isDnsName(entry.slice(entry.lastIndexOf('@') + 1)))
      r.problems.push(`FROM_ALLOWED_DOMAINS: ${JSON.stringify(entry.slice(0, 80))} is not a DNS name ${DNS_NAME_RULE}`);
    else if (!fromAllowed.includes(entry)) fromAllowed.push(entry);
  }

  const allowedAttachmentTypes = r
    .list('EMAIL_ALLOWED_ATTACHMENT_TYPES', ['pdf', 'png', 'jpg', 'json', 'csv'])
    .map((t) => t.toLowerCase());
  for (const t of allowedAttachmentTypes) {
    if (!KNOWN_ATTACHMENT_TYPES.includes(t)) {
      r.problems.push(
        `EMAIL_ALLOWED_ATTACHMENT_TYPES: unknown type ${JSON.stringify(t)} (known: ${KNOWN_ATTACHMENT_TYPES.join(', ')})`,
      );
    }
  }

  // EMAIL_RATE_LIMIT_<CLASS>: one per sending class; transactional and marketing always exist.
  const rateLimits: Record<string, RateLimit> = {
    transactional: r.rateLimit('EMAIL_RATE_LIMIT_TRANSACTIONAL', 'unlimited'),
    marketing: r.rateLimit('EMAIL_RATE_LIMIT_MARKETING', { count: 1, per: 'day' }),
  };
  for (const name of Object.keys(env)) {
    const m = /^EMAIL_RATE_LIMIT_([A-Z0-9_]+)$/.exec(name);
    if (m?.[1] === 'ALL')
      r.problems.push('EMAIL_RATE_LIMIT_ALL: "all" is not a class (it is the suppression scope of all mail)');
    else if (m && !['TRANSACTIONAL', 'MARKETING'].includes(m[1]!)) {
      rateLimits[m[1]!.toLowerCase()] = r.rateLimit(name, 'unlimited');
    }
  }

  const timezone = r.string('EMAIL_TIMEZONE', 'UTC');
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    r.problems.push(`EMAIL_TIMEZONE=${JSON.stringify(timezone)}: unknown IANA time zone`);
  }

  const anonymizeDays = r.int('EMAIL_AUTO_ANONYMIZE_AFTER_DAYS', 90, 1, 36500);
  const retentionDays = r.int('EMAIL_AUDIT_RETENTION_DAYS', 365, 1, 36500);
  if (anonymizeDays > retentionDays) {
    r.problems.push('EMAIL_AUTO_ANONYMIZE_AFTER_DAYS: must not exceed EMAIL_AUDIT_RETENTION_DAYS');
  }

  const maxAttachmentMb = r.number('EMAIL_MAX_ATTACHMENT_SIZE_MB', 10, 0.001, 100);

  const brand = {
    name: r.string('BRAND_NAME', r.string('SMTP_FROM_NAME', 'Postier')),
    logoUrl: r.url('BRAND_LOGO_URL', '', ['https:', 'http:']),
    supportEmail: r.email('BRAND_SUPPORT_EMAIL', r.raw('SMTP_REPLY_TO') ?? fromEmail)!,
    websiteUrl: r.url('BRAND_WEBSITE_URL', '', ['https:', 'http:']),
  };

  const smtpTimeoutSeconds = r.number('SMTP_TIMEOUT_SECONDS', 30, 0.1, 600);
  const heartbeatSeconds = r.number('WORKER_HEARTBEAT_SECONDS', 5, 0.1, 600);
  const deadAfterSeconds = r.number('WORKER_DEAD_AFTER_SECONDS', 15, 0.5, 86_400);
  // One late beat (a busy database, a GC pause) must not make a live worker look dead.
  if (deadAfterSeconds < 2 * heartbeatSeconds)
    r.problems.push('WORKER_DEAD_AFTER_SECONDS: must be at least twice WORKER_HEARTBEAT_SECONDS');

  const sns = {
    certCacheDir: path.resolve(r.string('SNS_CERT_CACHE_DIR', path.join(dataDir, 'sns-certs'))),
    allowedTopicArns: r.list('SNS_ALLOWED_TOPIC_ARNS', []),
  };

  const feedback = readFeedback(r);
  const tlsCert = r.raw('SUBMISSION_TLS_CERT');
  const tlsKey = r.raw('SUBMISSION_TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined))
    r.problems.push('SUBMISSION_TLS_CERT and SUBMISSION_TLS_KEY: set both or none');
  for (const [name, file] of [
    ['SUBMISSION_TLS_CERT', tlsCert],
    ['SUBMISSION_TLS_KEY', tlsKey],
  ] as const) {
    if (file !== undefined && !existsSync(file)) r.problems.push(`${name}=${JSON.stringify(file)}: no such file`);
  }
  const maxRecipientsPerRequest = r.int('EMAIL_MAX_RECIPIENTS_PER_REQUEST', 50, 1, 1000);

  const config: Config = {
    host,
    port,
    publicUrl: r
      .url('PUBLIC_URL', `http://${host.includes(':') ? `[${host}]` : host}:${port}`, ['http:', 'https:'])
      .replace(/\/+$/, ''),
    databaseUrl,
    shutdownDelaySeconds: r.number('SHUTDOWN_DELAY_SECONDS', 0, 0, 300),
    databasePoolSize: r.int('DATABASE_POOL_SIZE', 10, 1, 10_000),
    databasePreparedStatements: r.bool('DATABASE_PREPARED_STATEMENTS', true),
    workerDatabasePoolSize: r.int('WORKER_DATABASE_POOL_SIZE', 5, 1, 10_000),
    dbLockWaitSeconds: r.number('DB_LOCK_WAIT_SECONDS', 10, 0.1, 3600),
    sqliteCacheMb: r.number('SQLITE_CACHE_MB', 64, 1, 65536),
    apiProcesses,
    dataDir,
    logLevel,
    adminToken,
    secretKey,
    metricsToken,
    // Base64 inflates by 4/3; leave room for several attachments and the JSON around them.
    bodyLimitBytes: r.int('API_BODY_LIMIT_MB', Math.max(25, Math.ceil(maxAttachmentMb * 3)), 1, 1024) * 1024 * 1024,
    trustProxy: readTrustProxy(r),
    apiAuth: {
      maxFailures: r.int('API_AUTH_MAX_FAILURES', 10, 1, 1000),
      lockoutSeconds: r.int('API_AUTH_LOCKOUT_SECONDS', 900, 1, 86_400),
    },
    smtp: {
      host: r.raw('SMTP_HOST'),
      port: smtpPort,
      user: r.raw('SMTP_USER'),
      password: r.raw('SMTP_PASSWORD'),
      fromName: r.string('SMTP_FROM_NAME', 'Postier'),
      fromEmail,
      replyTo: r.email('SMTP_REPLY_TO', undefined),
      useTls: r.bool('SMTP_USE_TLS', true),
      timeoutSeconds: smtpTimeoutSeconds,
      dataTimeoutSeconds: r.number('SMTP_DATA_TIMEOUT_SECONDS', 120, 0.1, 3600),
      relayProblemMaxHours: r.number('RELAY_PROBLEM_MAX_HOURS', 48, 0.0001, 24 * 365),
      retryMaxAttempts: r.int('SMTP_RETRY_MAX_ATTEMPTS', 3, 1, 50),
      poolSize: r.int('SMTP_POOL_SIZE', 5, 1, 100),
      fallbacks: readFallbacks(r),
      failoverCooldownSeconds: r.number('SMTP_FAILOVER_COOLDOWN_SECONDS', 60, 0.1, 86_400),
    },
    captureSmtpPort: r.int('CAPTURE_SMTP_PORT', 2525, 0, 65535),
    tracking: {
      opens: r.bool('TRACK_OPENS', false),
      clicks: r.bool('TRACK_CLICKS', false),
      categories: r.raw('TRACKING_CATEGORIES') === undefined ? null : r.list('TRACKING_CATEGORIES', []),
    },
    dnsServers: readDnsServers(r),
    domainVerification: r.oneOf('DOMAIN_VERIFICATION', ['report', 'enforce'] as const, 'report'),
    // At most 24 days: a longer period would overflow the timer (2^31 - 1 ms) and fire at once.
    domainCheckHours: r.number('DOMAIN_CHECK_HOURS', 6, 0, 24 * 24),
    spamd: hostPort(r, 'SPAMD_ADDRESS'),
    dkim:
      dkimSet === 3
        ? { domain: dkimDomain!, selector: dkimSelector!, privateKey: dkimKey!.replace(/\\n/g, '\n') }
        : undefined,
    dkimKeys,
    email: {
      rateLimits,
      retentionEnabled: r.bool('RETENTION_ENABLED', true),
      auditRetentionDays: retentionDays,
      autoAnonymizeAfterDays: anonymizeDays,
      maxAttachmentSizeBytes: Math.round(maxAttachmentMb * 1024 * 1024),
      allowedAttachmentTypes,
      templatesDir: path.resolve(r.string('EMAIL_TEMPLATES_DIR', './templates/emails')),
      suppressionBypassCategories: r.list('EMAIL_SUPPRESSION_BYPASS_CATEGORIES', []),
      defaultLocale: r.string('EMAIL_DEFAULT_LOCALE', 'fr'),
      timezone,
      fromAllowed,
      maxRecipientsPerRequest,
    },
    brand,
    worker: {
      batchSize: r.int('WORKER_BATCH_SIZE', 50, 1, 1000),
      concurrency: r.int('WORKER_CONCURRENCY', 20, 1, 500),
      buildBudgetBytes: r.int('WORKER_MAX_BUILD_MB', 128, 1, 65_536) * 1024 * 1024,
      leaseSeconds: r.int('WORKER_LEASE_SECONDS', 120, 5, 3600),
      pollMs: r.int('WORKER_POLL_MS', 250, 10, 60_000),
      thread: r.bool('WORKER_THREAD', true),
      metricsPort: r.raw('WORKER_METRICS_PORT') === undefined ? undefined : r.int('WORKER_METRICS_PORT', 0, 0, 65535),
      retryBaseSeconds: r.number('WORKER_RETRY_BASE_SECONDS', 30, 0.01, 86_400),
      retryMaxSeconds: r.number('WORKER_RETRY_MAX_SECONDS', 3600, 0.01, 7 * 86_400),
      heartbeatSeconds,
      deadAfterSeconds,
      // Long enough for a send that already started to end or time out, short enough for a
      // container's default stop grace period (30 s on Kubernetes).
      drainSeconds: r.number('WORKER_DRAIN_SECONDS', Math.min(smtpTimeoutSeconds + 2, 25), 0.1, 3600),
    },
    sns,
    feedback,
    unsubscribe: {
      classes: r.list('EMAIL_UNSUBSCRIBE_CLASSES', ['marketing']).map((c) => c.toLowerCase()),
      mailto: r.email('EMAIL_UNSUBSCRIBE_MAILTO', brand.supportEmail)!,
    },
    outboundWebhooks: {
      retryBaseMs: Math.round(r.number('WEBHOOK_RETRY_BASE_SECONDS', 10, 0.001, 3600) * 1000),
      maxAttempts: r.int('WEBHOOK_MAX_ATTEMPTS', 8, 1, 50),
      timeoutMs: Math.round(r.number('WEBHOOK_TIMEOUT_SECONDS', 10, 0.1, 120) * 1000),
      pollMs: r.int('WEBHOOK_POLL_MS', 1000, 10, 60_000),
    },
    submission: {
      enabled: r.bool('SUBMISSION_ENABLED', true),
      host: r.string('SUBMISSION_HOST', '127.0.0.1'),
      port: r.int('SUBMISSION_PORT', 2587, 0, 65535),
      tlsPort: r.raw('SUBMISSION_TLS_PORT') === undefined ? undefined : r.int('SUBMISSION_TLS_PORT', 0, 0, 65535),
      tlsCert: tlsCert === undefined ? undefined : path.resolve(tlsCert),
      tlsKey: tlsKey === undefined ? undefined : path.resolve(tlsKey),
      maxBytes: r.int('SUBMISSION_MAX_BYTES', 25 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      maxRecipients: r.int('SUBMISSION_MAX_RECIPIENTS', maxRecipientsPerRequest, 1, 1000),
      authMaxFailures: r.int('SUBMISSION_AUTH_MAX_FAILURES', 5, 1, 1000),
      authLockoutSeconds: r.int('SUBMISSION_AUTH_LOCKOUT_SECONDS', 900, 1, 86_400),
      spoolMaxAgeMs: Math.round(r.number('SUBMISSION_SPOOL_MAX_AGE_SECONDS', 10, 0, 3600) * 1000),
      flowDelayMs: r.int('SUBMISSION_FLOW_DELAY_MS', 1000, 10, 10_000),
      // PostgreSQL: the thread stores a third faster. SQLite: no faster (its one write lock is the
      // limit) for 90 MB more and more CPU per message (docs/benchmarks.md, fifteenth session).
      ingestThread: r.bool('SUBMISSION_INGEST_THREAD', !databaseUrl.startsWith('sqlite:')),
    },
  };

  for (const arn of sns.allowedTopicArns) {
    if (!/^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/.test(arn)) {
      r.problems.push(`SNS_ALLOWED_TOPIC_ARNS: ${JSON.stringify(arn)} is not an SNS topic ARN`);
    }
  }

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/** DNS_SERVERS: `ip`, `ip:port`, `[ipv6]:port`, comma-separated (what Node's resolver takes). */
function readDnsServers(r: Reader): string[] {
  const servers = r.list('DNS_SERVERS', []);
  for (const s of servers) {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(s);
    const ok = m ? isIP(m[1] ?? m[2]!) !== 0 && Number(m[3]) >= 1 && Number(m[3]) <= 65535 : isIP(s) !== 0;
    if (!ok) r.problems.push(`DNS_SERVERS: ${JSON.stringify(s)} is not an IP address (ip, ip:port or [ipv6]:port)`);
  }
  return servers;
}

/** A relay of SMTP_FALLBACK_URLS. `security`: implicit TLS, STARTTLS required, or plain SMTP. */
export interface SmtpRelayConfig {
  host: string;
  port: number;
  security: 'tls' | 'starttls' | 'none';
  user: string | undefined;
  password: string | undefined;
}

/**
 * SMTP_FALLBACK_URLS: comma-separated `smtp://[user:password@]host[:port]` (STARTTLS required,
 * or plain when SMTP_USE_TLS=false; port 587) and `smtps://…` (implicit TLS; port 465). The
 * user and password are URL-encoded. Problems never quote the URL: it may hold a password.
 */
function readFallbacks(r: Reader): SmtpRelayConfig[] {
  const v = r.raw('SMTP_FALLBACK_URLS');
  if (v === undefined || v.trim() === '') return [];
  const useTls = r.bool('SMTP_USE_TLS', true);
  const relays: SmtpRelayConfig[] = [];
  v.split(',').forEach((item, i) => {
    const where = `SMTP_FALLBACK_URLS, item ${i + 1}`;
    let u: URL;
    try {
      u = new URL(item.trim());
    } catch {
      r.problems.push(`${where}: expected smtp://[user:password@]host[:port] or smtps://…`);
      return;
    }
    if ((u.protocol !== 'smtp:' && u.protocol !== 'smtps:') || u.hostname === '') {
      r.problems.push(`${where}: expected smtp://[user:password@]host[:port] or smtps://…`);
      return;
    }
    if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
      r.problems.push(`${where}: a relay URL has no path, query or fragment`);
      return;
    }
    const implicit = u.protocol === 'smtps:';
    let user: string | undefined;
    let password: string | undefined;
    try {
      user = u.username === '' ? undefined : decodeURIComponent(u.username);
      password = u.password === '' ? undefined : decodeURIComponent(u.password);
    } catch {
      r.problems.push(`${where}: the user or password is not valid URL encoding`);
      return;
    }
    relays.push({
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port === '' ? (implicit ? 465 : 587) : Number(u.port),
      security: implicit ? 'tls' : useTls ? 'starttls' : 'none',
      user,
      password,
    });
  });
  if (relays.length > 0 && r.raw('SMTP_HOST') === undefined)
    r.problems.push('SMTP_FALLBACK_URLS: needs SMTP_HOST (the first relay; without it mail goes to the capture inbox)');
  if (relays.length > 9) r.problems.push('SMTP_FALLBACK_URLS: at most 9 fallback relays');
  return relays;
}

function readFeedback(r: Reader): FeedbackConfig {
  const bounceDomain = r.raw('BOUNCE_DOMAIN')?.toLowerCase();
  if (
    bounceDomain !== undefined &&
    !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$/.test(bounceDomain)
  )
    r.problems.push(`BOUNCE_DOMAIN=${JSON.stringify(bounceDomain)}: expected a domain name`);
  const inboundSmtpPort =
    r.raw('INBOUND_SMTP_PORT') === undefined ? undefined : r.int('INBOUND_SMTP_PORT', 0, 0, 65535);
  if (inboundSmtpPort !== undefined && bounceDomain === undefined)
    r.problems.push('INBOUND_SMTP_PORT: needs BOUNCE_DOMAIN (the listener accepts mail for that domain only)');
  const tlsKey = r.raw('INBOUND_SMTP_TLS_KEY_FILE');
  const tlsCert = r.raw('INBOUND_SMTP_TLS_CERT_FILE');
  if ((tlsKey === undefined) !== (tlsCert === undefined))
    r.problems.push('INBOUND_SMTP_TLS_KEY_FILE and INBOUND_SMTP_TLS_CERT_FILE: set both or neither');
  const imapUrl = r.raw('BOUNCE_IMAP_URL');
  if (imapUrl !== undefined) r.url('BOUNCE_IMAP_URL', imapUrl, ['imap:', 'imaps:']);
  const pmUser = r.raw('POSTMARK_WEBHOOK_USERNAME');
  const pmPass = r.raw('POSTMARK_WEBHOOK_PASSWORD');
  const pmToken = r.raw('POSTMARK_WEBHOOK_TOKEN');
  if ((pmUser === undefined) !== (pmPass === undefined))
    r.problems.push('POSTMARK_WEBHOOK_USERNAME and POSTMARK_WEBHOOK_PASSWORD: set both or neither');
  if (pmUser !== undefined && pmToken !== undefined)
    r.problems.push('POSTMARK_WEBHOOK_TOKEN: set it or POSTMARK_WEBHOOK_USERNAME/PASSWORD, not both');
  for (const [name, v] of [
    ['POSTMARK_WEBHOOK_PASSWORD', pmPass],
    ['POSTMARK_WEBHOOK_TOKEN', pmToken],
    ['BREVO_WEBHOOK_TOKEN', r.raw('BREVO_WEBHOOK_TOKEN')],
  ] as const) {
    if (v !== undefined && v.length < 16)
      r.problems.push(`${name}: use at least 16 characters (it is the only secret)`);
  }
  const brevoToken = r.raw('BREVO_WEBHOOK_TOKEN');
  const sendgridKey = r.raw('SENDGRID_WEBHOOK_PUBLIC_KEY');
  if (sendgridKey !== undefined && !isP256PublicKey(sendgridKey))
    r.problems.push(
      'SENDGRID_WEBHOOK_PUBLIC_KEY: expected the EC P-256 verification key SendGrid shows (base64 or PEM)',
    );
  return {
    bounceDomain,
    inboundSmtpPort,
    inboundSmtpHost: r.string('INBOUND_SMTP_HOST', '0.0.0.0'),
    inboundMaxBytes: Math.round(r.number('INBOUND_SMTP_MAX_MB', 10, 0.01, 100) * 1024 * 1024),
    inboundClientBytesPerHour: Math.round(r.number('INBOUND_CLIENT_MB_PER_HOUR', 100, 0, 1_000_000) * 1024 * 1024),
    inboundTlsKeyFile: tlsKey,
    inboundTlsCertFile: tlsCert,
    softBounceLimit: r.int('SOFT_BOUNCE_LIMIT', 5, 1, 1000),
    softBounceDays: r.number('SOFT_BOUNCE_DAYS', 7, 0.001, 365),
    imapUrl,
    imapDoneFolder: r.string('BOUNCE_IMAP_DONE_FOLDER', 'Postier/Handled'),
    imapPollSeconds: r.number('BOUNCE_IMAP_POLL_SECONDS', 60, 0.1, 86_400),
    postmark:
      pmUser !== undefined && pmPass !== undefined
        ? { username: pmUser, password: pmPass }
        : pmToken !== undefined
          ? { header: r.string('POSTMARK_WEBHOOK_HEADER', 'X-Postier-Webhook-Token'), token: pmToken }
          : undefined,
    mailgunSigningKeys: r.list('MAILGUN_WEBHOOK_SIGNING_KEY', []),
    sendgridPublicKey: sendgridKey?.replace(/\\n/g, '\n'),
    brevo: brevoToken ? { token: brevoToken, queryParam: r.raw('BREVO_WEBHOOK_QUERY_PARAM') } : undefined,
    leaseSeconds: r.int('FEEDBACK_LEASE_SECONDS', 60, 5, 3600),
  };
}

/** Loads ./.env into process.env (variables already set win), using Node's own parser. */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}

/** `host:port` (a bracketed IPv6 host too), or undefined when unset; a malformed one is a problem. */
function hostPort(r: Reader, name: string): { host: string; port: number } | undefined {
  const v = r.raw(name);
  if (v === undefined) return undefined;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    r.problems.push(`${name}=${JSON.stringify(v)}: expected host:port, e.g. 127.0.0.1:783`);
    return undefined;
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** An RSA key: DKIM signs with rsa-sha256 (src/delivery/mime/dkim.ts). */
function privateKeyLoads(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}

/** SendGrid's signed event webhook key: EC P-256, given as base64 DER (as its UI shows it) or PEM. */
function isP256PublicKey(key: string): boolean {
  try {
    const k = key.includes('BEGIN PUBLIC KEY')
      ? createPublicKey(key.replace(/\\n/g, '\n'))
      : createPublicKey({ key: Buffer.from(key.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
    return k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}
