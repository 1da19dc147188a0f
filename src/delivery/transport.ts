import nodemailer from 'nodemailer';
import type { Config } from '../config.js';
import type { Envelope, SmtpTransport } from './process-message.js';
import { failureFrom, replyCode, type SmtpOutcome } from './smtp-reply.js';

export interface SmtpTarget {
  host: string;
  port: number;
  /** Capture mode talks plain SMTP on loopback. */
  plain?: boolean;
}

/** Nodemailer's options for the configured relay (or the capture server). */
function transportOptions(config: Config, target: SmtpTarget) {
  const timeoutMs = config.smtp.timeoutSeconds * 1000;
  const tls = config.smtp.useTls && !target.plain;
  return {
    pool: true,
    host: target.host,
    port: target.port,
    // SMTP_USE_TLS: implicit TLS on 465, STARTTLS required elsewhere; plain SMTP when false.
    secure: tls && target.port === 465,
    requireTLS: tls && target.port !== 465,
    ignoreTLS: !tls,
    auth: config.smtp.user && !target.plain ? { user: config.smtp.user, pass: config.smtp.password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    maxConnections: config.smtp.poolSize,
    maxMessages: 1000,
    maxRequeues: 0,
    dkim: config.dkim ? { domainName: config.dkim.domain, keySelector: config.dkim.selector, privateKey: config.dkim.privateKey } : undefined,
  };
}

/**
 * One pooled Nodemailer transport per process, sending pre-built raw MIME. Nodemailer's own
 * requeue-on-dropped-connection is off: every attempt must be ours, recorded as an event and
 * counted against the message's max_attempts.
 */
export function createSmtpTransport(config: Config, target: SmtpTarget): SmtpTransport {
  const transporter = nodemailer.createTransport(transportOptions(config, target));
  return {
    async send(envelope: Envelope, raw: Buffer): Promise<SmtpOutcome> {
      try {
        // Nodemailer's overloads type the promise form oddly; this is what it resolves to.
        const info = (await (transporter.sendMail({ envelope: { ...envelope }, raw }) as unknown as Promise<{ response?: string; rejected?: unknown[] }>));
        const response = String(info.response ?? '');
        return { ok: true, code: replyCode(response), response, rejected: (info.rejected ?? []).map(String) };
      } catch (e) {
        return failureFrom(e);
      }
    },
    close: () => transporter.close(),
  };
}

/** /readyz: connect, EHLO, STARTTLS and AUTH as the worker would, on a connection of its own. */
export async function verifySmtp(config: Config, target: SmtpTarget): Promise<void> {
  const transporter = nodemailer.createTransport({ ...transportOptions(config, target), pool: false });
  try {
    await transporter.verify();
  } finally {
    transporter.close();
  }
}
