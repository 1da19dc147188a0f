import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ensureWebBuilt } from './web-build.js';
import { RUN_ID_VARIABLE, SQLITE_TEMPLATE_PREFIX } from './run-id.js';

/**
 * Once per run, before any worker: the admin UI tests need a current web/dist, and the run gets
 * an id that the workers (started after this, with its environment) put in their schema names.
 */
export default async function setup(): Promise<() => Promise<void>> {
  process.env[RUN_ID_VARIABLE] = `r${randomBytes(5).toString('hex')}`;
  await ensureTrigramExtension();
  await ensureWebBuilt();
  return teardown;
}

/**
 * Migration 0018 creates pg_trgm where the search path points when the database has none: in a
 * test, a schema the run drops at its end, with every other run's trigram indexes depending on
 * it. Created once here in public, the migrations find it there.
 */
async function ensureTrigramExtension(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('create extension if not exists pg_trgm schema public');
  } finally {
    await client.end();
  }
}

/**
 * Test files drop nothing while the run goes on: a schema dropped in the middle of another
 * file's migration broke Kysely's introspection there ("schema … does not exist") when it read
 * every schema (Postier's reads its own now: platform/db/postgres-dialect.ts). The run's
 * schemas (t_<run id>_…) go once every file has finished; another run's, on the same server,
 * stay for that run.
 */
async function teardown(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  const runId = process.env[RUN_ID_VARIABLE];
  // The workers' migrated SQLite templates (helpers/context.ts).
  for (const name of readdirSync(tmpdir()))
    if (runId && name.startsWith(`${SQLITE_TEMPLATE_PREFIX}${runId}-`))
      rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
  if (!url || !runId) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>(
      'select nspname from pg_namespace where starts_with(nspname, $1)',
      [`t_${runId}_`],
    );
    for (const r of rows) await client.query(`drop schema if exists "${r.nspname}" cascade`);
  } finally {
    await client.end();
  }
}
