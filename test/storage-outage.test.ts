import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

describe('a full SQLite database', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
  });
  afterAll(() => t.close());

  const send = () =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { ...incidentExample(), to: 'full@example.com' } });
  const count = async () =>
    Number(
      (
        await t.services.db
          .selectFrom('email_messages')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('answers 503 (not 500) while full, keeps what it stored, and accepts again once there is room', async () => {
    expect((await send()).statusCode).toBe(201);
    const stored = await count();
    // Cap the file at its current size: the next insert fails with SQLITE_FULL, and SQLite
    // rolls the transaction back by itself (the case that used to hide the error behind a 500).
    const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(t.services.db);
    await sql.raw(`pragma max_page_count = ${rows[0]!.page_count}`).execute(t.services.db);
    const big = {
      ...incidentExample(),
      to: 'full@example.com',
      // Random text: bodies are stored compressed, and a repeated character would shrink to nothing.
      variables: { ...incidentExample().variables, description: randomBytes(150_000).toString('base64') },
    };
    const full = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload: big });
    expect(full.statusCode).toBe(503);
    expect(full.json().error.code).toBe('unavailable');
    expect(await count()).toBe(stored);
    const { rows: check } = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(t.services.db);
    expect(check[0]!.integrity_check).toBe('ok');

    await sql.raw('pragma max_page_count = 1073741823').execute(t.services.db);
    expect((await send()).statusCode).toBe(201);
    expect(await count()).toBe(stored + 1);
  });
});
