import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { HOUR_MS } from '../platform/time.js';

/**
 * The sweep leaves a blob nobody references alone this long after it was written: a send writes
 * large contents before the commit that references them (see ContentStore), and that commit
 * comes within seconds. Deletes that name their hashes (a purge, an erasure) do not wait.
 */
export const BLOB_GRACE_MS = HOUR_MS;

const unreferenced = (trx: Kysely<DB>, hashes: string[]) =>
  trx
    .selectFrom('content_blobs as b')
    .select('b.sha256')
    .where('b.sha256', 'in', hashes)
    .where((eb) =>
      eb.not(
        eb.exists(eb.selectFrom('email_attachments as a').select('a.id').whereRef('a.blob_sha256', '=', 'b.sha256')),
      ),
    )
    // A submitted message's MIME as received (email_messages.raw_sha256).
    .where((eb) =>
      eb.not(eb.exists(eb.selectFrom('email_messages as m').select('m.id').whereRef('m.raw_sha256', '=', 'b.sha256'))),
    );

/**
 * Deletes those of `hashes` that no row references any more (the rows that referenced them were
 * just deleted or cleared in `trx`). Returns how many went.
 *
 * PostgreSQL: the candidates are locked first, skipping any a pending send holds (it is about
 * to reference it); the delete then checks the references again under those locks, with a
 * snapshot that sees every send committed before them. Without the second look, a send
 * committing between the first look and the lock would trip the foreign key.
 */
export async function deleteUnreferenced(trx: Transaction<DB>, dialect: Dialect, hashes: string[]): Promise<number> {
  if (hashes.length === 0) return 0;
  let candidates = hashes;
  if (dialect === 'postgres') {
    candidates = (await unreferenced(trx, hashes).forUpdate().skipLocked().execute()).map((r) => r.sha256);
    if (candidates.length === 0) return 0;
  }
  const r = await trx
    .deleteFrom('content_blobs')
    .where('sha256', 'in', unreferenced(trx, candidates))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Hashes per batch of the sweep. */
const SWEEP_BATCH = 500;

/**
 * Every blob older than `cutoff` that nothing references: the content of sends that failed after
 * their blobs were written, or anything a targeted delete missed. Walks the blobs in hash order,
 * a batch per transaction, so it never holds the write lock for long.
 */
export async function sweepUnreferenced(
  db: Kysely<DB>,
  dialect: Dialect,
  cutoff: number,
  onBatch?: () => Promise<void>,
  yieldToOthers: () => Promise<void> = async () => {},
): Promise<number> {
  let deleted = 0;
  let after = '';
  for (;;) {
    const batch = await db
      .selectFrom('content_blobs')
      .select(['sha256', 'created_at'])
      .where('sha256', '>', after)
      .orderBy('sha256')
      .limit(SWEEP_BATCH)
      .execute();
    if (batch.length === 0) return deleted;
    after = batch[batch.length - 1]!.sha256;
    const old = batch.filter((b) => Number(b.created_at) < cutoff).map((b) => b.sha256);
    if (old.length > 0) deleted += await db.transaction().execute((trx) => deleteUnreferenced(trx, dialect, old));
    if (batch.length < SWEEP_BATCH) return deleted;
    await onBatch?.();
    await yieldToOthers();
  }
}
