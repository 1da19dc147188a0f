import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { type Config, loadConfig } from '../../src/platform/config.js';
import { buildApp } from '../../src/http/app.js';
import { createServices, type Services } from '../../src/app/wiring.js';
import { createLogger } from '../../src/platform/log.js';
import { runId } from './run-id.js';

export type Backend = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it). */
export const backends: Backend[] = process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestContext {
  backend: Backend;
  config: Config;
  services: Services;
  app: FastifyInstance;
  dir: string;
  /** PostgreSQL schema of this context (undefined on SQLite): a second createServices can share the database. */
  schema: string | undefined;
  /** app.inject with the admin token unless headers say otherwise. */
  inject(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

let counter = 0;

/** A fresh database (SQLite file or PostgreSQL schema), migrated and seeded, and the HTTP app. */
export async function createTestContext(backend: Backend, env: Record<string, string> = {}): Promise<TestContext> {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-test-'));
  let schema: string | undefined;
  let databaseUrl = `sqlite:${path.join(dir, 'postier.db')}`;
  if (backend === 'postgres') {
    databaseUrl = process.env.TEST_DATABASE_URL!;
    // t_<run id>_…: the run's teardown drops its own schemas (see global-setup.ts).
    schema = `t_${runId()}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`create schema ${schema}`);
    await client.end();
  }
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    DATA_DIR: dir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    POSTIER_ADMIN_TOKEN: ADMIN_TOKEN,
    SMTP_FROM_EMAIL: 'noreply@rgz.bj',
    SMTP_FROM_NAME: 'RGZ Notifications',
    SMTP_REPLY_TO: 'support@rgz.bj',
    ...env,
  });
  const services = await createServices(config, createLogger(config.logLevel), { schema });
  const app = await buildApp(services);
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
