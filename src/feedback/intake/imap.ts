/**
 * A mailbox instead of a listener (BOUNCE_IMAP_URL), for installations that cannot expose port
 * 25: every BOUNCE_IMAP_POLL_SECONDS, the messages of the mailbox are stored as reports (the same
 * store, classified by the same processor) and then moved to BOUNCE_IMAP_DONE_FOLDER. Stored
 * before moved: a crash in between stores the message again next time, and the report's
 * dedupe key (its bytes) makes that one report.
 */
import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { Config } from '../../platform/config.js';
import type { DB } from '../../platform/db/schema.js';
import { storeReport } from './store.js';

/** Messages handled per poll at most: a flooded mailbox is drained over several polls. */
const PER_POLL = 200;

export interface ImapTarget {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password: string;
  mailbox: string;
}

/** imap(s)://user:password@host[:port]/MAILBOX (the user and password URL-encoded; INBOX by default). */
export function parseImapUrl(url: string): ImapTarget {
  const u = new URL(url);
  const secure = u.protocol === 'imaps:';
  const mailbox = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'INBOX';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : secure ? 993 : 143,
    secure,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    mailbox,
  };
}

export interface PollResult {
  stored: number;
  duplicates: number;
  /** Larger than INBOUND_SMTP_MAX_MB: moved away unread, with a warning. */
  tooLarge: number;
  moved: number;
}

export interface ImapPollerOptions {
  db: Kysely<DB>;
  config: Config;
  log: pino.Logger;
  onStored?: () => void;
}

export class ImapPoller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private readonly target: ImapTarget;

  constructor(private readonly opts: ImapPollerOptions) {
    if (!opts.config.feedback.imapUrl) throw new Error('the IMAP poller needs BOUNCE_IMAP_URL');
    this.target = parseImapUrl(opts.config.feedback.imapUrl);
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.poll()
        .catch((err: unknown) => this.opts.log.warn({ err, host: this.target.host }, 'feedback mailbox poll failed'))
        .finally(() => {
          this.running = null;
          if (this.stopped) return;
          this.timer = setTimeout(tick, this.opts.config.feedback.imapPollSeconds * 1000);
          this.timer.unref();
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass: store what the mailbox holds (up to PER_POLL messages), then move it to the done folder. */
  async poll(): Promise<PollResult> {
    const { db, config, log } = this.opts;
    const t = this.target;
    const done = config.feedback.imapDoneFolder;
    const { ImapFlow } = await import('imapflow');
    const client = new ImapFlow({
      host: t.host,
      port: t.port,
      secure: t.secure,
      auth: { user: t.user, pass: t.password },
      logger: false,
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: 120_000,
    });
    // A connection error after connect() is reported as an event: without a listener it would throw.
    client.on('error', (err: Error) => log.warn({ err }, 'feedback mailbox connection error'));
    const result: PollResult = { stored: 0, duplicates: 0, tooLarge: 0, moved: 0 };
    await client.connect();
    try {
      const exists = (await client.list()).some((m) => m.path === done);
      if (!exists) await client.mailboxCreate(done);
      const lock = await client.getMailboxLock(t.mailbox);
      try {
        const uids = ((await client.search({ all: true }, { uid: true })) || []).slice(0, PER_POLL);
        const handled: number[] = [];
        for (const uid of uids) {
          const meta = await client.fetchOne(String(uid), { uid: true, size: true }, { uid: true });
          if (!meta) continue;
          if ((meta.size ?? 0) > config.feedback.inboundMaxBytes) {
            log.warn({ uid, size: meta.size, mailbox: t.mailbox }, 'feedback mailbox: report too large, moved unread');
            result.tooLarge++;
            handled.push(uid);
            continue;
          }
          const msg = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
          if (msg === false || !msg.source) continue;
          const r = await storeReport(db, {
            source: 'imap',
            envelopeFrom: null,
            envelopeTo: [],
            raw: msg.source,
            receivedAt: Date.now(),
          });
          if (r.duplicate) result.duplicates++;
          else result.stored++;
          handled.push(uid);
        }
        if (handled.length) {
          const moved = await client.messageMove(handled.join(','), done, { uid: true });
          result.moved = moved ? handled.length : 0;
        }
      } finally {
        lock.release();
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
    if (result.stored) this.opts.onStored?.();
    return result;
  }
}
