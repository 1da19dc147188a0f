import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Kysely, Migrator } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db/database.js';
import { migrations } from '../src/platform/db/migrations/index.js';
import { buildApp } from '../src/http/app.js';
import { anonymizeOld } from '../src/retention/anonymize.js';
import { type Wired, wire } from '../src/app/wiring.js';
import { createLogger } from '../src/platform/log.js';
import { bigPdf, sha256, stored } from './helpers/content.js';
import { ADMIN_TOKEN, backends, type TestContext } from './helpers/context.js';
import { migrateTo } from './helpers/migrate-to.js';

const DAY = 86_400_000;

/** An email_messages row as version 0008 had it. */
const legacyMessage = (id: string, to: string, attachments: number, createdAt: number) => ({
  id,
  template_key: 'billing_invoice_monthly',
  template_version: 1,
  locale: 'fr',
  category: 'billing',
  class: 'transactional',
  source_endpoint: 'billing',
  recipient_email: to,
  subject: 'Facture',
  html_content: '<p>Facture</p>',
  text_content: 'Facture',
  attachments_count: attachments,
  status: 'sent' as const,
  max_attempts: 3,
  smtp_message_id: `<${id}@rgz.bj>`,
  created_at: createdAt,
  updated_at: createdAt,
});

describe.each(backends)('migration 0010: attachment bytes move into content blobs, on %s', (backend) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-migrate-'));
  let databaseUrl = `sqlite:${path.join(dir, 'postier.db')}`;
  let schema: string | undefined;
  let s: Wired;
  let t: Pick<TestContext, 'services'>;
  const x = bigPdf(300_000, 40);
  const y = bigPdf(2.5 * 1024 * 1024, 41);
  const ids = {
    m1: '01900000-0000-7000-8000-000000000001',
    m2: '01900000-0000-7000-8000-000000000002',
    m3: '01900000-0000-7000-8000-000000000003',
  };
  const att = (n: number) => `01900000-0000-7000-8000-0000000000a${n}`;
  const old = Date.now() - 10 * DAY;

  beforeAll(async () => {
    if (backend === 'postgres') {
      databaseUrl = process.env.TEST_DATABASE_URL!;
      schema = `t_${process.pid}_${Date.now().toString(36)}_mig`;
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`create schema ${schema}`);
      await client.end();
    }
    // The archive as version 0008 left it: bytes in email_attachments.data.
    const database = openDatabase(databaseUrl, { schema });
    const db = database.db as unknown as Kysely<any>;
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => migrations },
      ...(schema ? { migrationTableSchema: schema } : {}),
    });
    const { error } = await migrateTo(migrator, '0008_lean_indexes');
    if (error) throw error;
    await db
      .insertInto('email_messages')
      .values([
        legacyMessage(ids.m1, 'a@old.bj', 1, old),
        legacyMessage(ids.m2, 'b@old.bj', 2, old),
        legacyMessage(ids.m3, 'c@old.bj', 1, old),
      ])
      .execute();
    const row = (n: number, messageId: string, data: Buffer | null, bytes: Buffer) => ({
      id: att(n),
      message_id: messageId,
      filename: `f${n}.pdf`,
      content_type: 'application/pdf',
      size_bytes: bytes.length,
      sha256: sha256(bytes),
      data,
      created_at: old,
    });
    await db
      .insertInto('email_attachments')
      .values([row(1, ids.m1, x, x), row(2, ids.m2, x, x), row(3, ids.m2, y, y), row(4, ids.m3, null, x)])
      .execute();
    await database.close();

    const env = {
      DATABASE_URL: databaseUrl,
      DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      POSTIER_ADMIN_TOKEN: ADMIN_TOKEN,
      SMTP_FROM_EMAIL: 'noreply@rgz.bj',
    };
    const config = loadConfig(env);
    s = await wire(config, createLogger('silent'), { schema });
    t = { services: s };
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores each distinct content once, references it from every row that had it, and empties the rows', async () => {
    expect(await stored(t as TestContext, sha256(x))).toEqual({
      blobs: 1,
      size: x.length,
      parts: 1,
      bytes: x.length,
      references: 2,
      inlineData: 0,
    });
    expect(await stored(t as TestContext, sha256(y))).toEqual({
      blobs: 1,
      size: y.length,
      parts: 3,
      bytes: y.length,
      references: 1,
      inlineData: 0,
    });
    const rows = await s.db
      .selectFrom('email_attachments')
      .select(['id', 'sha256', 'blob_sha256', 'data'])
      .orderBy('id')
      .execute();
    expect(rows.map((r) => [r.id, r.blob_sha256, r.data])).toEqual([
      [att(1), sha256(x), null],
      [att(2), sha256(x), null],
      [att(3), sha256(y), null],
      // Bytes already dropped (anonymized) stay dropped; the metadata hash stays.
      [att(4), null, null],
    ]);
    expect(rows[3]!.sha256).toBe(sha256(x));
  });

  it('serves the moved bytes, and still the bytes of a row an older process wrote during the upgrade', async () => {
    const app = await buildApp(s);
    try {
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const get = (m: string, a: string) =>
        app.inject({ method: 'GET', url: `/api/v1/email/messages/${m}/attachments/${a}`, headers });
      expect(Buffer.compare((await get(ids.m1, att(1))).rawPayload, x)).toBe(0);
      expect(Buffer.compare((await get(ids.m2, att(3))).rawPayload, y)).toBe(0);
      expect((await get(ids.m3, att(4))).statusCode).toBe(404);

      const late = bigPdf(5000, 42);
      const lateMessage = {
        ...legacyMessage('01900000-0000-7000-8000-000000000004', 'd@old.bj', 1, old),
        priority: 5,
        attempts: 0,
        is_test: 0,
      };
      await s.db.insertInto('email_messages').values(lateMessage).execute();
      await s.db
        .insertInto('email_attachments')
        .values({
          id: att(5),
          message_id: '01900000-0000-7000-8000-000000000004',
          filename: 'late.pdf',
          content_type: 'application/pdf',
          size_bytes: late.length,
          sha256: sha256(late),
          data: late,
          created_at: old,
          blob_sha256: null,
        })
        .execute();
      expect(Buffer.compare((await get('01900000-0000-7000-8000-000000000004', att(5))).rawPayload, late)).toBe(0);
      // Retention drops such bytes too.
      await anonymizeOld(s, Date.now() + 100 * DAY);
      expect((await get('01900000-0000-7000-8000-000000000004', att(5))).statusCode).toBe(404);
      expect(await stored(t as TestContext, sha256(x))).toMatchObject({ blobs: 0, references: 0 });
    } finally {
      await app.close();
    }
  });
});
