import { rmSync } from 'node:fs';
import { type Kysely, Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/platform/db/database.js';
import { migrations } from '../src/platform/db/migrations/index.js';
import type { DB } from '../src/platform/db/schema.js';
import { backends, freshStorage } from './helpers/context.js';
import { migrateTo } from './helpers/migrate-to.js';

/**
 * 0012 lets a message have no template (raw, batch and SMTP sends), gives it a sender, tags,
 * metadata, a source and the raw MIME it was submitted as, adds the `scheduled` and `captured`
 * states, and gives keys their allowed senders. On SQLite email_messages is rebuilt: an archive
 * that exists before it must come through whole, and going down must give back the old schema.
 */
describe.each(backends)('migration 0012 (mail from any sender) on %s', (backend) => {
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

  const id = (n: number) => `00000000-0000-7000-8000-00000000000${n}`;
  const message = (n: number, status: string) => ({
    id: id(n),
    template_key: 'k',
    template_version: 1,
    locale: 'fr',
    category: 'c',
    class: 'transactional',
    source_endpoint: 'api',
    recipient_email: `r${n}@example.com`,
    subject: 's',
    status,
    max_attempts: 3,
    smtp_message_id: `<${id(n)}@rgz.bj>`,
    created_at: 1,
    updated_at: 1,
  });

  it('keeps the archive, and then takes mail without a template, with a sender and the new states', async () => {
    expect((await migrateTo(migrator, '0011_webhook_event_tail')).error).toBeUndefined();
    const anyDb = db as unknown as Kysely<any>;
    await anyDb
      .insertInto('email_messages')
      .values([message(1, 'sent'), message(2, 'queued')])
      .execute();
    await anyDb
      .insertInto('email_events')
      .values({ message_id: id(1), type: 'sent', created_at: 2 })
      .execute();
    await expect(
      anyDb
        .insertInto('email_messages')
        .values({ ...message(3, 'queued'), template_key: null })
        .execute(),
    ).rejects.toThrow();

    const up = await migrateTo(migrator, '0012_any_sender');
    expect(up.error).toBeUndefined();
    expect(up.results?.map((r) => r.migrationName)).toEqual(['0012_any_sender']);

    const rows = await db
      .selectFrom('email_messages')
      .select(['id', 'status', 'template_key', 'source', 'from_email', 'raw_sha256'])
      .orderBy('id')
      .execute();
    expect(rows).toEqual([
      { id: id(1), status: 'sent', template_key: 'k', source: 'api', from_email: null, raw_sha256: null },
      { id: id(2), status: 'queued', template_key: 'k', source: 'api', from_email: null, raw_sha256: null },
    ]);
    expect((await db.selectFrom('email_events').select('message_id').execute()).map((e) => e.message_id)).toEqual([
      id(1),
    ]);

    // A message with no template, its own sender, labels, the new states.
    await anyDb
      .insertInto('email_messages')
      .values({
        ...message(3, 'scheduled'),
        template_key: null,
        template_version: null,
        locale: null,
        from_email: 'factures@rgz.bj',
        from_name: 'Facturation',
        tags: '["invoice"]',
        metadata: '{"invoice":"INV-1"}',
        source: 'smtp',
      })
      .execute();
    await db.updateTable('email_messages').set({ status: 'captured' }).where('id', '=', id(2)).execute();
    await expect(
      db
        .updateTable('email_messages')
        .set({ status: 'lost' as never })
        .where('id', '=', id(1))
        .execute(),
    ).rejects.toThrow();
    // raw_sha256 names a content that must exist.
    await expect(
      db
        .updateTable('email_messages')
        .set({ raw_sha256: 'f'.repeat(64) })
        .where('id', '=', id(3))
        .execute(),
    ).rejects.toThrow();
    await db
      .insertInto('content_blobs')
      .values({ sha256: 'a'.repeat(64), size_bytes: 3, encoding: 'identity', created_at: 1 } as never)
      .execute();
    await db
      .updateTable('email_messages')
      .set({ raw_sha256: 'a'.repeat(64) })
      .where('id', '=', id(3))
      .execute();
    // Keys may be limited to some senders.
    await anyDb
      .insertInto('api_keys')
      .values({
        id: 'k1',
        name: 'odoo',
        scope: 'send',
        token_hash: 'h',
        token_prefix: 'p',
        created_at: 1,
        allowed_from: '["rgz.bj"]',
      })
      .execute();
    expect((await db.selectFrom('api_keys').select('allowed_from').executeTakeFirstOrThrow()).allowed_from).toBe(
      '["rgz.bj"]',
    );

    // Foreign keys still hold and still cascade after the rebuild.
    await expect(
      db
        .insertInto('email_events')
        .values({ message_id: 'no-such-message', type: 'x', data: null, created_at: 3 })
        .execute(),
    ).rejects.toThrow();
    await db.deleteFrom('email_messages').where('id', '=', id(1)).execute();
    expect(await db.selectFrom('email_events').selectAll().execute()).toEqual([]);
    if (backend === 'sqlite') {
      expect((await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db)).rows[0]!.foreign_keys).toBe(1);
      const indexes = await sql<{
        name: string;
      }>`select name from sqlite_master where type = 'index' and tbl_name = 'email_messages' and sql is not null`.execute(
        db,
      );
      expect(indexes.rows.map((r) => r.name)).toContain('email_messages_due');
      expect(indexes.rows.map((r) => r.name)).toContain('email_messages_raw');
    }
  });

  it('goes back down: the new states and template-less mail take their nearest old form', async () => {
    const down = await migrateTo(migrator, '0011_webhook_event_tail');
    expect(down.error).toBeUndefined();
    const anyDb = db as unknown as Kysely<any>;
    const rows = await anyDb.selectFrom('email_messages').selectAll().orderBy('id').execute();
    expect(rows.map((r) => [r.id, r.status, r.template_key])).toEqual([
      [id(2), 'sent', 'k'],
      [id(3), 'queued', ''],
    ]);
    expect(rows[0]).not.toHaveProperty('from_email');
    expect(rows[0]).not.toHaveProperty('raw_sha256');
    await expect(
      anyDb
        .insertInto('email_messages')
        .values({ ...message(4, 'queued'), template_key: null })
        .execute(),
    ).rejects.toThrow();
    await expect(
      anyDb.updateTable('email_messages').set({ status: 'scheduled' }).where('id', '=', id(2)).execute(),
    ).rejects.toThrow();
    expect((await migrateTo(migrator, 'latest')).error).toBeUndefined();
  });
});
