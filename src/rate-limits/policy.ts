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
 * messages themselves (no counter to drift from the archive), each at the time it goes: its
 * send_at when scheduled, else when it was accepted. A message is admitted while fewer than N of
 * the mailbox's messages go within a window of its own time, before or after it: one scheduled for
 * next week uses next week's allowance, not today's, and two cannot be scheduled into one day. A recipient is a mailbox, whatever
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
  /**
   * When the stored messages of `cls` go, between `from` and `to` (exclusive), by lowercased
   * recipient: one query per 500 spellings. A limited class has few messages per mailbox in a
   * window (N at most, and the rate-limited ones are not read).
   */
  async function goingAt(trx: Transaction<DB>, cls: string, spellings: string[], from: number, to: number) {
    const at = sql<number>`coalesce(send_at, created_at)`;
    const out = new Map<string, number[]>();
    for (let i = 0; i < spellings.length; i += 500) {
      const rows = await trx
        .selectFrom('email_messages')
        .select([sql<string>`lower(recipient_email)`.as('r'), at.as('at')])
        // lower(recipient_email): the archive keeps the local part as given; its index serves this.
        .where(sql<string>`lower(recipient_email)`, 'in', spellings.slice(i, i + 500))
        .where('class', '=', cls)
        .where(at, '>', from)
        .where(at, '<', to)
        .where('status', 'not in', NOT_COUNTED)
        .where('is_test', '=', 0)
        .execute();
      for (const r of rows) {
        const list = out.get(r.r) ?? [];
        list.push(Number(r.at));
        out.set(r.r, list);
      }
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
        const limit = limitOf(message.class);
        if (limit === 'unlimited') return null;
        const spellings = addressSpellings(recipient);
        const at = Math.max(now, message.sendAt ?? now);
        return {
          cls: message.class,
          key: lockKey(message.class, spellings),
          spellings,
          at,
          window: WINDOW_MS[limit.per],
        };
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
      // Per class: its spellings, and the span of time its messages here may share a window with.
      const byClass = new Map<string, { spellings: Set<string>; from: number; to: number }>();
      for (const l of limited) {
        if (!l) continue;
        const c = byClass.get(l.cls) ?? { spellings: new Set<string>(), from: l.at, to: l.at };
        for (const s of l.spellings) c.spellings.add(s);
        c.from = Math.min(c.from, l.at - l.window);
        c.to = Math.max(c.to, l.at + l.window);
        byClass.set(l.cls, c);
      }
      const stored = new Map<string, Map<string, number[]>>();
      for (const [cls, c] of byClass) stored.set(cls, await goingAt(trx, cls, [...c.spellings], c.from, c.to));
      // Per mailbox: when its stored messages go, under any spelling, then the ones admitted here.
      const going = new Map<string, number[]>();
      for (const [key, m] of mailboxes) {
        const times = stored.get(m.cls)!;
        going.set(
          key,
          [...m.spellings].flatMap((s) => times.get(s) ?? []),
        );
      }
      return limited.map((l) => {
        if (!l) return { status: 'queued' as const };
        const limit = limitOf(l.cls) as Exclude<RateLimit, 'unlimited'>;
        const times = going.get(l.key)!;
        const near = times.filter((t) => Math.abs(t - l.at) < l.window).length;
        if (near < limit.count) {
          times.push(l.at);
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
