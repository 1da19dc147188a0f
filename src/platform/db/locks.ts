import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/**
 * A lease per job name in the database, so any number of workers on any number of hosts run
 * each job one at a time. Taken with one conditional UPDATE (free or expired → mine): atomic on
 * SQLite and PostgreSQL alike, and a crashed holder's lease simply expires.
 */
export async function tryLock(
  db: Kysely<DB>,
  name: string,
  owner: string,
  ttlMs: number,
  now: number,
): Promise<boolean> {
  await db
    .insertInto('job_locks')
    .values({ name, owner: null, expires_at: 0 })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const r = await db
    .updateTable('job_locks')
    .set({ owner, expires_at: now + ttlMs, last_started_at: now })
    .where('name', '=', name)
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('owner', 'is', null), eb('owner', '=', owner)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Extends a lease this owner holds; false if it was lost (expired and taken by another). */
export async function renewLock(
  db: Kysely<DB>,
  name: string,
  owner: string,
  ttlMs: number,
  now: number,
): Promise<boolean> {
  const r = await db
    .updateTable('job_locks')
    .set({ expires_at: now + ttlMs })
    .where('name', '=', name)
    .where('owner', '=', owner)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function releaseLock(
  db: Kysely<DB>,
  name: string,
  owner: string,
  now: number,
  result: unknown,
): Promise<void> {
  await db
    .updateTable('job_locks')
    .set({ owner: null, expires_at: 0, last_finished_at: now, last_result: JSON.stringify(result) })
    .where('name', '=', name)
    .where('owner', '=', owner)
    .execute();
}
