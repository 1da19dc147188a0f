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
  /** On PostgreSQL, every lock in one statement, in sorted order (unnest yields the array in order). */
  async function lock(trx: Transaction<DB>, keys: string[]): Promise<void> {
    if (dialect !== 'postgres' || keys.length === 0) return;
    const sorted = [...new Set(keys)].sort();
    await sql`select count(*) from (select pg_advisory_xact_lock(hashtextextended(k, 0)) from unnest(cast(${sorted} as text[])) as u(k)) as locked`.execute(
      trx,
    );
  }
  /** Stored messages of `cls` in its window, by lowercased recipient: one query per 500 spellings. */
  async function counted(trx: Transaction<DB>, cls: string, spellings: string[], now: number) {
    const limit = limitOf(cls) as Exclude<RateLimit, 'unlimited'>;
    const out = new Map<string, number>();
    for (let i = 0; i < spellings.length; i += 500) {
      const rows = await trx
        .selectFrom('email_messages')
        .select([sql<string>`lower(recipient_email)`.as('r'), (eb) => eb.fn.countAll<number>().as('n')])
        // lower(recipient_email): the archive keeps the local part as given; its index serves this.
        .where(sql<string>`lower(recipient_email)`, 'in', spellings.slice(i, i + 500))
        .where('class', '=', cls)
        .where('created_at', '>', now - WINDOW_MS[limit.per])
        .where('status', 'not in', NOT_COUNTED)
        .where('is_test', '=', 0)
        .groupBy(sql`lower(recipient_email)`)
        .execute();
      for (const r of rows) out.set(r.r, Number(r.n));
    }
    return out;
  }
  const policy: AdmissionPolicy = {
    /**
     * Unlimited classes (transactional by default) cost no query. Limited ones take every lock in
     * one statement, then count in one query per class (per 500 addresses), whatever the number of
     * messages: a batch of 500 used to cost two round trips per message, its transaction (SQLite's
     * one write lock) held meanwhile. Messages admitted earlier in the same call are not stored
     * yet: they count too, so one commit of many requests (or a batch) cannot exceed a limit.
     */
    async admitMany(trx, items, now) {
      const limited = items.map(({ recipient, message }) => {
        if (limitOf(message.class) === 'unlimited') return null;
        const spellings = addressSpellings(recipient);
        return { cls: message.class, key: lockKey(message.class, spellings), spellings };
      });
      const mailboxes = new Map<string, { cls: string; spellings: Set<string> }>();
      for (const l of limited) {
        if (!l) continue;
        const m = mailboxes.get(l.key) ?? { cls: l.cls, spellings: new Set<string>() };
        for (const s of l.spellings) m.spellings.add(s);
        mailboxes.set(l.key, m);
      }
      if (mailboxes.size === 0) return items.map(() => ({ status: 'queued' as const }));
      await lock(trx, [...mailboxes.keys()]);
      const byClass = new Map<string, Set<string>>();
      for (const m of mailboxes.values()) {
        const set = byClass.get(m.cls) ?? new Set<string>();
        for (const s of m.spellings) set.add(s);
        byClass.set(m.cls, set);
      }
      const stored = new Map<string, Map<string, number>>();
      for (const [cls, spellings] of byClass) stored.set(cls, await counted(trx, cls, [...spellings], now));
      // Per mailbox: its stored messages under any spelling, then the ones admitted here.
      const used = new Map<string, number>();
      for (const [key, m] of mailboxes) {
        const n = stored.get(m.cls)!;
        used.set(
          key,
          [...m.spellings].reduce((sum, s) => sum + (n.get(s) ?? 0), 0),
        );
      }
      return limited.map((l) => {
        if (!l) return { status: 'queued' as const };
        const limit = limitOf(l.cls) as Exclude<RateLimit, 'unlimited'>;
        const n = used.get(l.key)!;
        if (n < limit.count) {
          used.set(l.key, n + 1);
          return { status: 'queued' as const };
        }
        return {
          status: 'rate_limited' as const,
          reason: `Rate limit for ${l.cls} mail reached: ${limit.count} per ${limit.per} per recipient`,
        };
      });
    },
    admit: async (trx, recipient, message, now) => (await policy.admitMany!(trx, [{ recipient, message }], now))[0]!,
  };
  return policy;
}
