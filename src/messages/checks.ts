import type { Kysely } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import { checkHtml, htmlCheckResult, checkLinks, countCheck, spamReport } from '../checks/index.js';
import { readContent } from '../content/index.js';
import type { DB, MessageRow } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { messageWithBodies } from './queries.js';

/**
 * The checks of an archived message: they read what the archive holds, so a sensitive value the
 * archive masks stays masked in every answer (the sealed clear content is never opened here).
 */
export interface ArchiveChecks {
  db: Kysely<DB>;
  /** SPAMD_ADDRESS: the spamd that scores mail (none: the spam check answers 409 spam_check_unavailable). */
  spamd?: { host: string; port: number } | undefined;
  /** The MIME delivery builds for a message: delivery's MimeCache, through its public index. */
  mime(message: MessageRow): Promise<{ raw: Buffer }>;
}

export async function archivedHtmlCheck(db: Kysely<DB>, id: string) {
  const check = await checkHtml((await messageWithBodies(db, id)).html_content);
  countCheck('html', 'archive', htmlCheckResult(check));
  return check;
}

export async function archivedLinkCheck(db: Kysely<DB>, id: string) {
  const links = checkLinks((await messageWithBodies(db, id)).html_content);
  countCheck('links', 'archive', links.some((l) => l.problems.length > 0) ? 'warned' : 'passed');
  return { links };
}

/**
 * SpamAssassin's report of the message as delivery builds it (headers, DKIM signature, its MIME
 * structure), from the archived content: the masked rendering, not the sealed clear one. Mail
 * submitted over SMTP is its own stored MIME. Only numbers and rule names come back.
 */
export async function archivedSpamCheck(s: ArchiveChecks, id: string, log: FastifyBaseLogger) {
  const m = await messageWithBodies(s.db, id);
  const erased =
    m.anonymized_at !== null ||
    (m.raw_sha256 === null
      ? m.html_content === null && m.text_content === null
      : (await readContent(s.db, m.raw_sha256)) === null);
  if (erased)
    throw new AppError('invalid_state', 'This message was anonymized or erased: its content is no longer archived', {
      id,
    });
  if (!s.spamd) {
    countCheck('spam', 'archive', 'unavailable');
    throw new AppError('spam_check_unavailable', 'No spamd to ask: SPAMD_ADDRESS is not set');
  }
  const { raw } = await s.mime({ ...m, sealed_content: null });
  try {
    const report = await spamReport(s.spamd, raw);
    countCheck('spam', 'archive', report.is_spam ? 'warned' : 'passed');
    return report;
  } catch (e) {
    log.warn({ err: e }, 'spam check failed');
    countCheck('spam', 'archive', 'unavailable');
    throw new AppError('spam_check_unavailable', `spamd at ${s.spamd.host}:${s.spamd.port}: ${(e as Error).message}`);
  }
}
