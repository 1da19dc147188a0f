import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { type Config, loadConfig } from '../../src/platform/config.js';
import { buildApp } from '../../src/http/app.js';
import { type Database, openDatabase } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import type { DB } from '../../src/platform/db/schema.js';
import { type Wired, wire } from '../../src/app/wiring.js';
import { createLogger } from '../../src/platform/log.js';
import { runId, SQLITE_TEMPLATE_PREFIX } from './run-id.js';

export type Backend = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it). */
export const backends: Backend[] = process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestContext {
  backend: Backend;
  config: Config;
  services: Wired;
  app: FastifyInstance;
  dir: string;
  /** PostgreSQL schema of this context (undefined on SQLite): a second wire() can share the database. */
  schema: string | undefined;
  /** app.inject with the admin token unless headers say otherwise. */
  inject(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

let counter = 0;

/** Where a test's data lives: a fresh SQLite file in `dir`, or a fresh PostgreSQL schema. */
export async function freshStorage(
  backend: Backend,
): Promise<{ dir: string; databaseUrl: string; schema: string | undefined }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-test-'));
  if (backend === 'sqlite') return { dir, databaseUrl: `sqlite:${path.join(dir, 'postier.db')}`, schema: undefined };
  const databaseUrl = process.env.TEST_DATABASE_URL!;
  // t_<run id>_…: the run's teardown drops its own schemas (see global-setup.ts).
  const schema = `t_${runId()}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  return { dir, databaseUrl, schema };
}

let sqliteTemplate: Promise<string> | undefined;

/**
 * An SQLite database at `databaseUrl` with every migration applied, copied from one this process
 * migrated once (the file is whole once its last connection closed): the tests make hundreds, and
 * migrating each took 40–80 ms. What the migrations make is the same; their own tests
 * (migration-*.test.ts) migrate from nothing.
 */
async function migratedSqlite(databaseUrl: string): Promise<void> {
  sqliteTemplate ??= (async () => {
    // Removed by the run's teardown (global-setup.ts): Vitest may end its workers without 'exit'.
    const dir = mkdtempSync(path.join(tmpdir(), `${SQLITE_TEMPLATE_PREFIX}${runId()}-`));
    const file = path.join(dir, 'migrated.db');
    const database = openDatabase(`sqlite:${file}`);
    await migrateToLatest(database.db);
    await database.close();
    return file;
  })();
  copyFileSync(await sqliteTemplate, databaseUrl.slice('sqlite:'.length));
}

export interface TestDatabase {
  backend: Backend;
  database: Database;
  db: Kysely<DB>;
  close(): Promise<void>;
}

/** Only a migrated database, for tests of one part that needs nothing else. */
export async function createTestDatabase(backend: Backend): Promise<TestDatabase> {
  const { dir, databaseUrl, schema } = await freshStorage(backend);
  if (backend === 'sqlite') await migratedSqlite(databaseUrl);
  const database = openDatabase(databaseUrl, { schema });
  await migrateToLatest(database.db, schema);
  return {
    backend,
    database,
    db: database.db,
    async close() {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh database (SQLite file or PostgreSQL schema), migrated and seeded, and the HTTP app. */
export async function createTestContext(backend: Backend, env: Record<string, string> = {}): Promise<TestContext> {
  const { dir, databaseUrl, schema } = await freshStorage(backend);
  if (backend === 'sqlite') await migratedSqlite(databaseUrl);
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    DATA_DIR: dir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    POSTIER_ADMIN_TOKEN: ADMIN_TOKEN,
    SMTP_FROM_EMAIL: 'noreply@rgz.bj',
    SMTP_FROM_NAME: 'RGZ Notifications',
    SMTP_REPLY_TO: 'support@rgz.bj',
    // A process that serves the API starts the submission listener: on a port of its own, so
    // test files that serve at the same time do not meet on 2587.
    SUBMISSION_PORT: '0',
    ...env,
  });
  const services = await wire(config, createLogger(config.logLevel), { schema });
  // Every answer of every test is checked against its route's response schema.
  const app = await buildApp(services, { checkResponses: true });
  return {
    backend,
    config,
    services,
    app,
    dir,
    schema,
    inject(opts) {
      const { token = ADMIN_TOKEN, ...rest } = opts;
      const headers = { ...(rest.headers ?? {}) } as Record<string, string>;
      if (token !== null && headers.authorization === undefined) headers.authorization = `Bearer ${token}`;
      return app.inject({ ...rest, headers });
    },
    async close() {
      await app.close();
      await services.close();
      // The schema stays until the end of the run (see global-setup.ts).
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
