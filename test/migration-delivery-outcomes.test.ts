import { rmSync } from 'node:fs';
import { type Kysely, Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/platform/db/database.js';
import { migrations } from '../src/platform/db/migrations/index.js';
import type { DB } from '../src/platform/db/schema.js';
import { backends, freshStorage } from './helpers/context.js';
import { migrateTo } from './helpers/migrate-to.js';

/**
 * 0009 widens the status constraint: PostgreSQL alters it; SQLite rebuilds email_messages. An
 * archive that exists before it must come through whole: rows, events and attachments, the
 * foreign keys that tie them, the indexes.
 */
describe.each(backends)('migration 0009 (per-recipient outcomes) on %s', (backend) => {
  let database: Database;
  let db: Kysely<DB>;
  let migrator: Migrator;
  let dir: string;

  beforeAll(async () => {
    // A fresh SQLite file or PostgreSQL schema, as every test gets (dropped by the run's teardown).
    const storage = await freshStorage(backend);
    dir = storage.dir;
    const { schema } = storage;
    database = openDatabase(storage.databaseUrl, { schema });
    db = database.db;
    migrator = new Migrator({
      db,
      provider: { getMigrations: async () => migrations },
      ...(schema ? { migrationTableSchema: schema } : {}),
    });
  });
  afterAll(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const message = (id: string, status: string) => ({
    id,
    template_key: 'k',
    template_version: 1,
    locale: 'fr',
    category: 'c',
    class: 'transactional',
    source_endpoint: 'api',
    recipient_email: `${id.slice(0, 4)}@example.com`,
    subject: 's',
    status,
    max_attempts: 3,
    smtp_message_id: `<${id}@rgz.bj>`,
    created_at: 1,
    updated_at: 1,
  });
  const ids = ['00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000002'];

  it('keeps every message, event and attachment, and the foreign keys between them', async () => {
    const up = await migrateTo(migrator, '0008_lean_indexes');
    expect(up.error).toBeUndefined();
    const anyDb = db as unknown as Kysely<any>;
    await anyDb
      .insertInto('email_messages')
      .values([message(ids[0]!, 'sent'), message(ids[1]!, 'queued')])
      .execute();
    await anyDb
      .insertInto('email_events')
      .values([
        { message_id: ids[0], type: 'sent', created_at: 2 },
        { message_id: ids[1], type: 'queued', created_at: 2 },
      ])
      .execute();
    await anyDb
      .insertInto('email_attachments')
      .values({
        id: '00000000-0000-7000-8000-0000000000a1',
        message_id: ids[0],
        filename: 'a.pdf',
        content_type: 'application/pdf',
        size_bytes: 3,
        sha256: 'x',
        data: Buffer.from('pdf'),
        created_at: 2,
      })
      .execute();
    await expect(
      anyDb.updateTable('email_messages').set({ status: 'partially_sent' }).where('id', '=', ids[0]).execute(),
    ).rejects.toThrow();

    // Up to this migration only: later ones (0010 moves attachment bytes) have tests of their own.
    const latest = await migrateTo(migrator, '0009_delivery_outcomes');
    expect(latest.error).toBeUndefined();
    expect(latest.results?.map((r) => r.migrationName)).toEqual(['0009_delivery_outcomes']);

    const rows = await db
      .selectFrom('email_messages')
      .select(['id', 'status', 'recipient_status', 'relay_problem_since'])
      .orderBy('id')
      .execute();
    expect(rows).toEqual([
      { id: ids[0], status: 'sent', recipient_status: null, relay_problem_since: null },
      { id: ids[1], status: 'queued', recipient_status: null, relay_problem_since: null },
    ]);
    expect(
      Number(
        (
          await db
            .selectFrom('email_events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    ).toBe(2);
    const attachment = await db.selectFrom('email_attachments').select('data').executeTakeFirstOrThrow();
    expect(attachment.data!.toString()).toBe('pdf');

    // The new status is allowed, an unknown one still refused.
    await db
      .updateTable('email_messages')
      .set({ status: 'partially_sent', recipient_status: '{}' })
      .where('id', '=', ids[0]!)
      .execute();
    await expect(
      db
        .updateTable('email_messages')
        .set({ status: 'lost' as never })
        .where('id', '=', ids[0]!)
        .execute(),
    ).rejects.toThrow();
    // Foreign keys still hold and still cascade.
    await expect(
      db
        .insertInto('email_events')
        .values({ message_id: 'no-such-message', type: 'x', data: null, created_at: 3 })
        .execute(),
    ).rejects.toThrow();
    await db.deleteFrom('email_messages').where('id', '=', ids[0]!).execute();
    expect(await db.selectFrom('email_attachments').selectAll().execute()).toEqual([]);
    expect((await db.selectFrom('email_events').select('message_id').execute()).map((e) => e.message_id)).toEqual([
      ids[1],
    ]);
    if (backend === 'sqlite') {
      const indexes = await sql<{
        name: string;
      }>`select name from sqlite_master where type = 'index' and tbl_name = 'email_messages' and sql is not null order by name`.execute(
        db,
      );
      expect(indexes.rows.map((r) => r.name)).toEqual([
        'email_messages_anonymize',
        'email_messages_created',
        'email_messages_due',
        'email_messages_lease',
        'email_messages_provider_id',
        'email_messages_recipient',
        'email_messages_recipient_class',
        'email_messages_template',
      ]);
      expect((await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db)).rows[0]!.foreign_keys).toBe(1);
    }
  });

  it('goes back down: partially sent becomes sent, and the old constraint returns', async () => {
    await db
      .insertInto('email_messages')
      .values({ ...message(ids[0]!, 'partially_sent'), status: 'partially_sent' } as never)
      .execute();
    const down = await migrateTo(migrator, '0008_lean_indexes');
    expect(down.error).toBeUndefined();
    const row = await (db as unknown as Kysely<any>)
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', ids[0])
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    expect(row).not.toHaveProperty('recipient_status');
    await expect(
      (db as unknown as Kysely<any>)
        .updateTable('email_messages')
        .set({ status: 'partially_sent' })
        .where('id', '=', ids[0])
        .execute(),
    ).rejects.toThrow();
    expect((await migrateTo(migrator, '0009_delivery_outcomes')).error).toBeUndefined();
  });
});
