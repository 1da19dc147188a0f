import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Config } from '../config.js';
import type { Envelope, SmtpTransport } from './process-message.js';
import { SmtpPool, type SmtpPoolOptions } from './smtp-pool.js';
import { failureFrom, replyCode, type SmtpOutcome } from './smtp-reply.js';

export interface SmtpTarget {
  host: string;
  port: number;
  /** Capture mode talks plain SMTP on loopback. */
  plain?: boolean;
}

/** The pool's options for the configured relay (or the capture server). */
function poolOptions(config: Config, target: SmtpTarget): SmtpPoolOptions {
  const timeoutMs = config.smtp.timeoutSeconds * 1000;
  const tls = config.smtp.useTls && !target.plain;
  const connection: SMTPConnection.Options = {
    host: target.host,
    port: target.port,
    // SMTP_USE_TLS: implicit TLS on 465, STARTTLS required elsewhere; plain SMTP when false.
    secure: tls && target.port === 465,
    requireTLS: tls && target.port !== 465,
    ignoreTLS: !tls,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  };
  const auth = config.smtp.user && !target.plain ? { user: config.smtp.user, pass: config.smtp.password ?? '' } : undefined;
  return { connection, auth, size: config.smtp.poolSize, maxMessages: 1000 };
}

/** One connection pool per process, sending the pre-built (and, with DKIM, pre-signed) MIME. */
export function createSmtpTransport(config: Config, target: SmtpTarget): SmtpTransport {
  const pool = new SmtpPool(poolOptions(config, target));
  return {
    async send(envelope: Envelope, raw: Buffer): Promise<SmtpOutcome> {
      try {
        const info = await pool.send(envelope, raw);
        const response = String(info.response ?? '');
        return { ok: true, code: replyCode(response), response, rejected: info.rejected.map(String) };
      } catch (e) {
        return failureFrom(e);
      }
    },
    close: () => pool.close(),
  };
}

/** /readyz: connect, EHLO, STARTTLS and AUTH as the worker would, on a connection of its own. */
export function verifySmtp(config: Config, target: SmtpTarget): Promise<void> {
  return new SmtpPool({ ...poolOptions(config, target), size: 1 }).verify();
}
