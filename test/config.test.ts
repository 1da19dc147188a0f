import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/platform/config.js';

describe('configuration', () => {
  it('has working defaults for a fresh checkout', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8000);
    expect(c.host).toBe('127.0.0.1');
    expect(c.databaseUrl).toBe(`sqlite:${path.resolve('data', 'postier.db')}`);
    expect(c.smtp.host).toBeUndefined();
    expect(c.smtp.port).toBe(587);
    expect(c.smtp.retryMaxAttempts).toBe(3);
    expect(c.email.rateLimits).toEqual({ transactional: 'unlimited', marketing: { count: 1, per: 'day' } });
    expect(c.email.allowedAttachmentTypes).toEqual(['pdf', 'png', 'jpg', 'json', 'csv']);
    expect(c.email.maxAttachmentSizeBytes).toBe(10 * 1024 * 1024);
    expect(c.email.auditRetentionDays).toBe(365);
    expect(c.email.autoAnonymizeAfterDays).toBe(90);
  });

  it('reads the specification example values', () => {
    const c = loadConfig({
      SMTP_HOST: 'mail.rgz.bj',
      SMTP_PORT: '587',
      SMTP_USER: 'noreply@rgz.bj',
      SMTP_PASSWORD: 'your_smtp_password',
      SMTP_FROM_NAME: 'RGZ Notifications',
      SMTP_FROM_EMAIL: 'noreply@rgz.bj',
      SMTP_REPLY_TO: 'support@rgz.bj',
      SMTP_USE_TLS: 'true',
      SMTP_TIMEOUT_SECONDS: '30',
      SMTP_RETRY_MAX_ATTEMPTS: '3',
      EMAIL_RATE_LIMIT_TRANSACTIONAL: 'unlimited',
      EMAIL_RATE_LIMIT_MARKETING: '1/day',
      EMAIL_RATE_LIMIT_DIGEST: '3/hour',
      EMAIL_AUDIT_RETENTION_DAYS: '365',
      EMAIL_AUTO_ANONYMIZE_AFTER_DAYS: '90',
      EMAIL_MAX_ATTACHMENT_SIZE_MB: '10',
      EMAIL_ALLOWED_ATTACHMENT_TYPES: 'pdf,png,jpg,json,csv',
      EMAIL_TEMPLATES_DIR: '/app/templates/emails',
      DATABASE_URL: 'postgres://u:p@db:5432/postier',
    });
    expect(c.smtp).toMatchObject({
      host: 'mail.rgz.bj',
      user: 'noreply@rgz.bj',
      fromName: 'RGZ Notifications',
      replyTo: 'support@rgz.bj',
      useTls: true,
    });
    expect(c.email.rateLimits.digest).toEqual({ count: 3, per: 'hour' });
    expect(c.email.templatesDir).toBe('/app/templates/emails');
    expect(c.brand.supportEmail).toBe('support@rgz.bj');
  });

  it('names every bad variable in one error', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        SMTP_PORT: '70000',
        SMTP_USE_TLS: 'maybe',
        EMAIL_RATE_LIMIT_MARKETING: 'twice',
        EMAIL_ALLOWED_ATTACHMENT_TYPES: 'pdf,exe',
        DATABASE_URL: 'mysql://x',
        SMTP_FROM_EMAIL: 'not-an-address',
        POSTIER_ADMIN_TOKEN: 'short',
        DKIM_DOMAIN: 'rgz.bj',
        EMAIL_TIMEZONE: 'Mars/Olympus',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'PORT',
      'SMTP_PORT',
      'SMTP_USE_TLS',
      'EMAIL_RATE_LIMIT_MARKETING',
      'EMAIL_ALLOWED_ATTACHMENT_TYPES',
      'DATABASE_URL',
      'SMTP_FROM_EMAIL',
      'POSTIER_ADMIN_TOKEN',
      'DKIM_',
      'EMAIL_TIMEZONE',
    ]) {
      expect(problems).toContain(name);
    }
    expect((error as ConfigError).problems).toHaveLength(10);
  });

  it('reads the SMTP deadlines and the relay-problem bound, with defaults, and refuses nonsense', () => {
    expect(loadConfig({}).smtp).toMatchObject({
      timeoutSeconds: 30,
      dataTimeoutSeconds: 120,
      relayProblemMaxHours: 48,
    });
    expect(
      loadConfig({ SMTP_TIMEOUT_SECONDS: '0.5', SMTP_DATA_TIMEOUT_SECONDS: '600', RELAY_PROBLEM_MAX_HOURS: '0.5' })
        .smtp,
    ).toMatchObject({
      timeoutSeconds: 0.5,
      dataTimeoutSeconds: 600,
      relayProblemMaxHours: 0.5,
    });
    expect(() => loadConfig({ SMTP_DATA_TIMEOUT_SECONDS: 'forever', RELAY_PROBLEM_MAX_HOURS: '-1' })).toThrow(
      /SMTP_DATA_TIMEOUT_SECONDS[\s\S]*RELAY_PROBLEM_MAX_HOURS/,
    );
  });

  it('reads the fallback relays, SMTP_FALLBACK_URLS, and refuses bad ones without quoting their passwords', () => {
    expect(loadConfig({}).smtp).toMatchObject({ fallbacks: [], failoverCooldownSeconds: 60 });
    const c = loadConfig({
      SMTP_HOST: 'smtp.primary.test',
      SMTP_FALLBACK_URLS:
        ' smtps://AKIA%2Fx:s%40cr%20et@email-smtp.eu-west-1.amazonaws.com , smtp://[::1]:2525,smtp://u:p@relay.test:587',
      SMTP_FAILOVER_COOLDOWN_SECONDS: '5',
    }).smtp;
    expect(c.failoverCooldownSeconds).toBe(5);
    expect(c.fallbacks).toEqual([
      { host: 'email-smtp.eu-west-1.amazonaws.com', port: 465, security: 'tls', user: 'AKIA/x', password: 's@cr et' },
      { host: '::1', port: 2525, security: 'starttls', user: undefined, password: undefined },
      { host: 'relay.test', port: 587, security: 'starttls', user: 'u', password: 'p' },
    ]);
    // SMTP_USE_TLS=false makes smtp:// plain, as it makes SMTP_HOST plain; smtps:// stays TLS.
    expect(
      loadConfig({
        SMTP_HOST: 'a.test',
        SMTP_USE_TLS: 'false',
        SMTP_FALLBACK_URLS: 'smtp://b.test,smtps://c.test',
      }).smtp.fallbacks.map((f) => f.security),
    ).toEqual(['none', 'tls']);
    const bad = (v: string, env: Record<string, string> = { SMTP_HOST: 'a.test' }) => {
      try {
        loadConfig({ ...env, SMTP_FALLBACK_URLS: v });
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error(`${v} was accepted`);
    };
    expect(bad('http://u:hunter2@b.test')).toMatch(/SMTP_FALLBACK_URLS, item 1: expected smtp:\/\//);
    expect(bad('http://u:hunter2@b.test')).not.toContain('hunter2');
    expect(bad('smtp://b.test,not a url')).toMatch(/item 2: expected/);
    expect(bad('smtp://b.test/path')).toMatch(/item 1: a relay URL has no path/);
    expect(bad('smtp://u:%E0%A4%A@b.test')).toMatch(/item 1: the user or password is not valid URL encoding/);
    expect(bad('smtp://b.test', {})).toMatch(/SMTP_FALLBACK_URLS: needs SMTP_HOST/);
    expect(() => loadConfig({ SMTP_FAILOVER_COOLDOWN_SECONDS: '0' })).toThrow(/SMTP_FAILOVER_COOLDOWN_SECONDS/);
  });

  it("puts the submission spool's ingester on a thread by default on PostgreSQL only, and reads the override", () => {
    const thread = (env: Record<string, string>) => loadConfig(env).submission.ingestThread;
    expect(thread({})).toBe(false);
    expect(thread({ DATABASE_URL: 'postgres://db.example/postier' })).toBe(true);
    expect(thread({ SUBMISSION_INGEST_THREAD: 'true' })).toBe(true);
    expect(thread({ DATABASE_URL: 'postgresql://db.example/postier', SUBMISSION_INGEST_THREAD: 'false' })).toBe(false);
    expect(() => loadConfig({ SUBMISSION_INGEST_THREAD: 'sometimes' })).toThrow(/SUBMISSION_INGEST_THREAD/);
  });

  it('quotes a bad DATABASE_URL or BOUNCE_IMAP_URL without its password', () => {
    for (const [env, shown] of [
      [
        { DATABASE_URL: 'postgresql+psycopg://app:hunter2@db.internal/postier' },
        'postgresql+psycopg://app:***@db.internal',
      ],
      [{ BOUNCE_IMAP_URL: 'pop3://bounces:s3cr%40t@mail.example/INBOX' }, 'pop3://bounces:***@mail.example'],
    ] as const) {
      try {
        loadConfig(env);
        expect.unreachable(JSON.stringify(env));
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        const message = (e as ConfigError).message;
        expect(message).toContain(shown);
        expect(message).not.toMatch(/hunter2|s3cr/);
      }
    }
  });

  it('refuses a METRICS_TOKEN that could be guessed or that a header cannot carry', () => {
    expect(loadConfig({ METRICS_TOKEN: 'scrape-secret-123' }).metricsToken).toBe('scrape-secret-123');
    for (const bad of ['secret', 'fifteen-chars-x', 'a token with spaces', 'é'.repeat(20)])
      expect(() => loadConfig({ METRICS_TOKEN: bad }), bad).toThrow(
        /METRICS_TOKEN: must be at least 16 printable ASCII/,
      );
  });

  it('reads the DNS checks of the sending domains: DNS_SERVERS and DOMAIN_CHECK_HOURS', () => {
    expect(loadConfig({})).toMatchObject({ dnsServers: [], domainCheckHours: 6, domainVerification: 'report' });
    expect(loadConfig({ DOMAIN_VERIFICATION: 'Enforce' }).domainVerification).toBe('enforce');
    expect(() => loadConfig({ DOMAIN_VERIFICATION: 'strict' })).toThrow(
      /DOMAIN_VERIFICATION="strict": expected report or enforce/,
    );
    expect(
      loadConfig({ DNS_SERVERS: '127.0.0.1:5353, 9.9.9.9,[::1]:53,2001:db8::1', DOMAIN_CHECK_HOURS: '0' }),
    ).toMatchObject({ dnsServers: ['127.0.0.1:5353', '9.9.9.9', '[::1]:53', '2001:db8::1'], domainCheckHours: 0 });
    for (const bad of ['999.1.1.1:53', '127.0.0.1:70000', '[1.2.3]:53', 'dns.google:53'])
      expect(() => loadConfig({ DNS_SERVERS: bad }), bad).toThrow(/DNS_SERVERS/);
    // Past 24 days the interval timer would overflow and fire at once.
    expect(() => loadConfig({ DOMAIN_CHECK_HOURS: '600' })).toThrow(/DOMAIN_CHECK_HOURS/);
    expect(() => loadConfig({ DNS_SERVERS: 'dns.google', DOMAIN_CHECK_HOURS: '-1' })).toThrow(
      /DNS_SERVERS: "dns.google" is not an IP address[\s\S]*DOMAIN_CHECK_HOURS/,
    );
  });

  it('refuses a DKIM key that does not load (the signer would send unsigned mail without a word)', () => {
    const dkim = { DKIM_DOMAIN: 'rgz.bj', DKIM_SELECTOR: 'postier2026' };
    expect(() =>
      loadConfig({ ...dkim, DKIM_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\\nnot a key\\n-----END PRIVATE KEY-----' }),
    ).toThrow(/DKIM_PRIVATE_KEY: not a PEM RSA private key/);
    const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => loadConfig({ ...dkim, DKIM_PRIVATE_KEY: ed25519.replace(/\n/g, '\\n') })).toThrow(
      /not a PEM RSA private key/,
    );
    const pem = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(loadConfig({ ...dkim, DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n') }).dkim).toEqual({
      domain: 'rgz.bj',
      selector: 'postier2026',
      privateKey: pem,
    });
  });

  it('reads the SQLite lock budget, DB_LOCK_WAIT_SECONDS (10 s unless set), and refuses none at all', () => {
    expect(loadConfig({}).dbLockWaitSeconds).toBe(10);
    expect(loadConfig({ DB_LOCK_WAIT_SECONDS: '2.5' }).dbLockWaitSeconds).toBe(2.5);
    expect(() => loadConfig({ DB_LOCK_WAIT_SECONDS: '0' })).toThrow(/DB_LOCK_WAIT_SECONDS/);
  });

  it('reads the drain deadline, WORKER_DRAIN_SECONDS: SMTP_TIMEOUT_SECONDS + 2 unless set, 25 at most by default', () => {
    expect(loadConfig({}).worker.drainSeconds).toBe(25);
    expect(loadConfig({ SMTP_TIMEOUT_SECONDS: '5' }).worker.drainSeconds).toBe(7);
    expect(loadConfig({ WORKER_DRAIN_SECONDS: '130' }).worker.drainSeconds).toBe(130);
    expect(() => loadConfig({ WORKER_DRAIN_SECONDS: '0' })).toThrow(/WORKER_DRAIN_SECONDS/);
    expect(() => loadConfig({ WORKER_DRAIN_SECONDS: 'soon' })).toThrow(/WORKER_DRAIN_SECONDS/);
  });

  it('reads the worker build budget, WORKER_MAX_BUILD_MB (128 unless set), in bytes, and refuses none', () => {
    expect(loadConfig({}).worker.buildBudgetBytes).toBe(128 * 1024 * 1024);
    expect(loadConfig({ WORKER_MAX_BUILD_MB: '512' }).worker.buildBudgetBytes).toBe(512 * 1024 * 1024);
    expect(() => loadConfig({ WORKER_MAX_BUILD_MB: '0' })).toThrow(/WORKER_MAX_BUILD_MB/);
    expect(() => loadConfig({ WORKER_MAX_BUILD_MB: 'lots' })).toThrow(/WORKER_MAX_BUILD_MB/);
  });
});
