import SQLite from '../src/platform/db/better-sqlite3.js';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';

const BUDGET_MS = 1000;

describe('the SQLite lock budget (DB_LOCK_WAIT_SECONDS) through the HTTP API', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite', { DB_LOCK_WAIT_SECONDS: String(BUDGET_MS / 1000) });
  });
  afterAll(() => t.close());

  const count = async () =>
    Number(
      (
        await t.services.db
          .selectFrom('email_messages')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const timed = async (method: 'GET' | 'POST', url: string, payload?: object) => {
    const t0 = performance.now();
    const res = await t.inject({ method, url, ...(payload ? { payload } : {}) });
    return {
      status: res.statusCode,
      code: res.statusCode === 503 ? (res.json().error.code as string) : undefined,
      ms: performance.now() - t0,
    };
  };

  it('answers 503 to each send within its own budget while another process holds the write lock, whatever was queued ahead of it', async () => {
    const ids = await sendOk(t, incidentExample());
    const first = ids[0]!;
    const stored = await count();
    const other = new SQLite(t.config.databaseUrl.slice('sqlite:'.length));
    other.prepare('begin immediate').run();
    let sends: Array<Awaited<ReturnType<typeof timed>>>;
    let read: Awaited<ReturnType<typeof timed>>;
    try {
      // Waves of sends, 300 ms apart: each wave arrives while earlier ones still wait for the lock.
      const pending: Array<ReturnType<typeof timed>> = [];
      for (let wave = 0; wave < 5; wave++) {
        for (let i = 0; i < 4; i++)
          pending.push(
            timed('POST', '/api/v1/email/send', { ...incidentExample(), to: `wave${wave}.${i}@example.com` }),
          );
        if (wave === 2) read = await timed('GET', `/api/v1/email/messages/${first}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      sends = await Promise.all(pending);
    } finally {
      other.prepare('rollback').run();
      other.close();
    }
    for (const s of sends) {
      expect(s.status).toBe(503);
      expect(s.code).toBe('unavailable');
      // It waited for the lock its whole budget, and not for two (the bug: 2 s behind a waiting group commit).
      // The margin is for a loaded machine's event loop, still short of the bug's second budget.
      expect(s.ms).toBeGreaterThanOrEqual(BUDGET_MS - 20);
      expect(s.ms).toBeLessThan(BUDGET_MS * 1.75);
    }
    // A read needs no write lock: it is not held behind the writes that wait for one.
    expect(read!.status).toBe(200);
    expect(read!.ms).toBeLessThan(BUDGET_MS * 0.9);
    expect(await count()).toBe(stored);

    // The lock is free again: sends are stored, nothing else was, and the file is sound.
    const after = await Promise.all(
      Array.from({ length: 5 }, () => timed('POST', '/api/v1/email/send', incidentExample())),
    );
    expect(after.map((s) => s.status)).toEqual([201, 201, 201, 201, 201]);
    expect(await count()).toBe(stored + 5 * ids.length);
    const { rows } = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(t.services.db);
    expect(rows[0]!.integrity_check).toBe('ok');
  });
});
