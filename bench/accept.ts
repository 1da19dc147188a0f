/**
 * npm run bench:accept [-- --seconds 10 --connections 64]
 *
 * Single-recipient sends posted with concurrency to a `postier serve --no-worker` process;
 * prints accepted messages/s and p50/p99 latency. Every 201 is answered after a durable commit
 * (SQLite synchronous=FULL, shared by concurrent requests through group commit). Runs on SQLite,
 * and on PostgreSQL too when DATABASE_URL=postgres://… is given.
 */
import autocannon from 'autocannon';
import { printTable } from './lib/table.js';
import { BENCH_TOKEN, startServer } from './lib/server.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 10);
const connections = arg('connections', 64);

const body = JSON.stringify({
  to: 'bench@example.com',
  template_key: 'support_ticket_created',
  variables: { ticket_number: '4821', title: 'Débit lent à Cotonou', priority: 'P2', support_link: 'https://support.rgz.bj/t/4821' },
});

async function run(label: string, env: Record<string, string>, port: number) {
  const server = await startServer({ port, env, args: ['--no-worker'] });
  try {
    const opts = {
      url: `${server.url}/api/v1/email/send`,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
      body,
      connections,
    };
    await autocannon({ ...opts, duration: 2 }); // warm-up: JIT, template cache, page cache
    const r = await autocannon({ ...opts, duration: seconds });
    const accepted = r['2xx'];
    return {
      database: label,
      'accepted/s': Math.round(accepted / seconds),
      'p50 ms': r.latency.p50,
      'p99 ms': r.latency.p99,
      'max ms': r.latency.max,
      non2xx: r.non2xx + r.errors + r.timeouts,
      connections,
    };
  } finally {
    await server.stop();
  }
}

const rows = [await run('sqlite (synchronous=FULL)', {}, 8301)];
if (process.env.DATABASE_URL?.startsWith('postgres')) rows.push(await run('postgresql', { DATABASE_URL: process.env.DATABASE_URL }, 8302));
printTable(`POST /api/v1/email/send, ${seconds} s, ${connections} connections`, rows);
