/**
 * npm run bench:accept [-- --seconds 10 --connections 64]
 *
 * Single-recipient sends posted with concurrency to `postier serve --no-worker`, with one HTTP
 * process and with two (API_PROCESSES=2); prints accepted messages/s and p50/p99 latency. Every
 * 201 is answered after a durable commit (SQLite: the WAL fsynced first, one fsync shared by
 * concurrent requests). Runs on SQLite, and on PostgreSQL too when DATABASE_URL=postgres://… is
 * given (a scratch database: emptied before each run). The load comes from wrk
 * (BENCH_LOAD=autocannon for the Node one). `npm run bench` runs this too.
 */
import { printTable } from '../test/support/table.js';
import { loadClient, measureAccept } from './lib/accept.js';
import { resetPostgres } from './lib/pg-reset.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 10);
const connections = arg('connections', 64);

const rows: Array<Record<string, string | number>> = [];
for (const processes of ['1', '2']) {
  rows.push({
    database: 'sqlite (WAL fsynced before 201)',
    API_PROCESSES: processes,
    ...(await measureAccept({ env: { API_PROCESSES: processes }, seconds, connections })),
    connections,
  });
  if (process.env.DATABASE_URL?.startsWith('postgres')) {
    // Emptied first, as each SQLite run starts from a new file (it grew by every run before).
    await resetPostgres(process.env.DATABASE_URL);
    rows.push({
      database: 'postgresql',
      API_PROCESSES: processes,
      ...(await measureAccept({
        env: { DATABASE_URL: process.env.DATABASE_URL, API_PROCESSES: processes },
        seconds,
        connections,
      })),
      connections,
    });
  }
}
printTable(`POST /api/v1/email/send, ${seconds} s, ${connections} connections (${loadClient()})`, rows);
