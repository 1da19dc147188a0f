import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { Config } from '../platform/config.js';
import type { DB } from '../platform/db/schema.js';
import { type CaptureServer, startCaptureServer } from './server.js';

/**
 * With SMTP_HOST unset, mail goes to the embedded capture server. Any Postier process on this
 * host may start it; if another one already listens on the port, this one delivers there too.
 */
export async function startCaptureIfNeeded(s: {
  config: Config;
  db: Kysely<DB>;
  log: pino.Logger;
}): Promise<CaptureServer | null> {
  if (s.config.smtp.host) return null;
  try {
    const capture = await startCaptureServer(s.db, s.log, s.config.captureSmtpPort);
    s.log.warn(
      { port: capture.port },
      `SMTP_HOST is not set: mail is CAPTURED on 127.0.0.1:${capture.port}, NOT DELIVERED. Read it at GET /api/v1/dev/inbox; set SMTP_HOST to deliver for real.`,
    );
    return capture;
  } catch (e) {
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
    s.log.warn(
      { port: s.config.captureSmtpPort },
      'SMTP_HOST is not set and the capture port is taken (another Postier process?): mail is CAPTURED there, NOT DELIVERED',
    );
    return null;
  }
}
