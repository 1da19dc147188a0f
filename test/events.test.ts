import { Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog, type NewEvent } from '../src/events/index.js';
import type { DB } from '../src/platform/db/schema.js';
import { createLogger } from '../src/platform/log.js';
import { backends, createTestDatabase, type TestDatabase } from './helpers/context.js';
import { messageRow } from './helpers/rows.js';

/** A message row with only what the schema requires: the events below need one to belong to. */
async function insertMessage(db: Kysely<DB>, id: string): Promise<void> {
  await db.insertInto('email_messages').values(messageRow(id, 'a@example.com')).execute();
}

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('info', stream), lines };
}

describe.each(backends)('event log on %s', (backend) => {
  let t: TestDatabase;
  const id = '00000000-0000-7000-8000-000000000001';
  beforeAll(async () => {
    t = await createTestDatabase(backend);
    await insertMessage(t.db, id);
  });
  afterAll(() => t.close());

  const types = async () =>
    (await t.db.selectFrom('email_events').select('type').where('message_id', '=', id).orderBy('id').execute()).map(
      (r) => r.type,
    );

  it("stores the events in the caller's transaction and tells each subscriber the batch, labels included", async () => {
    const events = new EventLog(createLogger('silent'));
    const heard: Array<readonly NewEvent[]> = [];
    events.subscribe('probe', (recorded) => void heard.push(recorded));
    const labels = { template_key: 'billing_invoice_monthly', category: 'billing', created_at: 1 };
    await t.db.transaction().execute(async (trx) => {
      await events.record(trx, [
        { messageId: id, type: 'attempt', at: Date.now(), data: { code: 250 } },
        { messageId: id, type: 'sent', at: Date.now(), labels },
      ]);
    });
    expect(heard.map((batch) => batch.map((e) => e.type))).toEqual([['attempt', 'sent']]);
    expect(heard[0]![1]!.labels).toEqual(labels);
    expect(await types()).toEqual(['attempt', 'sent']);
    // Labels are for subscribers only: the stored row has the data, not them.
    const sent = await t.db
      .selectFrom('email_events')
      .select('data')
      .where('message_id', '=', id)
      .where('type', '=', 'sent')
      .executeTakeFirstOrThrow();
    expect(sent.data).toBeNull();
  });

  it("a failing subscriber cannot abort the caller's transaction: later statements run and the commit keeps everything", async () => {
    const { log, lines } = capturingLogger();
    const events = new EventLog(log);
    events.subscribe('throws', () => {
      throw new Error('subscriber bug');
    });
    events.subscribe('rejects', (async () => {
      throw new Error('async subscriber bug');
    }) as () => void);
    let after = 0;
    events.subscribe('after', () => void after++);
    await t.db.transaction().execute(async (trx) => {
      await events.record(trx, [{ messageId: id, type: 'delivered', at: Date.now() }]);
      // On PostgreSQL a failed statement would have aborted the transaction here.
      await trx.updateTable('email_messages').set({ status: 'delivered' }).where('id', '=', id).execute();
      await events.record(trx, [{ messageId: id, type: 'bounced', at: Date.now() }]);
    });
    expect((await types()).slice(-2)).toEqual(['delivered', 'bounced']);
    expect(
      (await t.db.selectFrom('email_messages').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status,
    ).toBe('delivered');
    // The subscribers after a failing one still hear every record.
    expect(after).toBe(2);
    await new Promise((r) => setImmediate(r));
    const failures = lines
      .filter((l) => l.msg === 'event subscriber failed; the events are recorded')
      .map((l) => l.subscriber);
    expect(failures.sort()).toEqual(['rejects', 'rejects', 'throws', 'throws']);
  });

  it('records nothing and tells no one for an empty batch', async () => {
    const events = new EventLog(createLogger('silent'));
    let calls = 0;
    events.subscribe('count', () => void calls++);
    const before = (await types()).length;
    await events.record(t.db, []);
    expect(calls).toBe(0);
    expect((await types()).length).toBe(before);
  });
});
