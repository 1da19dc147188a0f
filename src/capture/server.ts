import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { DB } from '../platform/db/schema.js';
import { storeCapturedMail } from './store.js';

export interface CaptureServer {
  port: number;
  close(): Promise<void>;
}

const MAX_SIZE = 50 * 1024 * 1024;

/**
 * The embedded SMTP server used when SMTP_HOST is unset: it accepts everything on loopback and
 * stores it for the dev inbox, so a newcomer sees real mail flow with no account. Nothing
 * received here is ever relayed.
 */
export async function startCaptureServer(
  db: Kysely<DB>,
  log: pino.Logger,
  port: number,
  host = '127.0.0.1',
): Promise<CaptureServer> {
  // Loaded here, not with the module: a deployment with a relay never starts this server.
  const { SMTPServer } = await import('smtp-server');
  const server = new SMTPServer({
    secure: false,
    // Loopback only, no credentials to protect: plain SMTP, no AUTH.
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    size: MAX_SIZE,
    banner: 'Postier capture server: mail is stored, NOT delivered',
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
          return callback(Object.assign(new Error('Message too large for the capture inbox'), { responseCode: 552 }));
        }
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        storeCapturedMail(db, Buffer.concat(chunks), envelope).then(
          (id) => callback(null, `Ok captured ${id}`),
          (err: unknown) => {
            log.error({ err }, 'capture: could not store a message');
            callback(Object.assign(new Error('Could not store the message, try again'), { responseCode: 451 }));
          },
        );
      });
    },
  });
  server.on('error', (err) => log.error({ err }, 'capture SMTP server error'));
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      resolve();
    });
  });
  const actual = (server.server.address() as AddressInfo).port;
  return {
    port: actual,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
