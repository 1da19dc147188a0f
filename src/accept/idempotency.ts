import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { HOUR_MS } from '../platform/time.js';

export const IDEMPOTENCY_TTL_MS = 24 * HOUR_MS;

/** JSON with keys sorted at every level: the same body hashes the same whatever the key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export const requestHash = (body: unknown): string => createHash('sha256').update(canonical(body)).digest('hex');

/** `where`: the header of a request, or a batch item's field. */
export function checkIdempotencyKey(key: string, where: 'header' | 'field' = 'header'): void {
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    const name = where === 'header' ? 'Idempotency-Key' : 'idempotency_key';
    throw new AppError(
      'invalid_request',
      `${name}: 1 to 255 printable ASCII characters, no spaces`,
      where === 'header' ? { header: 'idempotency-key' } : { field: 'idempotency_key' },
    );
  }
}

export interface Stored {
  status: number;
  body: unknown;
}

export interface IdempotencyHooks {
  before(trx: Transaction<DB>): Promise<void>;
  after(trx: Transaction<DB>, result: Stored): Promise<void>;
}

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * Runs `run` at most once per (scope, key) in 24 hours and replays its answer afterwards.
 *
 * The key row is inserted first inside the accepting transaction, so it commits with the
 * messages or not at all. Of two concurrent requests with one key, the second blocks on the
 * primary key (PostgreSQL) or fails it inside the shared commit (SQLite); either way its
 * transaction rolls back with nothing stored, and it then replays the winner's answer (same
 * body) or gets 409 idempotency_conflict (different body).
 */
export async function idempotent(
  db: Kysely<DB>,
  scope: string,
  key: string,
  body: unknown,
  run: (hooks: IdempotencyHooks) => Promise<Stored>,
): Promise<Stored & { replayed: boolean }> {
  const c = await claim(db, scope, key, body);
  if ('replayed' in c) return c;
  try {
    return { ...(await run(c.hooks)), replayed: false };
  } catch (e) {
    return lost(db, scope, key, c.hash, e);
  }
}

/**
 * The first half of idempotent(), for callers that run many keyed sends in one commit (a batch):
 * the earlier answer if this key has one, else the hooks that take the key inside the commit.
 */
export async function claim(
  db: Kysely<DB>,
  scope: string,
  key: string,
  body: unknown,
): Promise<(Stored & { replayed: true }) | { hash: string; hooks: IdempotencyHooks }> {
  const hash = requestHash(body);
  const now = Date.now();
  await db
    .deleteFrom('idempotency_keys')
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('expires_at', '<=', now)
    .execute();
  const earlier = await replay(db, scope, key, hash);
  if (earlier) return earlier;
  return {
    hash,
    hooks: {
      before: async (trx) => {
        await trx
          .insertInto('idempotency_keys')
          .values({
            scope,
            key,
            request_hash: hash,
            status_code: 0,
            response_body: '',
            created_at: now,
            expires_at: now + IDEMPOTENCY_TTL_MS,
          })
          .execute();
      },
      after: async (trx, r) => {
        await trx
          .updateTable('idempotency_keys')
          .set({ status_code: r.status, response_body: JSON.stringify(r.body) })
          .where('scope', '=', scope)
          .where('key', '=', key)
          .execute();
      },
    },
  };
}

/** The second half: a send that failed on the key (another request took it meanwhile) replays the winner's answer. */
export async function lost(
  db: Kysely<DB>,
  scope: string,
  key: string,
  hash: string,
  error: unknown,
): Promise<Stored & { replayed: true }> {
  if (!isUniqueViolation(error)) throw error;
  const winner = await replay(db, scope, key, hash);
  if (winner) return winner;
  throw error;
}

/** Keys are per API key (the admin token's name when there is none). */
export const idempotencyScope = (p: { keyId: string | null; name: string } | null): string =>
  p?.keyId ?? `token:${p?.name ?? 'anonymous'}`;

async function replay(
  db: Kysely<DB>,
  scope: string,
  key: string,
  hash: string,
): Promise<(Stored & { replayed: true }) | undefined> {
  const row = await db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('scope', '=', scope)
    .where('key', '=', key)
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.request_hash !== hash) {
    throw new AppError('idempotency_conflict', 'This Idempotency-Key was used with a different request body', {
      idempotency_key: key,
    });
  }
  return { status: row.status_code, body: JSON.parse(row.response_body) as unknown, replayed: true };
}
