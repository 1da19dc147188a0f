import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertRows, reusedQuery } from '../src/platform/db/reused-sql.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';

describe.each(backends)('reused SQL on %s', (backend) => {
  let t: TestContext;
  let messageId: string;
  beforeAll(async () => {
    t = await createTestContext(backend);
    [messageId] = (await sendOk(t, incidentExample())) as [string];
  });
  afterAll(() => t.close());

  const eventsOf = (type: string) =>
    t.services.db
      .selectFrom('email_events')
      .select(['message_id', 'type', 'created_at', 'data'])
      .where('type', '=', type)
      .orderBy('id')
      .execute();

  it('insertRows stores every row with its own values, whatever the row count, the statement reused', async () => {
    const row = (i: number, data: string | null) => ({
      message_id: messageId,
      type: 'probe',
      created_at: 1000 + i,
      data,
    });
    await insertRows(t.services.db, 'email_events', [row(1, '{"a":1}')]);
    await insertRows(t.services.db, 'email_events', [row(2, null), row(3, '{"é":"🙂"}'), row(4, '[]')]);
    await insertRows(t.services.db, 'email_events', [row(5, 'x')]); // the one-row statement again
    expect(await eventsOf('probe')).toEqual([
      row(1, '{"a":1}'),
      row(2, null),
      row(3, '{"é":"🙂"}'),
      row(4, '[]'),
      row(5, 'x'),
    ]);
  });

  it('insertRows splits more rows than one statement may carry, storing each once and in order', async () => {
    const rows = Array.from({ length: 1234 }, (_, i) => ({
      message_id: messageId,
      type: 'many',
      created_at: i,
      data: String(i),
    }));
    await insertRows(t.services.db, 'email_events', rows);
    expect(await eventsOf('many')).toEqual(rows);
  });

  it("insertRows takes Kysely's path for rows of different shapes, and for undefined values (the column's default)", async () => {
    await insertRows(t.services.db, 'email_events', [
      { message_id: messageId, type: 'mixed', created_at: 1, data: 'first' },
      { type: 'mixed', message_id: messageId, created_at: 2, data: 'second' },
      { message_id: messageId, type: 'mixed', created_at: 3 },
    ]);
    await insertRows(t.services.db, 'email_events', [
      { message_id: messageId, type: 'mixed', created_at: 4, data: undefined },
    ]);
    expect(await eventsOf('mixed')).toEqual([
      { message_id: messageId, type: 'mixed', created_at: 1, data: 'first' },
      { message_id: messageId, type: 'mixed', created_at: 2, data: 'second' },
      { message_id: messageId, type: 'mixed', created_at: 3, data: null },
      { message_id: messageId, type: 'mixed', created_at: 4, data: null },
    ]);
  });

  it('reusedQuery runs the same SQL with each call’s parameters', async () => {
    const find = (key: string) =>
      reusedQuery(t.services.db, 'test: template by key', [key], () =>
        t.services.db.selectFrom('email_templates').select('key').where('key', '=', key),
      );
    expect(await find('billing_invoice_monthly')).toEqual([{ key: 'billing_invoice_monthly' }]);
    expect(await find('incident_alert_critical')).toEqual([{ key: 'incident_alert_critical' }]);
    expect(await find('no such template')).toEqual([]);
  });

  it('reusedQuery refuses a query whose parameters are not the ones given (an inlined value would be reused wrongly)', async () => {
    const db = t.services.db;
    await expect(
      reusedQuery(db, 'test: limit', ['billing_invoice_monthly'], () =>
        db.selectFrom('email_templates').select('key').where('key', '=', 'billing_invoice_monthly').limit(1),
      ),
    ).rejects.toThrow(/parameters are not the ones given/);
    await expect(
      reusedQuery(db, 'test: order', ['a', 'b'], () =>
        db.selectFrom('email_templates').select('key').where('key', '=', 'b').where('name', '=', 'a'),
      ),
    ).rejects.toThrow(/parameters are not the ones given/);
  });
});
