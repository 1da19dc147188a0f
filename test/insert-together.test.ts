import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyIdPool, reserveBodies, withBodies } from '../src/content/index.js';
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
    const together = prepared.filter((s) => s.startsWith('with "rows_1" as (insert into "email_messages"'));
    expect(together).toHaveLength(1);
    expect(together[0]).toContain('insert into "email_events"');
  });

  it('inserts the bodies reserveBodies set aside, the messages that reference them and their events in one statement', async () => {
    const ids = ['tog-f', 'tog-g', 'tog-h'];
    const rows = ids.map((id, i) => ({
      ...messageRow(id, `${id}@example.test`),
      body_id: null as number | null,
      html_content: i < 2 ? '<p>shared</p>' : '<p>own</p>',
      text_content: null,
    }));
    const prepared = await t.services.db.transaction().execute(async (trx) => {
      const bodies = await reserveBodies(trx, rows, 'postgres');
      // Two distinct renderings, given ids but not stored yet.
      expect(bodies).toHaveLength(2);
      expect(
        await trx
          .selectFrom('email_bodies')
          .select('id')
          .where(
            'id',
            'in',
            bodies.map((b) => b.id),
          )
          .execute(),
      ).toEqual([]);
      await insertRowsTogether(
        trx,
        { table: 'email_bodies', rows: bodies },
        { table: 'email_messages', rows },
        { table: 'email_events', rows: events(ids) },
      );
      const { rows: statements } = await sql<{
        statement: string;
      }>`select statement from pg_prepared_statements`.execute(trx);
      return statements.map((r) => r.statement);
    });
    expect(await stored(ids)).toEqual({
      messages: ids,
      events: ids.map((id) => [id, 'queued', JSON.stringify({ n: id })]),
    });
    const messages = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'body_id', 'html_content', 'text_content'])
      .where('id', 'in', ids)
      .orderBy('id')
      .execute();
    expect(messages[0]!.body_id).toBe(messages[1]!.body_id);
    expect(messages[2]!.body_id).not.toBe(messages[0]!.body_id);
    const [read] = await withBodies(t.services.db, [messages[0]!]);
    expect(read).toMatchObject({ html_content: '<p>shared</p>', text_content: null });
    const together = prepared.filter((s) => s.startsWith('with "rows_1" as (insert into "email_bodies"'));
    expect(together).toHaveLength(1);
    expect(together[0]).toContain('"rows_2" as (insert into "email_messages"');
    expect(together[0]).toContain('insert into "email_events"');
  });

  it('takes body ids ahead, a refill per `ahead` ids, never the same id twice', async () => {
    const sequence = async () =>
      Number(
        (
          await sql<{
            v: string;
          }>`select pg_sequence_last_value(pg_get_serial_sequence('email_bodies', 'id')::regclass) as v`.execute(
            t.services.db,
          )
        ).rows[0]!.v,
      );
    const pool = new BodyIdPool(8);
    const first = await pool.take(t.services.db, 1);
    const after = await sequence();
    // Concurrent takes share refills and get disjoint ids.
    const more = await Promise.all([3, 2, 1, 5, 4].map((n) => pool.take(t.services.db, n)));
    expect(more.map((ids) => ids.length)).toEqual([3, 2, 1, 5, 4]);
    const all = [...first, ...more.flat()];
    expect(new Set(all).size).toBe(all.length);
    // 16 ids from two refills of 8: the takes that found the pool short waited for one refill.
    expect((await sequence()) - after).toBe(8);
    expect(Math.max(...all) - Math.min(...all)).toBe(15);
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
