import { readFileSync } from 'node:fs';
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { type Kysely, sql } from 'kysely';
import type { Config } from '../platform/config.js';
import { nodeApiDriver } from '../platform/db/better-sqlite3.js';
import { type DB, spoolRowFailing } from '../platform/db/schema.js';
import { DateTime, NullableDateTime, NullableString, StringEnum } from '../platform/http/schemas.js';
import { iso } from '../platform/time.js';
import { type ReadinessCheck, runChecks } from './readiness.js';

/** A transport's health as the workers recorded it (delivery's relay_status rows). */
export interface TransportHealth {
  name: string;
  address: string;
  state: 'ok' | 'problem';
  since: string;
  problem_kind: string | null;
  last_problem: string | null;
  last_problem_at: string | null;
  last_ok_at: string | null;
}

const Transport = Type.Object({
  name: Type.String({
    description: 'relay (SMTP_HOST), relay-2, relay-3, … (SMTP_FALLBACK_URLS, in order), or capture',
  }),
  address: Type.String({ description: 'host:port' }),
  tls: StringEnum(['none', 'starttls', 'tls'] as const),
  authenticated: Type.Boolean({
    description: 'SMTP_USER is set, or the fallback URL has a user (the password is never shown)',
  }),
  state: StringEnum(['ok', 'problem', 'unknown'] as const, {
    description: 'unknown: no delivery attempt recorded yet',
  }),
  since: NullableDateTime,
  problem_kind: NullableString,
  last_problem: NullableString,
  last_ok_at: NullableDateTime,
});

const Check = Type.Object({
  status: StringEnum(['ok', 'fail'] as const),
  ms: Type.Integer(),
  error: Type.Optional(Type.String()),
});

const WorkerInfo = Type.Object({
  id: Type.String({ description: "The worker's lease owner id (host:pid:…)" }),
  kind: Type.String({ description: 'delivery' }),
  host: Type.String(),
  pid: Type.Integer(),
  started_at: DateTime,
  heartbeat_at: DateTime,
  state: StringEnum(['alive', 'stopping', 'silent'] as const, {
    description:
      'silent: no heartbeat for WORKER_DEAD_AFTER_SECONDS; any live worker takes its leases over. stopping: draining after SIGTERM',
  }),
  leased: Type.Integer({ description: 'Messages it holds now (status sending)' }),
});

export const SystemInfo = Type.Object({
  mode: StringEnum(['relay', 'capture'] as const, {
    description: 'capture: SMTP_HOST is unset, mail goes to the embedded capture server and is NOT delivered',
  }),
  version: Type.String(),
  node: Type.String(),
  database: Type.Object({
    kind: StringEnum(['sqlite', 'postgres'] as const),
    location: Type.String({ description: 'The SQLite file, or host:port/database (never the credentials)' }),
    server: Type.String({ description: "SQLite's library version, or the PostgreSQL server's" }),
    driver: Type.String({
      description: 'better-sqlite3 12 on Node 20, 13 (Node-API) on Node 22.14+ and 24; pg for PostgreSQL',
    }),
  }),
  transports: Type.Array(Transport),
  sender: Type.Object({ from: Type.String(), reply_to: NullableString }),
  dkim: Type.Array(Type.Object({ domain: Type.String(), selector: Type.String() })),
  feedback: Type.Array(
    Type.Object({
      source: Type.String({ description: 'ses_sns: Amazon SES through SNS' }),
      endpoint: Type.String(),
      configured: Type.Boolean(),
      detail: Type.String(),
    }),
  ),
  readiness: Type.Record(Type.String(), Check),
  workers: Type.Array(WorkerInfo, { description: 'Delivery workers with a heartbeat row, newest first' }),
  search_index: Type.Object({
    kind: StringEnum(['sqlite_fts5', 'postgres_trgm'] as const),
    pending: Type.Integer({
      description:
        'SQLite: messages accepted and not yet in the search index (each search indexes them first; a background job every 200 ms). Always 0 on PostgreSQL, whose trigram indexes are written with each message',
    }),
  }),
  submission_spool: Type.Object(
    {
      waiting: Type.Integer({ description: 'Messages accepted over SMTP (250 given) and not yet stored as messages' }),
      failing: Type.Integer({
        description:
          'Of those, how many could not be stored (an error, or taken three times and still there) and wait for a retry',
      }),
      oldest_at: NullableDateTime,
      last_error: NullableString,
    },
    { description: 'The SMTP submission spool (docs/submission.md#the-spool): usually empty within milliseconds' },
  ),
  jobs: Type.Array(
    Type.Object({
      name: Type.String(),
      last_started_at: NullableDateTime,
      last_finished_at: NullableDateTime,
      last_result: NullableString,
    }),
  ),
  generated_at: DateTime,
});

let packageVersion: string | undefined;
/** The version in Postier's package.json, found upwards from this file (sources and dist alike). */
function version(): string {
  if (packageVersion) return packageVersion;
  for (let dir = new URL('.', import.meta.url); dir.pathname !== '/'; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'postier' && pkg.version) return (packageVersion = pkg.version);
    } catch {
      // not here: one level up
    }
  }
  return (packageVersion = 'unknown');
}

/** Where the data lives, without what would let anyone in (user, password, query). */
export function databaseLocation(url: string): { kind: 'sqlite' | 'postgres'; location: string } {
  if (url.startsWith('sqlite:')) return { kind: 'sqlite', location: url.slice('sqlite:'.length) };
  try {
    const u = new URL(url);
    return { kind: 'postgres', location: `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}` };
  } catch {
    return { kind: 'postgres', location: '(unparsable DATABASE_URL)' };
  }
}

/** Which driver this process talks to its database with (the SQLite one depends on Node's version). */
function databaseDriver(url: string): string {
  if (!url.startsWith('sqlite:')) return 'pg';
  return nodeApiDriver ? 'better-sqlite3 13 (Node-API)' : 'better-sqlite3 12';
}

/** "SQLite 3.x.y" or "PostgreSQL n.m"; "unknown" if the database does not answer (readiness says why). */
async function serverVersion(db: Kysely<DB>, url: string): Promise<string> {
  try {
    if (url.startsWith('sqlite:')) {
      const { rows } = await sql<{ v: string }>`select sqlite_version() as v`.execute(db);
      return `SQLite ${rows[0]!.v}`;
    }
    const { rows } = await sql<{ server_version: string }>`show server_version`.execute(db);
    return `PostgreSQL ${rows[0]!.server_version}`;
  } catch {
    return 'unknown';
  }
}

export interface SystemHttpOptions {
  config: Config;
  db: Kysely<DB>;
  /** The search index's kind and backlog (messages' SearchIndex). */
  searchIndex: { state(): Promise<{ kind: 'sqlite_fts5' | 'postgres_trgm'; pending: number }> };
  checks: ReadinessCheck[];
  /** The relay_status rows (delivery's listRelayStatus). */
  transports(): Promise<TransportHealth[]>;
  /** The configured relay and its fallbacks, or the capture server (delivery's describeRelay). */
  relays: Array<{ name: string; address: string; tls: 'none' | 'tls' | 'starttls'; authenticated: boolean }>;
}

/**
 * GET /api/v1/system (admin): the mode (relay or capture) and everything an operator checks
 * first, in one answer: transports and their health, DKIM and sending domain, feedback sources,
 * readiness, version, database, periodic jobs. Public information only: no secret, no password.
 */
export const systemHttp: FastifyPluginAsyncTypebox<SystemHttpOptions> = async (r, s) => {
  const { config } = s;
  const capture = !config.smtp.host;
  r.get(
    '/api/v1/system',
    {
      schema: {
        summary: 'Mode (relay or capture), transports and their health, DKIM, feedback, readiness, version, database',
        response: { 200: SystemInfo },
      },
    },
    async (request) => {
      const [health, readiness, jobs, workers, searchIndex, server, spool] = await Promise.all([
        s.transports(),
        runChecks(s.checks, 3000, request.log),
        s.db
          .selectFrom('job_locks')
          .select(['name', 'last_started_at', 'last_finished_at', 'last_result'])
          .orderBy('name')
          .execute(),
        workersNow(s.db, config.worker.deadAfterSeconds * 1000),
        s.searchIndex.state(),
        serverVersion(s.db, config.databaseUrl),
        spoolNow(s.db),
      ]);
      const name = capture ? ('capture' as const) : ('relay' as const);
      return {
        mode: name,
        version: version(),
        node: process.versions.node,
        database: { ...databaseLocation(config.databaseUrl), server, driver: databaseDriver(config.databaseUrl) },
        transports: s.relays.map((t) => {
          const seen = health.find((h) => h.name === t.name);
          return {
            ...t,
            // The configured address: a row may still hold the one a relay of that name had before.
            state: seen?.state ?? ('unknown' as const),
            since: seen?.since ?? null,
            problem_kind: seen?.problem_kind ?? null,
            last_problem: seen?.last_problem ?? null,
            last_ok_at: seen?.last_ok_at ?? null,
          };
        }),
        sender: {
          from: `${config.smtp.fromName} <${config.smtp.fromEmail}>`,
          reply_to: config.smtp.replyTo ?? null,
        },
        dkim: config.dkim ? [{ domain: config.dkim.domain, selector: config.dkim.selector }] : [],
        feedback: [
          {
            source: 'ses_sns',
            endpoint: '/api/v1/email/webhook',
            configured: config.sns.allowedTopicArns.length > 0,
            detail: config.sns.allowedTopicArns.length
              ? `Topics: ${config.sns.allowedTopicArns.join(', ')}`
              : 'SNS_ALLOWED_TOPIC_ARNS is empty: no SNS notification is accepted',
          },
        ],
        readiness,
        workers,
        search_index: searchIndex,
        submission_spool: spool,
        jobs: jobs.map((j) => ({
          name: j.name,
          last_started_at: iso(j.last_started_at),
          last_finished_at: iso(j.last_finished_at),
          last_result: j.last_result,
        })),
        generated_at: new Date().toISOString(),
      };
    },
  );
};

/** What waits in the submission spool, and the newest error of a row that could not be stored. */
async function spoolNow(db: Kysely<DB>) {
  const [counts, failing] = await Promise.all([
    db
      .selectFrom('submission_spool')
      .select((eb) => [
        eb.fn.countAll<number>().as('waiting'),
        eb.fn.sum<number>(eb.case().when(spoolRowFailing(eb)).then(1).else(0).end()).as('failing'),
        eb.fn.min('received_at').as('oldest'),
      ])
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('submission_spool')
      .select('last_error')
      .where('last_error', 'is not', null)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst(),
  ]);
  return {
    waiting: Number(counts.waiting),
    failing: Number(counts.failing),
    oldest_at: counts.oldest === null ? null : iso(Number(counts.oldest)),
    last_error: failing?.last_error ?? null,
  };
}

/** Each worker's heartbeat row, what it says of the worker now, and how many messages it holds. */
async function workersNow(db: Kysely<DB>, deadAfterMs: number) {
  const [rows, leases] = await Promise.all([
    db.selectFrom('workers').selectAll().orderBy('started_at', 'desc').limit(100).execute(),
    db
      .selectFrom('email_messages')
      .select(['lease_owner', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', '=', 'sending')
      .groupBy('lease_owner')
      .execute(),
  ]);
  const held = new Map(leases.map((l) => [l.lease_owner, Number(l.n)]));
  const now = Date.now();
  return rows.map((w) => ({
    id: w.id,
    kind: w.kind,
    host: w.host,
    pid: Number(w.pid),
    started_at: iso(w.started_at)!,
    heartbeat_at: iso(w.heartbeat_at)!,
    state:
      now - Number(w.heartbeat_at) > deadAfterMs
        ? ('silent' as const)
        : w.stopping
          ? ('stopping' as const)
          : ('alive' as const),
    leased: held.get(w.id) ?? 0,
  }));
}
