/**
 * npm run bench:submission [-- --messages 20000]
 *
 * Messages accepted per second by the SMTP submission listener of `postier serve --no-worker`,
 * sent by Postfix's smtp-source (8 sessions, 2 KB messages, connections reused), each 250 after
 * the durable commit, and the rate at which the spool stored them as messages. SQLite, and PostgreSQL
 * too when DATABASE_URL=postgres://… is given.
 * `npm run bench` runs this too.
 */
import { printTable } from '../test/support/table.js';
import { ensurePostfixTools } from './lib/refs.js';
import { submissionAccepted } from './lib/submission.js';

const i = process.argv.indexOf('--messages');
const messages = i > 0 ? Number(process.argv[i + 1]) : 20000;
ensurePostfixTools();
const rows: Array<Record<string, string | number>> = [];
const sqlite = await submissionAccepted({ messages });
rows.push({
  database: 'sqlite (WAL fsynced before 250)',
  'accepted/s': Math.round(sqlite.rate),
  'stored/s': Math.round(sqlite.archivedRate),
  messages,
});
if (process.env.DATABASE_URL?.startsWith('postgres')) {
  const pg = await submissionAccepted({ messages, env: { DATABASE_URL: process.env.DATABASE_URL } });
  rows.push({
    database: 'postgresql',
    'accepted/s': Math.round(pg.rate),
    'stored/s': Math.round(pg.archivedRate),
    messages,
  });
}
printTable('SMTP submission accepted/s (smtp-source, 8 sessions, 2 KB)', rows);
