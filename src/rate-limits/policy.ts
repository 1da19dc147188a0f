import { type Transaction, sql } from 'kysely';
import type { RateLimit } from '../platform/config.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import type { Admission, AdmissionPolicy } from '../accept/index.js';
import { DAY_MS, HOUR_MS } from '../platform/time.js';

const WINDOW_MS = { hour: HOUR_MS, day: DAY_MS } as const;

/** Messages that never go out do not use up the allowance. */
const NOT_COUNTED = ['rate_limited', 'suppressed', 'cancelled'] as const;

/**
 * At most N messages of a class per recipient in any sliding hour or day, counted from the
 * messages themselves (no counter to drift from the archive).
 *
 * Exact across processes: on PostgreSQL a transaction-scoped advisory lock on
 * (recipient, class) serializes the count-then-insert of concurrent accepts; the lock is held
 * until commit, so the next one counts the committed row. On SQLite the accepting transaction
 * already holds the database's single write lock. Send sorts recipients before admitting them,
 * so two requests naming the same addresses take the locks in one order (no deadlock).
 */
export function rateLimitPolicy(limits: Record<string, RateLimit>, dialect: Dialect): AdmissionPolicy {
  /** A class without a limit of its own is unlimited (a template's class names any word, `constructor` too). */
  const limitOf = (cls: string): RateLimit => (Object.hasOwn(limits, cls) ? limits[cls]! : 'unlimited');
  const policy: AdmissionPolicy = {
    /**
     * Unlimited classes (transactional by default) cost no query; limited ones are counted one by
     * one, under their lock. Messages admitted earlier in the same call are not stored yet: they
     * count too, so one commit of many requests (or a batch) cannot exceed a limit.
     */
    async admitMany(trx, items, now) {
      const admitted = new Map<string, number>();
      const out = [];
      for (const { recipient, message } of items) {
        if (limitOf(message.class) === 'unlimited') {
          out.push({ status: 'queued' as const });
          continue;
        }
        const k = `${message.class}\n${recipient}`;
        const v = await check(trx, recipient, message, now, admitted.get(k) ?? 0);
        if (v.status === 'queued') admitted.set(k, (admitted.get(k) ?? 0) + 1);
        out.push(v);
      }
      return out;
    },
    admit: (trx, recipient, message, now) => check(trx, recipient, message, now, 0),
  };
  async function check(trx: Transaction<DB>, recipient: string, message: Admission, now: number, already: number) {
    const cls = message.class;
    const limit = limitOf(cls);
    if (limit === 'unlimited') return { status: 'queued' as const };
    if (dialect === 'postgres') {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`rate:${cls}:${recipient}`}, 0))`.execute(trx);
    }
    const row = await trx
      .selectFrom('email_messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('recipient_email', '=', recipient)
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
