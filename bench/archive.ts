/**
 * npm run bench:archive [-- --messages 2000000 --bytes-messages 5000 --seconds 5 --rounds 3 --no-pg --no-sqlite
 *   --fresh --tables bytes,cost,catcost,year]
 *
 * Four tables, on SQLite and on PostgreSQL (DATABASE_URL=postgres://…, a schema of its own):
 *
 * 1. Archive bytes: the benchmark's 2 KB notice sent through the API (in this process) to 50
 *    recipients per request and to 1, in a fresh database each; database bytes per message
 *    (tables and indexes, after the sends), messages accepted per second, and the time to read
 *    a message's full content back (row and body, decompressed).
 * 2. What the search indexes cost accept: 1-recipient sends into fresh databases with and
 *    without them (triggers or trigram indexes dropped), alternating, `--rounds` (3) rounds.
 * 3. What the category index (email_messages_category) costs accept: the same, into fresh
 *    databases and into the seeded archive of table 4 (the index dropped and built again).
 * 4. A year of archive: `--messages` (2,000,000) messages with their events written straight
 *    into the tables (bench/lib/archive-seed.ts), then: accepted/s against it and against an
 *    empty database in the same run (alternating), GET /api/v1/email/messages?to= p99, the
 *    list filtered by a category (rare, common, none; with a status, an address, a date range;
 *    a second page), the search (`q`) p99 for several kinds of query, the dashboard stats p99,
 *    and the retention purge of one day of messages while sends go on (its duration, and the
 *    sends' p99 meanwhile), the purge on a thread of its own as `postier serve` runs it.
 *
 * Requests go through the Fastify app with app.inject (no HTTP sockets): the figures are the
 * server's own work, durable commit included. The seeded databases are kept between runs under
 * /tmp/postier-bench-archive (BENCH_ARCHIVE_DIR; SQLite file; PostgreSQL schema bench_archive_<n>); --fresh
 * seeds again.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { wire } from '../src/app/wiring.js';
import { BODY_ENCODING } from '../src/content/index.js';
import { buildApp } from '../src/http/app.js';
import { indexPending, messageWithBodies } from '../src/messages/index.js';
import { loadConfig } from '../src/platform/config.js';
import type { DB } from '../src/platform/db/schema.js';
import { createLogger } from '../src/platform/log.js';
import { printTable } from '../test/support/table.js';
import {
  addressOf,
  RARE_CATEGORY,
  recipientOf,
  sampleBody,
  seedEventsSql,
  seedMessagesSql,
  YEAR_MS,
} from './lib/archive-seed.js';
import { purgeOnThread } from './lib/purge-thread.js';
import { BENCH_TEMPLATE } from './lib/template.js';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000000' },
    'bytes-messages': { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '5' },
    // Rounds of the with/without alternation of tables 2 and 3 (npm test's smoke run takes 1).
    rounds: { type: 'string', default: '3' },
    'no-pg': { type: 'boolean', default: false },
    'no-sqlite': { type: 'boolean', default: false },
    fresh: { type: 'boolean', default: false },
    tables: { type: 'string', default: 'bytes,cost,catcost,year' },
  },
});
const tables = new Set(args.tables.split(','));
const N = Number(args.messages);
const BYTES_N = Number(args['bytes-messages']);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds ${args.rounds}: a whole number, 1 or more`);
const TOKEN = 'bench-admin-token-0123456789abcdef';
const CACHE = process.env.BENCH_ARCHIVE_DIR ?? path.join(tmpdir(), 'postier-bench-archive');
const pgUrl = !args['no-pg'] && process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined;
const log = (m: string) => console.error(`bench:archive: ${m}`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : Number.NaN;
};
const ms = (x: number) => Math.round(x * 10) / 10;

type Backend = 'sqlite' | 'postgres';
interface Target {
  backend: Backend;
  url: string;
  schema?: string;
  dir: string;
}

async function ensureSchema(schema: string, drop: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    if (drop) await client.query(`drop schema if exists ${schema} cascade`);
    await client.query(`create schema if not exists ${schema}`);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database of that backend. */
async function freshTarget(backend: Backend, name: string): Promise<Target> {
  const dir = path.join(CACHE, `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (backend === 'sqlite') return { backend, url: `sqlite:${path.join(dir, 'postier.db')}`, dir };
  const schema = `bench_${name.replace(/\W/g, '_')}_${process.pid}`;
  await ensureSchema(schema, true);
  return { backend, url: pgUrl!, schema, dir };
}

async function dropTarget(t: Target): Promise<void> {
  rmSync(t.dir, { recursive: true, force: true });
  if (t.schema) {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop schema if exists ${t.schema} cascade`);
    await client.end();
  }
}

async function open(t: Target, env: Record<string, string> = {}) {
  const config = loadConfig({
    DATABASE_URL: t.url,
    DATA_DIR: t.dir,
    LOG_LEVEL: 'silent',
    POSTIER_ADMIN_TOKEN: TOKEN,
    POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4),
    SMTP_FROM_EMAIL: 'noreply@rgz.bj',
    SMTP_FROM_NAME: 'RGZ Notifications',
    ...(process.env.SQLITE_CACHE_MB ? { SQLITE_CACHE_MB: process.env.SQLITE_CACHE_MB } : {}),
    ...env,
  });
  const services = await wire(config, createLogger('silent'), { schema: t.schema });
  const app = await buildApp(services);
  // As `postier serve` does: SQLite's search index takes new messages after their commit.
  services.searchIndex.start();
  const inject = (method: 'GET' | 'POST', url: string, payload?: object) =>
    app.inject({ method, url, payload, headers: { authorization: `Bearer ${TOKEN}` } });
  return {
    services,
    inject,
    async close() {
      await app.close();
      await services.searchIndex.stop();
      await services.close();
    },
  };
}
type Opened = Awaited<ReturnType<typeof open>>;

/** Bytes of every table and index of the database (SQLite: its pages; PostgreSQL: the schema's relations). */
async function databaseBytes(db: Kysely<DB>, t: Target): Promise<number> {
  if (t.backend === 'sqlite') {
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
    const r = await sql<{ n: number }>`select sum(pgsize) as n from dbstat`.execute(db);
    return Number(r.rows[0]!.n);
  }
  const r = await sql<{ n: string }>`select sum(pg_total_relation_size(c.oid)) as n from pg_class c
    join pg_namespace s on s.oid = c.relnamespace where s.nspname = ${t.schema} and c.relkind in ('r', 'm')`.execute(
    db,
  );
  return Number(r.rows[0]!.n);
}

const notice = (to: string | string[], i: number) => ({
  to,
  template_key: BENCH_TEMPLATE.key,
  variables: {
    reseller_name: 'Tech Connect SA',
    month: 'février',
    year: '2026',
    amount_fcfa: String(100000 + i),
    link_portal: 'https://admin-rgz.duckdns.org/invoices/latest',
    invoice_number: `INV-2026-${i}`,
  },
});

/** A default template's send (the seeded archive has no bench template). */
const ticket = (to: string, i: number) => ({
  to,
  template_key: 'support_ticket_created',
  variables: {
    ticket_number: String(i),
    title: 'Débit lent à Cotonou',
    priority: 'P2',
    support_link: 'https://s.rgz.bj',
  },
});

/**
 * Runs `send(i)` from `concurrency` loops for `seconds`; returns accepted sends per second, their
 * p99, and how many were refused (`send` returns false: on a starved machine the template
 * engine's render time limit can refuse one).
 */
async function closedLoop(seconds: number, concurrency: number, send: (i: number) => Promise<boolean>) {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        if (await send(i++)) latencies.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  return { perSecond: Math.round(latencies.length / seconds), p99: ms(pct(latencies, 99)), errors };
}

// ------------------------------------------------------------------ archive bytes --

async function archiveBytes(backend: Backend, perRequest: number) {
  const t = await freshTarget(backend, `bytes${perRequest}`);
  const o = await open(t);
  try {
    const created = await o.inject('POST', '/api/v1/email/templates', BENCH_TEMPLATE);
    if (created.statusCode !== 201) throw new Error(`bench template: ${created.statusCode} ${created.body}`);
    const before = await databaseBytes(o.services.db, t);
    const requests = Math.ceil(BYTES_N / perRequest);
    const t0 = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (done < requests) {
          const i = done++;
          const to = Array.from({ length: perRequest }, (_, k) => `reader${i * perRequest + k}@isp${k % 50}.bj`);
          const res = await o.inject('POST', '/api/v1/email/send', notice(perRequest === 1 ? to[0]! : to, i));
          if (res.statusCode !== 201) throw new Error(`send: ${res.statusCode} ${res.body}`);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const after = await databaseBytes(o.services.db, t);
    const messages = requests * perRequest;
    // A message's full content: its row and its body, decompressed, as the API's message detail reads them.
    const ids = (await o.services.db.selectFrom('email_messages').select('id').limit(500).execute()).map((r) => r.id);
    const reads: number[] = [];
    for (let k = 0; k < 2000; k++) {
      const t1 = performance.now();
      const full = await messageWithBodies(o.services.db, ids[k % ids.length]!);
      if (!full.html_content) throw new Error('no body read back');
      reads.push(performance.now() - t1);
    }
    return {
      database: backend,
      'recipients/request': perRequest,
      messages,
      'bytes/message': Math.round((after - before) / messages),
      'accepted msg/s': Math.round(messages / seconds),
      'read p50 ms': Math.round(pct(reads, 50) * 100) / 100,
      'read p99 ms': Math.round(pct(reads, 99) * 100) / 100,
    };
  } finally {
    await o.close();
    await dropTarget(t);
  }
}

// ------------------------------------------------------------------ what search costs accept --

/**
 * What some indexes cost accept: 1-recipient sends, `SECONDS` each, into a database with them and
 * one without (`drops` run after its migrations), alternating, `ROUNDS` rounds. Fresh databases unless
 * `into` gives one (the seeded archive: `without` drops, `with` runs `restore` first).
 */
async function acceptCost(
  backend: Backend,
  name: string,
  drops: string[],
  into?: { target: Target; restore: string[] },
) {
  const rates: Record<'with' | 'without', number[]> = { with: [], without: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of ['with', 'without'] as const) {
      const t = into?.target ?? (await freshTarget(backend, `${name}-${variant}`));
      const o = await open(t);
      try {
        for (const d of variant === 'without' ? drops : (into?.restore ?? [])) await sql.raw(d).execute(o.services.db);
        // SQLite: an index just built (or the migrations) leaves its pages in the WAL; written
        // back now, not by the checkpoints of the sends measured.
        if (backend === 'sqlite') await sql`pragma wal_checkpoint(TRUNCATE)`.execute(o.services.db);
        const r = await closedLoop(
          SECONDS,
          16,
          async (i) =>
            (await o.inject('POST', '/api/v1/email/send', ticket(`${name}${round}${variant}${i}@isp${i % 50}.bj`, i)))
              .statusCode === 201,
        );
        rates[variant].push(r.perSecond);
      } finally {
        await o.close();
        if (!into) await dropTarget(t);
      }
    }
  }
  if (into) {
    // The archive is left with the indexes, as the year's table reads it.
    const o = await open(into.target);
    try {
      for (const d of into.restore) await sql.raw(d).execute(o.services.db);
    } finally {
      await o.close();
    }
  }
  const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  return {
    with: `${mean(rates.with)} (${rates.with.join(', ')})`,
    without: `${mean(rates.without)} (${rates.without.join(', ')})`,
    ratio: (mean(rates.with) / mean(rates.without)).toFixed(2),
  };
}

/** The search index's own cost on accept: fresh databases with and without it, alternating. */
async function searchCost(backend: Backend) {
  const drops =
    backend === 'sqlite'
      ? ['insert', 'update', 'delete'].map((x) => `drop trigger email_messages_search_${x}`)
      : ['recipient', 'subject', 'sender', 'tags'].map((x) => `drop index email_messages_${x}_trgm`);
  const r = await acceptCost(backend, 'cost', drops);
  return {
    database: backend,
    'accepted/s with search indexes': r.with,
    'accepted/s without': r.without,
    ratio: r.ratio,
  };
}

/**
 * The category index's cost on accept (email_messages_category, migration 0025): into fresh
 * databases, and into the seeded archive (the index dropped, then built again), alternating.
 */
async function categoryIndexCost(backend: Backend) {
  const drop = ['drop index if exists email_messages_category'];
  const restore = ['create index if not exists email_messages_category on email_messages (category, id)'];
  const fresh = await acceptCost(backend, 'catcost', drop);
  const archive = await acceptCost(backend, 'catcost', drop, { target: await seeded(backend), restore });
  return [
    {
      database: backend,
      into: 'fresh databases',
      'accepted/s with the index': fresh.with,
      'accepted/s without': fresh.without,
      ratio: fresh.ratio,
    },
    {
      database: backend,
      into: `the seeded archive (${N})`,
      'accepted/s with the index': archive.with,
      'accepted/s without': archive.without,
      ratio: archive.ratio,
    },
  ];
}

// ------------------------------------------------------------------ a year of archive --

/** The seeded database of this size, seeded now unless a previous run left it. */
async function seeded(backend: Backend): Promise<Target> {
  const dir = path.join(CACHE, `year-${N}`);
  mkdirSync(dir, { recursive: true });
  const t: Target =
    backend === 'sqlite'
      ? { backend, url: `sqlite:${path.join(dir, 'postier.db')}`, dir }
      : { backend, url: pgUrl!, schema: `bench_archive_${N}`, dir };
  if (args.fresh) {
    if (backend === 'sqlite') rmSync(path.join(dir, 'postier.db'), { force: true });
    else await ensureSchema(t.schema!, true);
  }
  if (backend === 'postgres') await ensureSchema(t.schema!, false);
  const o = await open(t);
  try {
    const have = Number(
      (
        await o.services.db
          .selectFrom('email_messages')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    if (have >= N * 0.99) {
      log(`${backend}: reusing the seeded archive (${have} messages)`);
      return t;
    }
    if (have > 0) throw new Error(`${backend}: a partly seeded archive (${have}); run with --fresh`);
    await seed(o, backend);
    return t;
  } finally {
    await o.close();
  }
}

async function seed(o: Opened, backend: Backend): Promise<void> {
  const db = o.services.db;
  const pgDb = backend === 'postgres';
  const now = Date.now();
  const t0 = performance.now();
  // Secondary indexes are dropped during the load and built again after, as a bulk load would.
  const indexes = pgDb
    ? (
        await sql<{ name: string; def: string }>`select indexname as name, indexdef as def from pg_indexes
          where schemaname = current_schema() and tablename in ('email_messages', 'email_events')
          and indexname not like '%_pkey'`.execute(db)
      ).rows
    : (
        await sql<{ name: string; def: string }>`select name, sql as def from sqlite_master
          where type = 'index' and tbl_name in ('email_messages', 'email_events') and sql is not null`.execute(db)
      ).rows;
  for (const i of indexes) await sql.raw(`drop index ${i.name}`).execute(db);
  const bodies = Math.floor(N / 50) + 1;
  const body = sampleBody();
  if (pgDb) {
    await sql`insert into email_bodies (id, encoding, data) overriding system value
      select i, ${BODY_ENCODING}, ${body} from generate_series(1, ${bodies}) i`.execute(db);
    await sql.raw(`alter table email_bodies alter column id restart with ${bodies + 1}`).execute(db);
  } else {
    await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${sql.lit(bodies)})
      insert into email_bodies (id, encoding, data) select i, ${BODY_ENCODING}, ${body} from n`.execute(db);
  }
  const chunk = 100_000;
  const step = Math.floor(YEAR_MS / N);
  const start = now - YEAR_MS;
  for (let from = 1; from <= N; from += chunk) {
    const to = Math.min(N, from + chunk - 1);
    await db.transaction().execute(async (trx) => {
      await sql.raw(seedMessagesSql(pgDb, now, N, from, to)).execute(trx);
      for (const q of seedEventsSql(start + from * step, start + (to + 1) * step)) await sql.raw(q).execute(trx);
    });
    log(`${backend}: seeded ${to} / ${N} messages (${Math.round((performance.now() - t0) / 1000)} s)`);
  }
  for (const i of indexes) await sql.raw(i.def).execute(db);
  // SQLite: the seeded messages wait in message_search_pending (migration 0021): indexed now, in
  // large transactions, as a bulk load would (the background job takes 500 a commit).
  if (!pgDb) for (let n = 1; n > 0; ) n = await db.transaction().execute((trx) => indexPending(trx, 200_000));
  if (pgDb) await sql`analyze`.execute(db);
  log(`${backend}: seeded and indexed in ${Math.round((performance.now() - t0) / 1000)} s`);
}

async function timed(n: number, fn: (k: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    await fn(k);
    out.push(performance.now() - t0);
  }
  return out;
}

async function yearOfArchive(backend: Backend) {
  const t = await seeded(backend);
  const rows: Array<Record<string, string | number>> = [];
  const row = (what: string, figures: Record<string, string | number>) =>
    rows.push({ database: backend, what, ...figures });
  const acceptOnce = (o: Opened, label: string) =>
    closedLoop(
      SECONDS,
      16,
      async (i) =>
        (await o.inject('POST', '/api/v1/email/send', ticket(`accept${label}${i}@example.com`, i))).statusCode === 201,
    );

  // Accept against the archive and against an empty database, alternating.
  const empty = await freshTarget(backend, 'empty');
  const full: number[] = [];
  const bare: number[] = [];
  const fullP99: number[] = [];
  for (let round = 0; round < 2; round++) {
    for (const [target, into, p99s] of [
      [empty, bare, null],
      [t, full, fullP99],
    ] as const) {
      const o = await open(target);
      try {
        const r = await acceptOnce(o, `${round}${target === t ? 'f' : 'e'}`);
        into.push(r.perSecond);
        p99s?.push(r.p99);
      } finally {
        await o.close();
      }
    }
  }
  await dropTarget(empty);
  const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  row('accepted/s (1 recipient)', {
    figure: mean(full),
    'p99 ms': ms(pct(fullP99, 50)),
    goal: `>= 0.9 x empty (${mean(bare)}/s): ${(mean(full) / mean(bare)).toFixed(2)} x`,
  });

  // Archive days are kept well past the oldest message: nothing expires until the purge below.
  const o = await open(t, { EMAIL_AUDIT_RETENTION_DAYS: '3650' });
  try {
    const count = Number(
      (
        await o.services.db
          .selectFrom('email_messages')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    row('messages in the archive', { figure: count, 'p99 ms': '', goal: '' });
    const listTo = await timed(200, async (k) => {
      // Rows from the second month on: each run's purge removes the oldest day of a kept archive.
      const to = addressOf(recipientOf(Math.floor(N / 10) + ((k * 7919) % Math.floor(N * 0.9))));
      const res = await o.inject('GET', `/api/v1/email/messages?to=${encodeURIComponent(to)}`);
      if (res.statusCode !== 200 || res.json().total < 1) throw new Error(`to=${to}: ${res.statusCode} ${res.body}`);
    });
    row('GET messages?to=<address>', {
      figure: ms(pct(listTo, 50)),
      'p99 ms': ms(pct(listTo, 99)),
      goal: 'p99 < 50 ms',
    });

    const day = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString().slice(0, 10);

    // The list filtered by a category: a rare one (RARE_CATEGORY, 1 in 10,000), a common one
    // (billing, a quarter), one nobody uses, and each with another filter or on its next page.
    const secondPage = async (query: string) => {
      const first = await o.inject('GET', `/api/v1/email/messages?${query}`);
      const cursor = first.json().next_cursor as string | null;
      if (!cursor) throw new Error(`${query}: no second page (run with --fresh?)`);
      return `${query}&cursor=${encodeURIComponent(cursor)}`;
    };
    const categoryLists: Array<[string, (k: number) => string, number]> = [
      [`category=<rare> (${RARE_CATEGORY})`, () => `category=${RARE_CATEGORY}`, 1],
      ['category=<common> (billing)', () => 'category=billing', 1],
      ["category=<nobody's>", () => 'category=newsletter', 0],
      [`category=<rare>&status=delivered`, () => `category=${RARE_CATEGORY}&status=delivered`, 1],
      ['category=<common>&status=bounced', () => 'category=billing&status=bounced', 1],
      [`category=<rare>&to=<address>`, (k) => `category=${RARE_CATEGORY}&to=${addressOf(recipientOf(7 + k))}`, 0],
      ['category=<common>&to=<address>', (k) => `category=billing&to=${addressOf(recipientOf(N / 2 + k * 7))}`, 0],
      [
        'category=<common>&since=&until= (a month)',
        (k) => `category=billing&since=${day(60 + (k % 200))}&until=${day(30 + (k % 200))}`,
        1,
      ],
      [`category=<rare>&since= (a month)`, (k) => `category=${RARE_CATEGORY}&since=${day(30 + (k % 200))}`, 1],
    ];
    const pages: Array<[string, string]> = [
      ['category=<common>, page 2', await secondPage('category=billing')],
      ['category=<rare>, page 2', await secondPage(`category=${RARE_CATEGORY}&limit=20`)],
    ];
    for (const [label, query, atLeast] of [
      ...categoryLists,
      ...pages.map(([l, q]) => [l, () => q, 1] as [string, (k: number) => string, number]),
    ]) {
      const times = await timed(20, async (k) => {
        const res = await o.inject('GET', `/api/v1/email/messages?${query(k)}`);
        if (res.statusCode !== 200 || res.json().total < atLeast)
          throw new Error(`${query(k)}: ${res.statusCode} ${res.body} (run with --fresh?)`);
      });
      row(`GET messages?${label}`, { figure: ms(pct(times, 50)), 'p99 ms': ms(pct(times, 99)), goal: 'p99 < 50 ms' });
    }
    const idOf = (
      await o.services.db
        .selectFrom('email_messages')
        .select('id')
        .orderBy('id')
        .offset(Math.floor(N / 3))
        .limit(1)
        .executeTakeFirstOrThrow()
    ).id;
    const searches: Array<[string, (k: number) => string]> = [
      ['to:<whole address, other case>', (k) => `to:${addressOf(recipientOf(N / 2 + k * 7)).toUpperCase()}`],
      ['to:<part of an address>', (k) => `to:client${recipientOf(N / 2 + k * 7)}@`],
      ['word: a domain part (~400 matches)', (k) => `isp${(k * 37) % 5000}.bj`],
      ['subject:<one invoice>', (k) => `subject:"INV-${1 + ((k * 15485863) % N)}"`],
      ['domain: + status:bounced', (k) => `domain:isp${(k * 37) % 5000}.bj status:bounced`],
      [
        'template: + a month',
        (k) => `template:billing_reminder after:${day(60 + (k % 200))} before:${day(30 + (k % 200))}`,
      ],
      ['id:<prefix>', () => `id:${idOf.slice(0, 13)}`],
      ['from:noreply (matches all)', () => 'from:noreply'],
      ['word in most subjects ("facture")', () => 'facture'],
    ];
    for (const [label, q] of searches) {
      const times = await timed(40, async (k) => {
        const res = await o.inject('GET', `/api/v1/email/messages?q=${encodeURIComponent(q(k))}`);
        if (res.statusCode !== 200) throw new Error(`q=${q(k)}: ${res.statusCode} ${res.body}`);
      });
      row(`search q=${label}`, { figure: ms(pct(times, 50)), 'p99 ms': ms(pct(times, 99)), goal: 'p99 < 200 ms' });
    }

    for (const days of [7, 30]) {
      const times = await timed(30, async () => {
        const res = await o.inject('GET', `/api/v1/email/stats?days=${days}`);
        if (res.statusCode !== 200) throw new Error(`stats: ${res.statusCode}`);
      });
      row(`dashboard stats (${days} days)`, {
        figure: ms(pct(times, 50)),
        'p99 ms': ms(pct(times, 99)),
        goal: 'p99 < 200 ms',
      });
    }

    // The purge of the oldest day, with sends going on: how long, and what the sends felt.
    const oldest = Number(
      (
        await o.services.db
          .selectFrom('email_messages')
          .select((eb) => eb.fn.min('created_at').as('m'))
          .executeTakeFirstOrThrow()
      ).m,
    );
    const config = { ...o.services.config, email: { ...o.services.config.email, auditRetentionDays: 1 } };
    // "now" such that exactly the oldest day is past a one-day retention.
    const purgeNow = oldest + 2 * 86_400_000;
    let purging = true;
    const t0 = performance.now();
    // On a thread with its own connection, as `postier serve` runs retention (its delivery thread).
    const purge = purgeOnThread({ config, schema: t.schema, now: purgeNow }).finally(() => {
      purging = false;
    });
    const during: number[] = [];
    let i = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (purging) {
          const t1 = performance.now();
          const res = await o.inject('POST', '/api/v1/email/send', ticket(`during${i}@example.com`, i++));
          if (res.statusCode === 201) during.push(performance.now() - t1);
        }
      }),
    );
    const purged = await purge;
    row('purge of one day', {
      figure: `${purged.messages} msgs in ${ms((performance.now() - t0) / 1000)} s`,
      'p99 ms': ms(pct(during, 99)),
      goal: `sends meanwhile p99 < 100 ms (${during.length} sends)`,
    });
  } finally {
    await o.close();
  }
  return rows;
}

// ------------------------------------------------------------------ run --

mkdirSync(CACHE, { recursive: true });
const backends: Backend[] = [
  ...(args['no-sqlite'] ? [] : (['sqlite'] as const)),
  ...(pgUrl ? (['postgres'] as const) : []),
];
const bytesRows: Array<Record<string, string | number>> = [];
for (const backend of tables.has('bytes') ? backends : []) {
  for (const perRequest of [50, 1]) {
    log(`${backend}: archive bytes, ${perRequest} recipient(s) per request`);
    bytesRows.push(await archiveBytes(backend, perRequest));
  }
}
printTable(
  `Archive bytes: the 2 KB notice, ${BYTES_N} messages (goals: <= 1.5 KB/message at 50 per request, <= 3 KB at 1; read < 1 ms)`,
  bytesRows,
);
const costRows: Array<Record<string, string | number>> = [];
for (const backend of tables.has('cost') ? backends : []) {
  log(`${backend}: accept with and without the search indexes`);
  costRows.push(await searchCost(backend));
}
printTable(
  `What the search indexes cost accept: 1-recipient sends, ${SECONDS} s, 16 in flight, ${ROUNDS} round(s) alternating`,
  costRows,
);
const catRows: Array<Record<string, string | number>> = [];
for (const backend of tables.has('catcost') ? backends : []) {
  log(`${backend}: accept with and without the category index`);
  catRows.push(...(await categoryIndexCost(backend)));
}
printTable(
  `What the category index costs accept: 1-recipient sends, ${SECONDS} s, 16 in flight, ${ROUNDS} round(s) alternating`,
  catRows,
);
const yearRows: Array<Record<string, string | number>> = [];
for (const backend of tables.has('year') ? backends : []) {
  log(`${backend}: a year of archive, ${N} messages`);
  yearRows.push(...(await yearOfArchive(backend)));
}
printTable(`A year of archive: ${N} messages over 365 days (figure: p50 ms unless stated)`, yearRows);
