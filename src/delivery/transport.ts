import type { Config } from '../platform/config.js';
import { errorCodeOf, failureOutcome, replyText, type SmtpOutcome, transactionOutcome } from './outcome.js';
import type { Envelope, SendHooks, SmtpTransport } from './process-message.js';
import type { SmtpSecurity } from './smtp-client/index.js';
import { SmtpPool, type SmtpPoolOptions } from './smtp-pool.js';

export interface SmtpTarget {
  host: string;
  port: number;
  /** Capture mode talks plain SMTP on loopback. */
  plain?: boolean;
  /** The embedded capture server (no SMTP_HOST): what it accepts is `captured`, never `sent`. */
  capture?: boolean;
  /** A fallback relay (SMTP_FALLBACK_URLS): its name, and its own TLS and login. */
  fallback?: { name: string; security: SmtpSecurity; auth: { user: string; pass: string } | undefined };
}

/**
 * The name the relay's health is recorded under (GET /api/v1/delivery/relay, the `transport`
 * label of the relay metrics, the `relay` of an attempt sent through a fallback).
 */
export function transportName(target: SmtpTarget): string {
  return target.fallback?.name ?? (target.plain ? 'capture' : 'relay');
}

/** A relay as an operator sees it (GET /api/v1/system): name, address, TLS, whether it logs in; never the password. */
export interface RelayDescription {
  name: string;
  address: string;
  tls: SmtpSecurity;
  authenticated: boolean;
}

export function describeRelay(config: Config, target: SmtpTarget): RelayDescription {
  const { client } = poolOptions(config, target);
  return {
    name: transportName(target),
    address: `${target.host}:${target.port}`,
    tls: client.security,
    authenticated: client.auth !== undefined,
  };
}

/** The pool's options for the configured relay (or the capture server). */
export function poolOptions(config: Config, target: SmtpTarget): SmtpPoolOptions {
  const tls = config.smtp.useTls && !target.plain;
  // SMTP_USE_TLS: implicit TLS on 465, STARTTLS required elsewhere; plain SMTP when false.
  const security: SmtpSecurity =
    target.fallback?.security ?? (!tls ? 'none' : target.port === 465 ? 'tls' : 'starttls');
  const auth = target.fallback
    ? target.fallback.auth
    : config.smtp.user && !target.plain
      ? { user: config.smtp.user, pass: config.smtp.password ?? '' }
      : undefined;
  return {
    client: {
      host: target.host,
      port: target.port,
      security,
      auth,
      timeoutMs: config.smtp.timeoutSeconds * 1000,
      dataTimeoutMs: config.smtp.dataTimeoutSeconds * 1000,
    },
    size: config.smtp.poolSize,
    maxMessages: 1000,
  };
}

/** One connection pool per process, sending the pre-built (and, with DKIM, pre-signed) MIME. */
export function createSmtpTransport(config: Config, target: SmtpTarget): SmtpTransport {
  const pool = new SmtpPool(poolOptions(config, target));
  return {
    async send(envelope: Envelope, raw: Buffer, hooks?: SendHooks): Promise<SmtpOutcome> {
      try {
        return transactionOutcome(await pool.send(envelope, raw, hooks));
      } catch (e) {
        return failureOutcome(e);
      }
    },
    close: () => pool.close(),
  };
}

/**
 * /readyz: connect, EHLO, STARTTLS and AUTH as the worker would, on a connection of its own.
 * With fallback relays, ready when one of them answers (failover delivers through it); the
 * first relay's failure is the one reported when none does.
 */
export async function verifySmtp(config: Config, targets: SmtpTarget | SmtpTarget[]): Promise<void> {
  let firstError: unknown;
  for (const t of Array.isArray(targets) ? targets : [targets]) {
    try {
      return await verifyOne(config, t);
    } catch (e) {
      firstError ??= e;
    }
  }
  throw firstError;
}

function verifyOne(config: Config, target: SmtpTarget): Promise<void> {
  return new SmtpPool({ ...poolOptions(config, target), size: 1 }).verify().catch((e: unknown) => {
    // /readyz names the failure by a short code (ECONNECTION, ETIMEDOUT, ETLS, EAUTH, …).
    throw Object.assign(new Error(replyText(e instanceof Error ? e.message : String(e)), { cause: e }), {
      code: errorCodeOf(failureOutcome(e)),
    });
  });
}
