import { type Transaction, sql } from 'kysely';
import type { RateLimit } from '../platform/config.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import type { AdmissionPolicy } from '../accept/index.js';
import { DAY_MS, HOUR_MS } from '../platform/time.js';
import { addressSpellings } from '../suppressions/index.js';

const WINDOW_MS = { hour: HOUR_MS, day: DAY_MS } as const;

/** Messages that never go out do not use up the allowance. */
const NOT_COUNTED = ['rate_limited', 'suppressed', 'cancelled'] as const;

/**
 * At most N messages of a class per recipient in any sliding hour or day, counted from the
 * messages themselves (no counter to drift from the archive). A recipient is a mailbox, whatever
 * its spelling: Jane@ and jane@, u@bücher.de and u@xn--bcher-kva.de share one allowance (the
 * suppression list's rule, addressSpellings), or a caller could send N to each spelling.
 *
 * Exact across processes: on PostgreSQL a transaction-scoped advisory lock on
 * (class, mailbox) serializes the count-then-insert of concurrent accepts; the lock is held
 * until commit, so the next one counts the committed row. A commit takes all its locks first,
 * sorted, so two commits naming the same mailboxes (in any order, spelling or class) take them in
 * one order (no deadlock). On SQLite the accepting transaction already holds the database's
 * single write lock.
 */
export function rateLimitPolicy(limits: Record<string, RateLimit>, dialect: Dialect): AdmissionPolicy {
  /** A class without a limit of its own is unlimited (a template's class names any word, `constructor` too). */
  const limitOf = (cls: string): RateLimit => (Object.hasOwn(limits, cls) ? limits[cls]! : 'unlimited');
  const lockKey = (cls: string, spellings: string[]) => `rate:${cls}:${spellings[0]}`;
  async function lock(trx: Transaction<DB>, keys: string[]): Promise<void> {
    if (dialect !== 'postgres') return;
    for (const key of [...new Set(keys)].sort()) {
      await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
    }
  }
  const policy: AdmissionPolicy = {
    /**
     * Unlimited classes (transactional by default) cost no query; limited ones are counted one by
     * one, under their lock. Messages admitted earlier in the same call are not stored yet: they
     * count too, so one commit of many requests (or a batch) cannot exceed a limit.
     */
    async admitMany(trx, items, now) {
      const limited = items.map(({ recipient, message }) =>
        limitOf(message.class) === 'unlimited' ? null : { cls: message.class, spellings: addressSpellings(recipient) },
      );
      await lock(
        trx,
        limited.flatMap((l) => (l ? [lockKey(l.cls, l.spellings)] : [])),
      );
      const admitted = new Map<string, number>();
      const out = [];
      for (const l of limited) {
        if (!l) {
          out.push({ status: 'queued' as const });
          continue;
        }
        const k = lockKey(l.cls, l.spellings);
        const v = await check(trx, l.spellings, l.cls, now, admitted.get(k) ?? 0);
        if (v.status === 'queued') admitted.set(k, (admitted.get(k) ?? 0) + 1);
        out.push(v);
      }
      return out;
    },
    async admit(trx, recipient, message, now) {
      if (limitOf(message.class) === 'unlimited') return { status: 'queued' as const };
      const spellings = addressSpellings(recipient);
      await lock(trx, [lockKey(message.class, spellings)]);
      return check(trx, spellings, message.class, now, 0);
    },
  };
  async function check(trx: Transaction<DB>, spellings: string[], cls: string, now: number, already: number) {
    const limit = limitOf(cls);
    if (limit === 'unlimited') return { status: 'queued' as const };
    // lower(recipient_email): the archive keeps the local part as given; its index serves this.
    const row = await trx
      .selectFrom('email_messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where(sql<string>`lower(recipient_email)`, 'in', spellings)
      .where('class', '=', cls)
      .where('created_at', '>', now - WINDOW_MS[limit.per])
      .where('status', 'not in', NOT_COUNTED)
      .where('is_test', '=', 0)
      .executeTakeFirstOrThrow();
    if (Number(row.n) + already < limit.count) return { status: 'queued' as const };
    return {
      status: 'rate_limited' as const,
      reason: `Rate limit for ${cls} mail reached: ${limit.count} per ${limit.per} per recipient`,
    };
  }
  return policy;
}
