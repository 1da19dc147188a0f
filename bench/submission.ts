/**
 * npm run bench:submission [-- --messages 20000]
 *
 * Messages accepted per second by the SMTP submission listener of `postier serve --no-worker`,
 * sent by Postfix's smtp-source (8 sessions, 2 KB messages, connections reused), each 250 after
 * the durable commit, and the rate at which the spool stored them as messages. SQLite, and
 * PostgreSQL too when DATABASE_URL=postgres://… is given (a scratch database, emptied first; its
 * ingester on a thread of its own, the default there); SQLite again with the ingester on its
 * thread (SUBMISSION_INGEST_THREAD=true), what the default (in the listener's loop) is compared
 * with.
 * The reference row, measured in the same run the same way, is smtp-server (the library the
 * listener is built on) storing nothing: the ceiling.
 * `npm run bench` runs this too.
 */
import { printTable } from '../test/support/table.js';
import { ensurePostfixTools } from './lib/refs.js';
import { resetPostgres } from './lib/pg-reset.js';
import { noopListenerAccepted, submissionAccepted } from './lib/submission.js';

const i = process.argv.indexOf('--messages');
const messages = i > 0 ? Number(process.argv[i + 1]) : 20000;
ensurePostfixTools();
const rows: Array<Record<string, string | number>> = [];
const ceiling = await noopListenerAccepted({ messages });
const sqlite = await submissionAccepted({ messages });
const ofCeiling = (rate: number) => `${(rate / ceiling.rate).toFixed(2)}×`;
// How long the listener's event loop was held up while it accepted (its API would have waited as long).
const loop = (r: { loopP99Ms: number; loopMaxMs: number }) => `${r.loopP99Ms.toFixed(1)} / ${r.loopMaxMs.toFixed(1)}`;
rows.push({
  database: 'sqlite (WAL fsynced before 250)',
  'accepted/s': Math.round(sqlite.rate),
  'stored/s': Math.round(sqlite.archivedRate),
  'of ref': ofCeiling(sqlite.rate),
  'loop p99/max ms': loop(sqlite),
  messages,
});
const threaded = await submissionAccepted({ messages, env: { SUBMISSION_INGEST_THREAD: 'true' } });
rows.push({
  database: 'sqlite, ingester on its own thread',
  'accepted/s': Math.round(threaded.rate),
  'stored/s': Math.round(threaded.archivedRate),
  'of ref': ofCeiling(threaded.rate),
  'loop p99/max ms': loop(threaded),
  messages,
});
if (process.env.DATABASE_URL?.startsWith('postgres')) {
  // Emptied first, as the SQLite rows start from new files.
  await resetPostgres(process.env.DATABASE_URL);
  const pg = await submissionAccepted({ messages, env: { DATABASE_URL: process.env.DATABASE_URL } });
  rows.push({
    database: 'postgresql (ingester thread)',
    'accepted/s': Math.round(pg.rate),
    'stored/s': Math.round(pg.archivedRate),
    'of ref': ofCeiling(pg.rate),
    'loop p99/max ms': loop(pg),
    messages,
  });
}
rows.push({
  database: 'ref: smtp-server storing nothing',
  'accepted/s': Math.round(ceiling.rate),
  'stored/s': '-',
  'of ref': '1.00×',
  'loop p99/max ms': '-',
  messages,
});
printTable('SMTP submission accepted/s (smtp-source, 8 sessions, 2 KB)', rows);
