import pg from 'pg';

/**
 * Empties the PostgreSQL database at `url` (its public schema dropped and made again) so a run
 * starts from nothing, as each SQLite run starts from a new file: messages left by an earlier
 * run would be delivered, and counted, by the next. The bench's DATABASE_URL must be a scratch
 * database (by default the bench starts a throwaway cluster of its own).
 */
export async function resetPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('drop schema if exists public cascade');
    await client.query('create schema public');
  } finally {
    await client.end();
  }
}
