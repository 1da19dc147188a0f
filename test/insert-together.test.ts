import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRows } from '../src/events/index.js';
import { insertRowsTogether } from '../src/platform/db/reused-sql.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { messageRow } from './helpers/rows.js';

/**
 * PostgreSQL: an accept group inserts its messages and their first events in one statement (the
 * events' insert carries the messages' as a CTE), one round trip instead of two.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('messages and their events in one statement on PostgreSQL', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('postgres');
  });
  afterAll(() => t.close());

  const events = (ids: string[]) =>
    eventRows(ids.map((id) => ({ messageId: id, type: 'queued', at: 1, data: { n: id } })));
  const stored = async (ids: string[]) => ({
    messages: (
      await t.services.db.selectFrom('email_messages').select('id').where('id', 'in', ids).orderBy('id').execute()
    ).map((r) => r.id),
    events: (
      await t.services.db
        .selectFrom('email_events')
        .select(['message_id', 'type', 'data'])
        .where('message_id', 'in', ids)
        .orderBy('message_id')
        .execute()
    ).map((e) => [e.message_id, e.type, e.data]),
  });

  it('inserts both tables in one statement, the events referencing the new messages', async () => {
    const ids = ['tog-a', 'tog-b', 'tog-c'];
    const prepared = await t.services.db.transaction().execute(async (trx) => {
      await insertRowsTogether(
        trx,
        { table: 'email_messages', rows: ids.map((id) => messageRow(id, `${id}@example.test`)) },
        { table: 'email_events', rows: events(ids) },
      );
      const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx);
      return rows.map((r) => r.statement);
    });
    expect(await stored(ids)).toEqual({
      messages: ids,
      events: ids.map((id) => [id, 'queued', JSON.stringify({ n: id })]),
    });
    const together = prepared.filter((s) => s.startsWith('with "first_rows" as (insert into "email_messages"'));
    expect(together).toHaveLength(1);
    expect(together[0]).toContain('insert into "email_events"');
  });

  it('is one statement: an event that cannot be stored leaves no message either', async () => {
    const bad = eventRows([{ messageId: 'tog-nowhere', type: 'queued', at: 1 }]);
    await expect(
      insertRowsTogether(
        t.services.db,
        { table: 'email_messages', rows: [messageRow('tog-alone', 'alone@example.test')] },
        { table: 'email_events', rows: bad },
      ),
    ).rejects.toThrow(/foreign key/);
    expect(await stored(['tog-alone', 'tog-nowhere'])).toEqual({ messages: [], events: [] });
  });

  it('takes two statements for rows of different shapes, with the same result', async () => {
    const ids = ['tog-d', 'tog-e'];
    const rows = ids.map((id) => messageRow(id, `${id}@example.test`));
    // A second row without one of the first's columns: Kysely's own insert, then the events'.
    const { subject: _, ...withoutSubject } = rows[1]!;
    await insertRowsTogether(
      t.services.db,
      { table: 'email_messages', rows: [rows[0]!, { ...withoutSubject, subject: 'other' } as never] },
      { table: 'email_events', rows: events(ids) },
    );
    expect(await stored(ids)).toEqual({
      messages: ids,
      events: ids.map((id) => [id, 'queued', JSON.stringify({ n: id })]),
    });
  });
});
