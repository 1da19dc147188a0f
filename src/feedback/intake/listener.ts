/**
 * The inbound SMTP listener of BOUNCE_DOMAIN (INBOUND_SMTP_PORT): where relays and mailbox
 * providers send bounces, complaints and auto-replies to the VERP return path. It accepts mail
 * for that domain only (550 for anything else: never an open relay), no AUTH, STARTTLS offered.
 * Each report is stored raw before the 250; classification happens later, elsewhere
 * (processor.ts), so a flood of reports costs this loop only its I/O.
 */
import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { SMTPServerOptions } from 'smtp-server';
import type { Config } from '../../platform/config.js';
import type { DB } from '../../platform/db/schema.js';
import { Counter } from 'prom-client';
import { registry } from '../../platform/metrics.js';
import { readTls } from '../../platform/tls-pair.js';
import { verpKey, verpMessageId } from '../return-path.js';
import { ClientByteBudget } from './client-budget.js';
import { storeReport } from './store.js';

export const inboundRefused = new Counter({
  name: 'postier_feedback_inbound_refused_total',
  help: 'Reports the inbound listener refused before storing them: `client_budget` (the client address stored INBOUND_CLIENT_MB_PER_HOUR already)',
  labelNames: ['reason'],
  registers: [registry],
});

export interface InboundListener {
  port: number;
  /** Reports stored by this listener since it started. */
  stored(): number;
  close(): Promise<void>;
}

export interface ListenerOptions {
  db: Kysely<DB>;
  config: Config;
  log: pino.Logger;
  /** A report was stored (rings the processor of this process, if it has one). */
  onStored?: () => void;
  /** Overrides INBOUND_SMTP_PORT (0: any free port, as tests use). */
  port?: number;
  host?: string;
  /** Client addresses with no byte budget (default: loopback; tests count 127.0.0.x clients). */
  budgetExempt?: (address: string) => boolean;
}

const smtpError = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

/** Recipients of one report at most: a report goes to one return path. */
const MAX_RECIPIENTS = 20;

export async function startInboundListener(opts: ListenerOptions): Promise<InboundListener> {
  const { db, config, log } = opts;
  const domain = config.feedback.bounceDomain;
  if (!domain) throw new Error('the inbound listener needs BOUNCE_DOMAIN');
  const key = verpKey(config);
  const maxBytes = config.feedback.inboundMaxBytes;
  const { SMTPServer } = await import('smtp-server');
  const budget = new ClientByteBudget(config.feedback.inboundClientBytesPerHour, { exempt: opts.budgetExempt });
  let stored = 0;
  // Without files, smtp-server's own self-signed certificate: senders that insist on TLS get it,
  // senders of bounces do not verify certificates (opportunistic TLS).
  const tls: Partial<SMTPServerOptions> =
    config.feedback.inboundTlsKeyFile && config.feedback.inboundTlsCertFile
      ? readTls({ key: config.feedback.inboundTlsKeyFile, cert: config.feedback.inboundTlsCertFile })
      : {};
  const server = new SMTPServer({
    ...tls,
    secure: false,
    disabledCommands: ['AUTH'],
    authOptional: true,
    size: maxBytes,
    maxClients: 200,
    banner: 'Postier feedback: reports for this domain only',
    logger: false,
    onMailFrom(_address, session, callback) {
      if (!budget.allows(session.remoteAddress)) {
        inboundRefused.inc({ reason: 'client_budget' });
        return callback(smtpError(452, '4.7.1 Too many reports from your address this hour, try again later'));
      }
      callback();
    },
    onRcptTo(address, session, callback) {
      const addr = address.address.trim();
      const at = addr.lastIndexOf('@');
      if (at < 0 || addr.slice(at + 1).toLowerCase() !== domain) {
        return callback(
          smtpError(550, `5.7.1 <${addr}>: relay not permitted, this server takes mail for ${domain} only`),
        );
      }
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS)
        return callback(smtpError(452, '4.5.3 Too many recipients'));
      // A return path must carry a token that checks; other local parts (abuse@, fbl@) are kept.
      const local = addr.slice(0, at).toLowerCase();
      if (/^bounces[+-]/.test(local) && !verpMessageId(config, key, addr)) {
        return callback(smtpError(550, `5.1.1 <${addr}>: unknown or altered return path`));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      // smtp-server reads a message past its size limit to the end (it only marks the stream):
      // what is past the limit is read and dropped, never kept, or one client sending gigabytes
      // would hold them all in memory before its 552.
      let kept = 0;
      stream.on('data', (c: Buffer) => {
        if (kept > maxBytes) return;
        kept += c.length;
        chunks.push(c);
      });
      stream.on('error', (err) => log.warn({ err }, 'feedback listener: message stream failed'));
      stream.on('end', () => {
        if (kept > maxBytes || stream.sizeExceeded) {
          chunks.length = 0;
          return callback(smtpError(552, `5.3.4 Report larger than ${maxBytes} bytes refused`));
        }
        const raw = Buffer.concat(chunks);
        if (raw.length === 0) return callback(smtpError(554, '5.6.0 Empty message'));
        const mailFrom = session.envelope.mailFrom;
        storeReport(db, {
          source: 'smtp',
          envelopeFrom: mailFrom ? mailFrom.address : '',
          envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          raw,
          receivedAt: Date.now(),
        }).then(
          (r) => {
            stored++;
            budget.spend(session.remoteAddress, raw.length);
            opts.onStored?.();
            callback(null, `2.6.0 Ok report ${r.id}${r.duplicate ? ' (already received)' : ''}`);
          },
          (err: unknown) => {
            log.error({ err }, 'feedback listener: could not store a report');
            callback(smtpError(451, '4.3.0 Could not store the report, try again later'));
          },
        );
      });
    },
  });
  server.on('error', (err) => log.warn({ err }, 'feedback listener: SMTP error'));
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.server.once('error', onError);
    server.listen(
      opts.port ?? config.feedback.inboundSmtpPort ?? 0,
      opts.host ?? config.feedback.inboundSmtpHost,
      () => {
        server.server.off('error', onError);
        resolve();
      },
    );
  });
  const port = (server.server.address() as AddressInfo).port;
  log.info({ port, domain }, 'feedback listener started');
  return {
    port,
    stored: () => stored,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
