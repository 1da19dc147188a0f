/**
 * npm run test:chaos            (full: 20,000 messages, 30 s of 421, …)
 * npm run test:chaos:short      (CI: small counts, under 3 minutes)
 *     [-- --case a,c]           run some cases only
 *
 * Fault injection against real Postier processes (`postier serve` / `postier worker` as child
 * processes, the way production runs them) delivering to a local SMTP sink:
 *   (a) the worker SIGKILLed again and again during an N-message run
 *   (b) the SMTP relay answers 421 for a while, then recovers
 *   (c) 550 for some recipients
 *   (d) PostgreSQL restarted mid-run (a private throwaway cluster)
 *   (e) the SQLite disk full (a size-limited tmpfs or loop-mounted ext4 as DATA_DIR)
 *   (f) a hostile relay (test/support/smtp-sink.ts): replies trickled without end for some
 *       recipients, a greylisted cc, 530 at MAIL FROM for a while
 *   (g) one 10 MB attachment sent to 50 recipients: stored once, the API process's memory and
 *       its /healthz answers measured while it accepts the request
 *   (h) a rolling restart (SIGTERM, exit, start) of two API processes behind a load balancer
 *       (test/support/balancer.ts) under constant load: no request may fail
 *   (i) one of two workers SIGKILLed on PostgreSQL: its messages delivered by the other within
 *       20 s (heartbeats), without a restart, though leases last 120 s
 *   (j) a lone `postier serve` on SQLite SIGKILLed mid-delivery and restarted: everything
 *       delivered within 5 s of the restart (the dead process's leases taken back at start-up)
 * Prints one table of figures, exits non-zero if any property is violated.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from '../../src/platform/db/better-sqlite3.js';
import pg from 'pg';
import { mulberry32 } from '../hostile/random.js';
import { Balancer } from '../support/balancer.js';
import { freePort } from '../support/ports.js';
import { killAll, memoryOf, type PostierProcess, spawnPostier, startServe } from '../support/processes.js';
import { type Behaviour, SmtpSink } from '../support/smtp-sink.js';
import { printTable } from '../support/table.js';
import { waitUntil } from '../support/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHORT = process.argv.includes('--short');
const caseArg = process.argv.indexOf('--case');
const ONLY = caseArg > 0 ? new Set(process.argv[caseArg + 1]!.split(',')) : null;
const TOKEN = 'chaos-admin-token-0123456789abcdef';
const FROM_DOMAIN = 'rgz.bj';
const RUN_DIR = mkdtempSync(path.join(tmpdir(), 'postier-chaos-'));
const rnd = mulberry32(20260808);

const P = SHORT
  ? {
      killN: 1000,
      kills: 4,
      outageS: 5,
      outageN: 100,
      rejectN: 100,
      pgDownS: 4,
      pgRate: 20,
      hostileN: 60,
      authS: 3,
      deadN: 300,
      restartN: 300,
    }
  : {
      deadN: 1000,
      restartN: 1000,
      killN: 20_000,
      kills: 12,
      outageS: 30,
      outageN: 500,
      rejectN: 500,
      pgDownS: 10,
      pgRate: 40,
      hostileN: 300,
      authS: 10,
    };
const WORKER = { concurrency: 20, batchSize: 50, leaseSeconds: 5 };
const MAX_OUTAGE_LATENCY_MS = 10_000;

// ------------------------------------------------------------------ processes & cleanup --

/** Children other than Postier's (support/processes.ts stops those): the /healthz poller. */
const children = new Set<ChildProcess>();
const mounts: string[] = [];
const pgStates: string[] = [];
let cleanedUp = false;

function cleanupSync(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  killAll();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const state of pgStates) {
    try {
      execFileSync('bash', [path.join(ROOT, 'scripts/test-postgres.sh'), 'stop'], {
        env: { ...process.env, POSTIER_PG_STATE: state },
        stdio: 'ignore',
      });
    } catch {
      /* best effort */
    }
  }
  for (const m of mounts.splice(0)) umount(m);
  if (!process.env.CHAOS_KEEP) rmSync(RUN_DIR, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

function umount(dir: string): void {
  for (let i = 0; i < 10; i++) {
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      return;
    } catch {
      execFileSync('sleep', ['0.3']);
    }
  }
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    console.error(`could not unmount ${dir}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function baseEnv(sink: { port: number }, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    POSTIER_ADMIN_TOKEN: TOKEN,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(sink.port),
    SMTP_USE_TLS: 'false',
    SMTP_FROM_EMAIL: `noreply@${FROM_DOMAIN}`,
    SMTP_FROM_NAME: 'RGZ Notifications',
    SMTP_TIMEOUT_SECONDS: '10',
    WORKER_POLL_MS: '50',
    WORKER_CONCURRENCY: String(WORKER.concurrency),
    WORKER_BATCH_SIZE: String(WORKER.batchSize),
    WORKER_LEASE_SECONDS: String(WORKER.leaseSeconds),
    ...extra,
  };
}

/** Each process's output goes to a log file of its own in RUN_DIR (kept with CHAOS_KEEP=1). */
const logFile = (name: string) => ({ file: path.join(RUN_DIR, `${name}.log`) });

const startWorker = (name: string, env: NodeJS.ProcessEnv) =>
  spawnPostier('worker', { name, env, output: logFile(name) });

async function startApi(
  name: string,
  env: NodeJS.ProcessEnv,
  withWorker: boolean,
): Promise<{ p: PostierProcess; url: string }> {
  const p = await startServe({ name, env, args: withWorker ? [] : ['--no-worker'], output: logFile(name) });
  return { p, url: p.url };
}

// ------------------------------------------------------------------------------ HTTP --

interface Sent {
  status: number | 'error' | 'timeout';
  ids: string[];
  t0: number;
  ms: number;
  body?: string;
}

const invoiceVars = (i: number) => ({
  reseller_name: 'Tech Connect SA',
  month: 'février',
  year: '2026',
  amount_fcfa: String(100_000 + i),
  link_portal: 'https://admin-rgz.duckdns.org/invoices/latest',
  invoice_number: `INV-2026-${i}`,
});

async function api(url: string, method: string, p: string, body: unknown, timeoutMs = 30_000): Promise<Sent> {
  const t0 = performance.now();
  try {
    const res = await fetch(url + p, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const ids =
      res.status === 201 && p === '/api/v1/email/send'
        ? (JSON.parse(text) as { items: { id: string }[] }).items.map((x) => x.id)
        : [];
    return {
      status: res.status,
      ids,
      t0,
      ms: performance.now() - t0,
      body: res.status === 201 ? undefined : text.slice(0, 300),
    };
  } catch (e) {
    const timeout = (e as Error).name === 'TimeoutError';
    return {
      status: timeout ? 'timeout' : 'error',
      ids: [],
      t0,
      ms: performance.now() - t0,
      body: String((e as Error).cause ?? e).slice(0, 200),
    };
  }
}

const send = (url: string, to: string[], template = 'billing_invoice_monthly', i = 0, timeoutMs?: number) =>
  api(
    url,
    'POST',
    '/api/v1/email/send',
    { to, template_key: template, variables: template === 'billing_invoice_monthly' ? invoiceVars(i) : {} },
    timeoutMs,
  );

/** Sends `n` messages, `per` recipients a request, `concurrency` requests at a time; all must be 201. */
async function sendAll(
  url: string,
  n: number,
  opts: { per?: number; concurrency?: number; template?: string; to?: (i: number) => string } = {},
): Promise<string[]> {
  const per = opts.per ?? 25;
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency ?? 4 }, async () => {
      while (next < n) {
        const start = next;
        next = Math.min(n, next + per);
        const to = Array.from({ length: next - start }, (_, k) =>
          (opts.to ?? ((i) => `user${i}@example.com`))(start + k),
        );
        const r = await send(url, to, opts.template, start);
        if (r.status !== 201) throw new Error(`send answered ${r.status}: ${r.body}`);
        ids.push(...r.ids);
      }
    }),
  );
  return ids;
}

async function createProbeTemplate(url: string): Promise<void> {
  const r = await api(url, 'POST', '/api/v1/email/templates', {
    key: 'chaos_probe',
    name: 'Chaos probe',
    category: 'transactional',
    subject: 'Chaos probe',
    html_content: '<p>Chaos probe message.</p>',
    max_attempts: 50,
  });
  if (r.status !== 201) throw new Error(`creating the chaos_probe template: ${r.status} ${r.body}`);
}

// ------------------------------------------------------------------------ database --

interface Row {
  id: string;
  status: string;
  attempts: number;
  smtp_message_id: string | null;
  recipient_email: string;
}

interface Db {
  rows(ids?: string[]): Promise<Map<string, Row>>;
  tries(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

const COLS = 'id, status, attempts, smtp_message_id, recipient_email';
// Attempt events per message: tries, counted or not (a relay problem does not spend an attempt).
const TRIES = "SELECT message_id, count(*) AS n FROM email_events WHERE type = 'attempt' GROUP BY message_id";

function sqliteDb(file: string): Db {
  return {
    async rows() {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        const all = db.prepare(`SELECT ${COLS} FROM email_messages`).all() as Row[];
        return new Map(all.map((r) => [r.id, r]));
      } finally {
        db.close();
      }
    },
    async tries() {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return new Map(
          (db.prepare(TRIES).all() as Array<{ message_id: string; n: number }>).map((r) => [r.message_id, Number(r.n)]),
        );
      } finally {
        db.close();
      }
    },
    async close() {},
  };
}

function pgDb(url: string): Db {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {});
  return {
    async rows() {
      const r = await pool.query<Row>(`SELECT ${COLS} FROM email_messages`);
      return new Map(r.rows.map((x) => [x.id, { ...x, attempts: Number(x.attempts) }]));
    },
    async tries() {
      const r = await pool.query<{ message_id: string; n: string }>(TRIES);
      return new Map(r.rows.map((x) => [x.message_id, Number(x.n)]));
    },
    close: () => pool.end(),
  };
}

/** Waits until every id is delivered at the sink (its Message-ID seen) and recorded as sent. */
async function waitAllDelivered(
  db: Db,
  sink: SmtpSink,
  ids: string[],
  timeoutMs: number,
): Promise<{ rows: Map<string, Row>; missing: string[] }> {
  let rows = new Map<string, Row>();
  let missing: string[] = ids;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    rows = await db.rows().catch(() => rows);
    missing = ids.filter((id) => {
      const r = rows.get(id);
      return r?.status !== 'sent' || !r.smtp_message_id || sink.acceptedCount(r.smtp_message_id) === 0;
    });
    if (missing.length === 0) break;
    await sleep(250);
  }
  return { rows, missing };
}

// --------------------------------------------------------------------------- cases --

interface CaseResult {
  figures: Record<string, string | number>;
  violations: string[];
  skipped?: string;
}

function check(v: string[], ok: boolean, what: string): void {
  if (!ok) v.push(what);
}

/** (a) SIGKILL the worker again and again while N messages are accepted and delivered. */
async function caseKill(sink: SmtpSink): Promise<CaseResult> {
  const v: string[] = [];
  const dir = mkdtempSync(path.join(RUN_DIR, 'a-'));
  const env = baseEnv(sink, { DATA_DIR: dir, DATABASE_URL: `sqlite:${path.join(dir, 'postier.db')}` });
  const { p: apiProc, url } = await startApi('a-api', env, false);
  let workers = 0;
  const spawnW = () => startWorker(`a-worker-${++workers}`, env);
  let worker = spawnW();
  const t0 = performance.now();
  let sendDone = false;
  const sending = sendAll(url, P.killN).finally(() => (sendDone = true));
  let kills = 0;
  for (let k = 0; k < P.kills; k++) {
    const base = sink.acceptedTotal;
    const step = Math.max(20, Math.floor((P.killN / (P.kills + 1)) * (0.3 + 0.4 * rnd())));
    await waitUntil(
      () => sink.acceptedTotal - base >= step || (sendDone && sink.distinct >= P.killN),
      120_000,
      `worker ${workers} to deliver ${step}`,
    );
    if (sendDone && sink.distinct >= P.killN) break;
    await worker.stop('SIGKILL');
    kills++;
    worker = spawnW();
  }
  const ids = await sending;
  const db = sqliteDb(path.join(dir, 'postier.db'));
  const { rows, missing } = await waitAllDelivered(db, sink, ids, 120_000);
  const secs = (performance.now() - t0) / 1000;
  const bound = kills * (WORKER.concurrency + 2 * WORKER.batchSize);
  const ours = new Set([...rows.values()].map((r) => r.smtp_message_id));
  const dups = [...ours].reduce((a, id) => a + Math.max(0, sink.acceptedCount(id ?? '') - 1), 0);
  check(v, ids.length === P.killN, `accepted ${ids.length} of ${P.killN}`);
  check(
    v,
    missing.length === 0,
    `${missing.length} accepted messages not delivered+sent (e.g. ${JSON.stringify(rows.get(missing[0]!) ?? missing[0])})`,
  );
  check(v, kills >= Math.min(P.kills, 2), `only ${kills} kills happened`);
  check(v, dups <= bound, `duplicates ${dups} > bound ${bound}`);
  await worker.stop();
  await apiProc.stop();
  return {
    figures: {
      messages: ids.length,
      kills,
      delivered: `${ids.length - missing.length}/${ids.length}`,
      duplicates: `${dups} (bound ${bound} = kills × (concurrency ${WORKER.concurrency} + 2 × batch ${WORKER.batchSize}))`,
      seconds: secs.toFixed(1),
      'msg/s': Math.round(ids.length / secs),
    },
    violations: v,
  };
}

/** (b) the relay answers 421 to everything for a while, then recovers. */
async function caseTempFail(sink: SmtpSink, url: string, db: Db): Promise<CaseResult> {
  const v: string[] = [];
  sink.reset();
  let refused = 0;
  // Down: 421 to the greeting and to every command but QUIT, closing the connection.
  const down = { reply: '421 4.3.2 Service not available, closing transmission channel' };
  const recover = sink.on('any', (ctx) => (ctx.command === 'quit' ? undefined : (refused++, down)));
  const t0 = performance.now();
  const ids = await sendAll(url, P.outageN, { template: 'chaos_probe', per: 20 });
  const left = P.outageS * 1000 - (performance.now() - t0);
  if (left > 0) await sleep(left);
  recover();
  const tRecover = performance.now();
  const { rows, missing } = await waitAllDelivered(db, sink, ids, 60_000);
  const drain = (performance.now() - tRecover) / 1000;
  const mine = ids.map((id) => rows.get(id)).filter((r): r is Row => !!r);
  const failed = mine.filter((r) => r.status === 'failed').length;
  const tries = await db.tries();
  const maxTries = Math.max(...mine.map((r) => tries.get(r.id) ?? 0));
  const maxAttempts = Math.max(...mine.map((r) => r.attempts));
  check(v, refused > 0, 'the sink never answered 421 (the outage did not bite)');
  check(v, failed === 0, `${failed} messages failed`);
  check(v, missing.length === 0, `${missing.length} messages not delivered`);
  check(v, maxTries > 1, 'no message was retried');
  // 421 is the relay closing the channel: a relay problem, retried without spending attempts.
  check(v, maxAttempts <= 1, `the 421s spent attempts (a message has ${maxAttempts})`);
  return {
    figures: {
      messages: ids.length,
      '421 s': P.outageS,
      '421 answers': refused,
      failed,
      delivered: `${ids.length - missing.length}/${ids.length}`,
      'max tries': maxTries,
      'max attempts spent': maxAttempts,
      'drain after recovery s': drain.toFixed(1),
    },
    violations: v,
  };
}

/** (c) 550 at RCPT for every fifth recipient: failed at once, the rest delivered. */
async function caseReject(sink: SmtpSink, url: string, db: Db): Promise<CaseResult> {
  const v: string[] = [];
  sink.reset();
  let rejected = 0;
  // Like a relay that checks recipients after DATA (a content/recipient filter).
  sink.on('message', (ctx) => {
    const refused = ctx.session.recipients.find((r) => r.startsWith('reject'));
    return refused
      ? (rejected++, { reply: `550 5.1.1 <${refused}>: Recipient address rejected: User unknown` })
      : undefined;
  });
  const to = (i: number) => (i % 5 === 0 ? `reject${i}@example.com` : `ok${i}@example.com`);
  const ids = await sendAll(url, P.rejectN, { template: 'chaos_probe', per: 20, to });
  let rows = new Map<string, Row>();
  await waitUntil(
    async () => {
      rows = await db.rows();
      return ids.every((id) => ['sent', 'failed'].includes(rows.get(id)?.status ?? ''));
    },
    60_000,
    'every message sent or failed',
  );
  await sleep(1000); // room for a (wrong) retry to show up
  rows = await db.rows();
  const mine = ids.map((id) => rows.get(id)!);
  const bad = mine.filter((r) => r.recipient_email.startsWith('reject'));
  const good = mine.filter((r) => !r.recipient_email.startsWith('reject'));
  const badWrong = bad.filter((r) => r.status !== 'failed' || r.attempts !== 1);
  const goodMissing = good.filter((r) => r.status !== 'sent' || sink.acceptedCount(r.smtp_message_id!) === 0);
  check(v, bad.length === P.rejectN / 5, `expected ${P.rejectN / 5} rejected recipients, got ${bad.length}`);
  check(
    v,
    badWrong.length === 0,
    `${badWrong.length} rejected messages not failed with attempts = 1 (e.g. ${JSON.stringify(badWrong[0])})`,
  );
  check(v, rejected === bad.length, `sink answered 550 ${rejected} times for ${bad.length} recipients (retried?)`);
  check(v, goodMissing.length === 0, `${goodMissing.length} accepted recipients not delivered`);
  check(
    v,
    bad.every((r) => sink.deliveredTo(r.recipient_email) === 0),
    'a rejected recipient got DATA',
  );
  return {
    figures: {
      messages: ids.length,
      '550 recipients': bad.length,
      'failed with attempts=1': bad.length - badWrong.length,
      '550 answers': rejected,
      delivered: `${good.length - goodMissing.length}/${good.length}`,
    },
    violations: v,
  };
}

/**
 * (f) A hostile relay: it trickles a reply that never ends (a byte every 20 ms) to RCPT for 1
 * recipient in 10 and after DATA for another 1 in 10, greylists (450) a cc once in 4 messages,
 * and answers 530 to MAIL FROM for the first seconds. Healthy mail must all go out, each
 * recipient once; the trickled messages fail after their attempts (no hang, none left in
 * sending); the greylisted cc gets its copy on the retry; the 530s spend no attempt.
 */
async function caseHostileRelay(): Promise<CaseResult> {
  const v: string[] = [];
  const relay = await SmtpSink.start();
  const dir = mkdtempSync(path.join(RUN_DIR, 'f-'));
  const env = baseEnv(relay, {
    DATA_DIR: dir,
    DATABASE_URL: `sqlite:${path.join(dir, 'postier.db')}`,
    SMTP_TIMEOUT_SECONDS: '1',
    SMTP_DATA_TIMEOUT_SECONDS: '1.5',
    SMTP_POOL_SIZE: '3',
    WORKER_RETRY_BASE_SECONDS: '0.2',
    WORKER_RETRY_MAX_SECONDS: '1',
  });
  let server: PostierProcess | null = null;
  try {
    let url: string;
    ({ p: server, url } = await startApi('f-serve', env, true));
    const t = await api(url, 'POST', '/api/v1/email/templates', {
      key: 'chaos_hostile',
      name: 'Chaos hostile relay',
      category: 'transactional',
      subject: 'Hostile',
      html_content: '<p>Hostile relay probe.</p>',
      max_attempts: 3,
    });
    if (t.status !== 201) throw new Error(`creating the chaos_hostile template: ${t.status} ${t.body}`);

    const endless: Behaviour = { reply: '250 working on it', trickle: { bytes: 1, everyMs: 20 }, endless: true };
    let refused530 = 0;
    const stopAuth = relay.on('mail', () => (refused530++, { reply: '530 5.7.0 Authentication required' }));
    relay.on('rcpt', endless, { match: 'trickle-rcpt' });
    relay.on('message', endless, { match: (ctx) => ctx.session.recipients.some((r) => r.startsWith('trickle-data')) });
    const greylisted = new Set<string>();
    relay.on('rcpt', (ctx) => {
      // Like a real greylister: only a recipient of a transaction under way (MAIL FROM accepted).
      if (!ctx.address?.startsWith('grey') || !ctx.session.mailFrom || greylisted.has(ctx.address)) return undefined;
      greylisted.add(ctx.address);
      return { reply: `450 4.2.0 <${ctx.address}>: Recipient address rejected: Greylisted, try again later` };
    });

    const to = (i: number) =>
      i % 10 === 0
        ? `trickle-rcpt${i}@example.com`
        : i % 10 === 5
          ? `trickle-data${i}@example.com`
          : `ok${i}@example.com`;
    const cc = (i: number) => (i % 4 === 1 ? [`grey${i}@example.com`] : []);
    const t0 = performance.now();
    const ids: string[] = [];
    const byId = new Map<string, number>();
    for (let i = 0; i < P.hostileN; i++) {
      const r = await api(url, 'POST', '/api/v1/email/send', { to: [to(i)], cc: cc(i), template_key: 'chaos_hostile' });
      if (r.status !== 201) {
        const state = server.child.exitCode ?? server.child.signalCode ?? 'still running';
        throw new Error(`send ${i} answered ${r.status} after ${r.ms.toFixed(0)} ms: ${r.body} (the server: ${state})`);
      }
      ids.push(r.ids[0]!);
      byId.set(r.ids[0]!, i);
    }
    const left = P.authS * 1000 - (performance.now() - t0);
    if (left > 0) await sleep(left);
    stopAuth();

    const db = sqliteDb(path.join(dir, 'postier.db'));
    let rows = new Map<string, Row>();
    const final = ['sent', 'failed', 'partially_sent'];
    await waitUntil(
      async () => {
        rows = await db.rows();
        return ids.every((id) => final.includes(rows.get(id)?.status ?? ''));
      },
      120_000,
      'every message sent or failed',
    );
    const mine = ids.map((id) => ({ ...rows.get(id)!, i: byId.get(id)! }));
    const trickled = mine.filter((r) => !r.recipient_email.startsWith('ok'));
    const healthy = mine.filter((r) => r.recipient_email.startsWith('ok'));
    const wrongTrickled = trickled.filter((r) => r.status !== 'failed' || r.attempts !== 3);
    const notSent = healthy.filter((r) => r.status !== 'sent');
    const copies = healthy.flatMap((r) => [r.recipient_email, ...cc(r.i)]).filter((a) => relay.deliveredTo(a) !== 1);
    const spent = healthy.filter((r) => r.attempts !== (cc(r.i).length ? 2 : 1));
    const relayStatus = (await fetch(`${url}/api/v1/delivery/relay`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    }).then((r) => r.json())) as { items: Array<{ state: string; problem_kind: string | null }> };
    check(v, refused530 > 0, 'the relay never answered 530 (the misconfiguration did not bite)');
    check(v, notSent.length === 0, `${notSent.length} healthy messages not sent (e.g. ${JSON.stringify(notSent[0])})`);
    check(
      v,
      copies.length === 0,
      `${copies.length} healthy recipients did not get exactly one copy (e.g. ${copies[0]}: ${relay.deliveredTo(copies[0] ?? '')})`,
    );
    check(
      v,
      wrongTrickled.length === 0,
      `${wrongTrickled.length} trickled messages not failed after 3 attempts (e.g. ${JSON.stringify(wrongTrickled[0])})`,
    );
    check(
      v,
      spent.length === 0,
      `${spent.length} healthy messages spent attempts on the 530s or the greylisting (e.g. ${JSON.stringify(spent[0])})`,
    );
    check(
      v,
      relayStatus.items[0]?.state === 'ok' && relayStatus.items[0]?.problem_kind === 'auth',
      `relay status ${JSON.stringify(relayStatus.items)}`,
    );
    return {
      figures: {
        messages: ids.length,
        '530 answers': refused530,
        greylisted: greylisted.size,
        sent: `${healthy.length - notSent.length}/${healthy.length}`,
        'trickled, failed after 3 attempts': `${trickled.length - wrongTrickled.length}/${trickled.length}`,
        'max tries': Math.max(...[...(await db.tries()).entries()].filter(([id]) => byId.has(id)).map(([, n]) => n)),
        'seconds to settle': ((performance.now() - t0) / 1000).toFixed(1),
      },
      violations: v,
    };
  } finally {
    await server?.stop();
    await relay.close();
  }
}

function pgBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const ok = readdirSync(base).filter((d) => existsSync(path.join(base, d, 'bin/initdb')));
  return ok.length ? path.join(base, ok.sort((a, b) => Number(a) - Number(b)).at(-1)!, 'bin') : null;
}

/** A throwaway PostgreSQL cluster of our own (scripts/test-postgres.sh), stopped by cleanupSync if not before. */
async function privatePostgres(): Promise<{
  url: string;
  pgCmd: (...args: string[]) => Promise<string>;
  stop(): Promise<void>;
}> {
  const state = path.join(tmpdir(), `chaos-pg.${process.pid}.${pgStates.length}.state`);
  let pgPort = 54_501;
  for (; pgPort < 54_600; pgPort++) {
    const busy = await new Promise<boolean>((resolve) => {
      const s = net.connect(pgPort, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (!busy) break;
  }
  const pgEnv = { ...process.env, PGPORT: String(pgPort), POSTIER_PG_STATE: state };
  const script = path.join(ROOT, 'scripts/test-postgres.sh');
  const pgCmd = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const c = spawn('bash', [script, ...args], { env: pgEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.on('exit', (code) =>
        code === 0 ? resolve(out.trim()) : reject(new Error(`test-postgres.sh ${args.join(' ')}: ${err.slice(-500)}`)),
      );
    });
  pgStates.push(state);
  const url = await pgCmd('start');
  return {
    url,
    pgCmd,
    async stop() {
      await pgCmd('stop');
      pgStates.splice(pgStates.indexOf(state), 1);
    },
  };
}

/** (d) PostgreSQL stopped (immediate: a crash) and started again under load. */
async function casePostgres(sink: SmtpSink): Promise<CaseResult> {
  if (!pgBinDir())
    return { figures: {}, violations: [], skipped: 'no /usr/lib/postgresql/*/bin/initdb (install postgresql)' };
  const v: string[] = [];
  const { url: dbUrl, pgCmd, stop: stopPostgres } = await privatePostgres();
  const dir = mkdtempSync(path.join(RUN_DIR, 'd-'));
  sink.reset();
  const env = baseEnv(sink, { DATA_DIR: dir, DATABASE_URL: dbUrl });
  const { p: apiProc, url } = await startApi('d-api', env, false);
  const worker = startWorker('d-worker', { ...env, LOG_LEVEL: 'info' });
  if (!(await worker.workerOwner(60_000)))
    throw new Error(`the worker exited at start-up:\n${worker.output().slice(-2000)}`);
  const db = pgDb(dbUrl);

  // Open loop: a request every 1/rate s whatever happens to the earlier ones (a hang shows).
  const results: Sent[] = [];
  const inflight: Promise<void>[] = [];
  let loading = true;
  const loader = (async () => {
    const start = performance.now();
    for (let i = 0; loading; i++) {
      const due = start + (i * 1000) / P.pgRate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      inflight.push(
        send(url, [`pg${i}a@example.com`, `pg${i}b@example.com`], 'billing_invoice_monthly', i, 30_000).then(
          (r) => void results.push(r),
        ),
      );
    }
  })();
  await sleep(3000);
  const down0 = performance.now();
  await pgCmd('stop-server', 'immediate');
  await sleep(P.pgDownS * 1000);
  await pgCmd('start-server');
  const up = performance.now();
  const downS = (up - down0) / 1000;
  await sleep(SHORT ? 5000 : 10_000);
  loading = false;
  await loader;
  await Promise.all(inflight);

  const during = results.filter((r) => r.t0 >= down0 && r.t0 < up);
  const after = results.filter((r) => r.t0 >= up + 2000);
  const ids = results.flatMap((r) => r.ids);
  const { missing } = await waitAllDelivered(db, sink, ids, 90_000);
  const count = (xs: Sent[], s: Sent['status']) => xs.filter((r) => r.status === s).length;
  const maxDuring = Math.max(0, ...during.map((r) => r.ms));
  const other = results.filter((r) => ![201, 503, 'error'].includes(r.status));
  check(v, during.length > 0, 'no request was made while PostgreSQL was down');
  check(v, count(during, 503) + count(during, 'error') > 0, 'no 503 or connection error while PostgreSQL was down');
  check(
    v,
    other.length === 0,
    `${other.length} answers other than 201/503 (e.g. ${other[0]?.status} ${other[0]?.body})`,
  );
  check(
    v,
    maxDuring < MAX_OUTAGE_LATENCY_MS,
    `a request took ${Math.round(maxDuring)} ms during the outage (limit ${MAX_OUTAGE_LATENCY_MS})`,
  );
  check(
    v,
    after.length > 0 && count(after, 201) === after.length,
    `after recovery ${after.length - count(after, 201)} of ${after.length} requests were not 201`,
  );
  check(
    v,
    apiProc.alive() && worker.alive(),
    `a Postier process died (api alive ${apiProc.alive()}, worker alive ${worker.alive()})`,
  );
  check(v, missing.length === 0, `${missing.length} of ${ids.length} accepted messages not delivered`);
  await worker.stop();
  await apiProc.stop();
  await db.close();
  await stopPostgres();
  return {
    figures: {
      requests: results.length,
      'down s': downS.toFixed(1),
      'during outage': `${during.length} req: ${count(during, 201)}×201 ${count(during, 503)}×503 ${count(during, 'error')}×conn-error ${count(during, 'timeout')}×timeout`,
      'max latency during outage ms': Math.round(maxDuring),
      'accepted (201) messages': ids.length,
      delivered: `${ids.length - missing.length}/${ids.length}`,
      duplicates: sink.duplicates,
    },
    violations: v,
  };
}

function mountSmall(dir: string, mb: number): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir], { stdio: 'pipe' });
    mounts.push(dir);
    return `tmpfs ${mb} MB`;
  } catch (e1) {
    try {
      const img = path.join(RUN_DIR, 'disk.img');
      execFileSync('truncate', ['-s', `${mb}M`, img]);
      execFileSync('mkfs.ext4', ['-q', img]);
      execFileSync('mount', ['-o', 'loop', img, dir], { stdio: 'pipe' });
      mounts.push(dir);
      return `loop ext4 ${mb} MB`;
    } catch (e2) {
      console.error(
        `mount failed: ${String((e1 as { stderr?: Buffer }).stderr ?? e1).trim()} / ${String((e2 as { stderr?: Buffer }).stderr ?? e2).trim()}`,
      );
      return null;
    }
  }
}

/** (e) DATA_DIR on a tiny file system, filled up, then freed. */
async function caseDiskFull(sink: SmtpSink): Promise<CaseResult> {
  const dir = path.join(RUN_DIR, 'e-disk');
  mkdirSync(dir);
  const fs = mountSmall(dir, 32);
  if (!fs)
    return {
      figures: {},
      violations: [],
      skipped: `cannot mount a size-limited file system here (uid ${process.getuid?.()}: tmpfs and loop mount both refused)`,
    };
  const v: string[] = [];
  sink.reset();
  const dbFile = path.join(dir, 'postier.db');
  const env = baseEnv(sink, { DATA_DIR: dir, DATABASE_URL: `sqlite:${dbFile}` });
  const { p: server, url } = await startApi('e-serve', env, true);
  const accepted: string[] = await sendAll(url, 50, { per: 10 });

  // Fill the file system with a filler file, leaving nothing.
  const filler = path.join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let filled = 0;
  for (;;) {
    try {
      filled += writeSync(fd, chunk);
    } catch {
      break;
    }
  }
  // Then smaller and smaller writes, until not even one byte fits.
  for (let n = 4096; n >= 1; n = Math.floor(n / 2)) {
    try {
      for (;;) filled += writeSync(fd, chunk, 0, n);
    } catch {
      /* full at this size */
    }
  }
  closeSync(fd);

  // Keep sending (25 recipients a request) until the database cannot grow: 503s, never 500s.
  const statuses: Record<string, number> = {};
  const tries: Sent[] = [];
  let consecutive503 = 0;
  for (let i = 0; i < 400 && consecutive503 < 10; i++) {
    const r = await send(
      url,
      Array.from({ length: 25 }, (_, k) => `full${i}-${k}@example.com`),
      'billing_invoice_monthly',
      i,
      15_000,
    );
    tries.push(r);
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    accepted.push(...r.ids);
    consecutive503 = r.status === 503 ? consecutive503 + 1 : 0;
  }
  const bad = tries.filter((r) => r.status !== 201 && r.status !== 503);
  check(v, (statuses[503] ?? 0) > 0, `no 503 while the disk was full (${JSON.stringify(statuses)})`);
  check(
    v,
    bad.length === 0,
    `${bad.length} answers other than 201/503 while full (e.g. ${bad[0]?.status} ${bad[0]?.body})`,
  );
  check(v, server.alive(), 'the server died when the disk filled up');

  const integrity = () => {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const ic = (db.pragma('integrity_check') as Array<{ integrity_check: string }>)
        .map((x) => x.integrity_check)
        .join('; ');
      const have = new Set(
        (db.prepare('SELECT id FROM email_messages').all() as Array<{ id: string }>).map((x) => x.id),
      );
      return { ic, lost: accepted.filter((id) => !have.has(id)).length };
    } finally {
      db.close();
    }
  };
  const full = integrity();
  check(v, full.ic === 'ok', `integrity_check while full: ${full.ic}`);
  check(v, full.lost === 0, `${full.lost} messages answered 201 are missing while full`);

  // Free the space: sending resumes (within 10 s), and everything accepted gets delivered.
  unlinkSync(filler);
  const tFree = performance.now();
  let resumedAfter = -1;
  let after = 0;
  while (performance.now() - tFree < 10_000 && after < 20) {
    const r = await send(url, [`after${after}@example.com`], 'billing_invoice_monthly', after, 15_000);
    if (r.status === 201) {
      if (resumedAfter < 0) resumedAfter = performance.now() - tFree;
      accepted.push(...r.ids);
      after++;
    } else {
      check(v, r.status === 503, `after freeing space: ${r.status} ${r.body}`);
      await sleep(200);
    }
  }
  check(v, after === 20, `only ${after} of 20 sends accepted after freeing space`);
  const { missing } = await waitAllDelivered(sqliteDb(dbFile), sink, accepted, 60_000);
  check(
    v,
    missing.length === 0,
    `${missing.length} of ${accepted.length} accepted messages not delivered after space returned`,
  );
  await server.stop();
  const end = integrity();
  check(v, end.ic === 'ok' && end.lost === 0, `after stop: integrity ${end.ic}, ${end.lost} lost`);
  umount(dir);
  mounts.splice(mounts.indexOf(dir), 1);
  return {
    figures: {
      fs,
      'filler MB': (filled / 1024 / 1024).toFixed(1),
      'answers while full': Object.entries(statuses)
        .map(([s, n]) => `${n}×${s}`)
        .join(' '),
      integrity: full.ic,
      'resumed after ms': Math.round(resumedAfter),
      delivered: `${accepted.length - missing.length}/${accepted.length}`,
    },
    violations: v,
  };
}

/** The request's memory (peak RSS increase of the API process) must stay under this many times its body. */
const MAX_MEMORY_PER_BODY = 3;
/** /healthz must answer within this while the large request is accepted. */
const MAX_HEALTHZ_MS = 100;

/** Resets a process's peak RSS to its current RSS (Linux clear_refs); false where that is not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Asks GET /healthz every 20 ms from a process of its own (the sender's event loop, busy with a
 * 13 MB upload, must not delay the questions); stop() gives each answer's time in ms (Infinity
 * for a failure).
 */
async function startHealthzPoller(url: string): Promise<{ stop(): Promise<number[]> }> {
  const script = `
    const times = [];
    let on = true;
    process.stdin.on('end', () => (on = false)).resume();
    const ask = () => fetch(process.argv[1] + '/healthz', { signal: AbortSignal.timeout(10000) });
    (async () => {
      await ask(); // the connection and fetch itself, ready before the first timed question
      console.log('ready');
      while (on) {
        const t0 = performance.now();
        const ok = await ask().then((r) => r.ok, () => false);
        times.push(ok ? performance.now() - t0 : null);
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(JSON.stringify(times));
    })();`;
  const child = spawn(process.execPath, ['-e', script, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await waitUntil(() => out.startsWith('ready'), 10_000, 'the /healthz poller');
  return {
    async stop() {
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
      children.delete(child);
      return (JSON.parse(out.split('\n')[1]!) as Array<number | null>).map((t) => t ?? Number.POSITIVE_INFINITY);
    },
  };
}

/**
 * CPU time a thread has run and time it has waited, runnable, for a CPU (ms; Linux schedstat):
 * a slow /healthz answer with a long wait is a busy machine, not a blocked event loop.
 */
function schedOf(pid: number, tid = pid): { cpuMs: number; waitMs: number } {
  try {
    const [cpu, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { cpuMs: cpu! / 1e6, waitMs: wait! / 1e6 };
  } catch {
    return { cpuMs: Number.NaN, waitMs: Number.NaN };
  }
}

/** `size` incompressible bytes that are a PDF as far as magic bytes go. */
function randomPdf(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE((rnd() * 2 ** 32) >>> 0, i);
  b.write('%PDF-1.4\n', 0, 'latin1');
  return b;
}

const MB = 1024 * 1024;
/** The delivering worker's peak RSS in case (g): its baseline, the 128 MB build budget, and room for garbage. */
const MAX_WORKER_PEAK_MB = 512;

/**
 * (f) One 10 MB attachment to 50 recipients (SQLite, the API process alone: `serve --no-worker`).
 * Its bytes are stored once; the API process's peak RSS grows by less than 3× the request body
 * while it accepts it; /healthz, asked every 20 ms from another connection, answers within
 * 100 ms throughout. Then a worker process delivers the 50 messages with the whole attachment.
 */
async function caseLargeAttachment(sink: SmtpSink): Promise<CaseResult> {
  const v: string[] = [];
  sink.reset();
  const dir = mkdtempSync(path.join(RUN_DIR, 'f-'));
  const dbFile = path.join(dir, 'postier.db');
  const env = baseEnv(sink, { DATA_DIR: dir, DATABASE_URL: `sqlite:${dbFile}` });
  const { p: apiProc, url } = await startApi('f-api', env, false);
  const pid = apiProc.child.pid!;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const sendBody = (body: string) =>
    fetch(`${url}/api/v1/email/send`, { method: 'POST', headers, body, signal: AbortSignal.timeout(60_000) });
  const invoice = (to: string[], pdf: Buffer) =>
    JSON.stringify({
      to,
      template_key: 'billing_invoice_monthly',
      variables: invoiceVars(0),
      attachments: [{ filename: 'invoice.pdf', content_type: 'application/pdf', data_base64: pdf.toString('base64') }],
    });

  // A first small request with an attachment: what any process has loaded after its first send.
  const warm = await sendBody(invoice(['warm@example.com'], randomPdf(200_000)));
  check(v, warm.status === 201, `warm-up send answered ${warm.status}`);
  const warmIds = ((await warm.json()) as { items?: { id: string }[] }).items?.map((x) => x.id) ?? [];
  await sleep(1000);

  const pdf = randomPdf(10 * MB);
  const to = Array.from({ length: 50 }, (_, i) => `big${i}@example.com`);
  const body = invoice(to, pdf);
  const bodyBytes = Buffer.byteLength(body);

  const before = memoryOf(pid);
  if (Number.isNaN(before.rss)) throw new Error(`the API process exited:\n${apiProc.output().slice(-2000)}`);
  const peakReset = resetPeak(pid);
  let peak = before.rss;
  const sampler = peakReset ? null : setInterval(() => (peak = Math.max(peak, memoryOf(pid).rss || 0)), 5);
  const poller = await startHealthzPoller(url);
  const sched0 = schedOf(pid);
  const t0 = performance.now();
  const res = await sendBody(body);
  const answer = (await res.json()) as { items?: { id: string }[] };
  const acceptMs = performance.now() - t0;
  const sched1 = schedOf(pid);
  const cpuMs = Math.round(sched1.cpuMs - sched0.cpuMs);
  const waitMs = Math.round(sched1.waitMs - sched0.waitMs);
  const healthz = await poller.stop();
  if (sampler) clearInterval(sampler);
  if (peakReset) peak = memoryOf(pid).peak;
  const growth = peak - before.rss;
  const ids = answer.items?.map((x) => x.id) ?? [];
  const slowest = Math.max(0, ...healthz);

  check(v, res.status === 201 && ids.length === 50, `the send answered ${res.status} with ${ids.length} messages`);
  const mb = (n: number) => (n / MB).toFixed(1);
  check(
    v,
    growth < MAX_MEMORY_PER_BODY * bodyBytes,
    `peak RSS grew by ${mb(growth)} MB, over ${MAX_MEMORY_PER_BODY} × the ${mb(bodyBytes)} MB body`,
  );
  check(v, healthz.length >= 2, `/healthz was asked only ${healthz.length} times during the request`);
  check(
    v,
    slowest < MAX_HEALTHZ_MS,
    `/healthz took ${Math.round(slowest)} ms during the request (limit ${MAX_HEALTHZ_MS}; the API's main thread ran ${cpuMs} ms and waited ${waitMs} ms for a CPU)`,
  );

  const hash = createHash('sha256').update(pdf).digest('hex');
  const stored = (() => {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const one = (q: string, ...p: unknown[]) => Number(Object.values(db.prepare(q).get(...p) as object)[0]);
      return {
        blobs: one('SELECT count(*) FROM content_blobs WHERE sha256 = ?', hash),
        bytes: one('SELECT coalesce(sum(length(data)), 0) FROM content_blob_parts WHERE sha256 = ?', hash),
        references: one('SELECT count(*) FROM email_attachments WHERE blob_sha256 = ?', hash),
        inRows: one('SELECT count(*) FROM email_attachments WHERE data IS NOT NULL'),
      };
    } finally {
      db.close();
    }
  })();
  const once = stored.blobs === 1 && stored.bytes === pdf.length;
  check(
    v,
    once,
    `the attachment is stored ${stored.blobs} times, ${stored.bytes} bytes (expected once, ${pdf.length})`,
  );
  check(
    v,
    stored.references === 50 && stored.inRows === 0,
    `${stored.references} references to it, ${stored.inRows} rows with bytes of their own`,
  );

  // Delivery: every recipient gets the whole attachment (13.3 MB of base64 in the MIME, at least).
  const worker = startWorker('f-worker', env);
  const { missing } = await waitAllDelivered(sqliteDb(dbFile), sink, [...warmIds, ...ids], 180_000);
  const workerPeak = worker.memory().peak;
  check(
    v,
    worker.alive() && apiProc.alive(),
    `a process exited (API alive ${apiProc.alive()}, worker alive ${worker.alive()})`,
  );
  const rows = await sqliteDb(dbFile).rows();
  const short = ids.filter((id) => (sink.sizeOf(rows.get(id)?.smtp_message_id ?? '') ?? 0) < (pdf.length * 4) / 3);
  check(v, missing.length === 0, `${missing.length} of ${ids.length + warmIds.length} messages not delivered`);
  check(v, short.length === 0, `${short.length} delivered messages are smaller than the attachment's base64`);
  // WORKER_MAX_BUILD_MB (128 by default) bounds what the builds hold: 617 MB without it, ~390 with.
  check(
    v,
    workerPeak < MAX_WORKER_PEAK_MB * MB,
    `the worker's peak RSS was ${Math.round(workerPeak / MB)} MB (limit ${MAX_WORKER_PEAK_MB})`,
  );
  await worker.stop();
  await apiProc.stop();
  const sizeOf = (f: string) => (existsSync(path.join(dir, f)) ? statSync(path.join(dir, f)).size : 0);
  const fileMb = (sizeOf('postier.db') + sizeOf('postier.db-wal')) / MB;
  return {
    figures: {
      'body MB': (bodyBytes / MB).toFixed(1),
      'accepted in ms': Math.round(acceptMs),
      'peak RSS growth MB': `${(growth / MB).toFixed(1)} (${(growth / bodyBytes).toFixed(2)} × body${peakReset ? '' : ', sampled'})`,
      'healthz max ms': `${Math.round(slowest)} over ${healthz.length} polls`,
      'API main thread ms': `${cpuMs} running, ${waitMs} waiting for a CPU`,
      stored: `${stored.blobs} blob, ${(stored.bytes / MB).toFixed(1)} MB, ${stored.references} references`,
      'database MB after stop': fileMb.toFixed(1),
      delivered: `${ids.length - missing.filter((id) => ids.includes(id)).length}/${ids.length}`,
      'worker peak RSS MB': Math.round(workerPeak / MB),
    },
    violations: v,
  };
}

/** (h) Two API processes behind a load balancer, restarted one after the other under constant load. */
async function caseRollingRestart(sink: SmtpSink): Promise<CaseResult> {
  const v: string[] = [];
  sink.reset();
  const dir = mkdtempSync(path.join(RUN_DIR, 'h-'));
  const file = path.join(dir, 'postier.db');
  // The balancer checks /readyz every 100 ms; a stopping process stays 0.3 s (not ready) before closing its listener.
  const env = baseEnv(sink, { DATA_DIR: dir, DATABASE_URL: `sqlite:${file}`, SHUTDOWN_DELAY_SECONDS: '0.3' });
  const ports = [await freePort(), await freePort()];
  let started = 0;
  const start = (i: number) => {
    const name = `h-api-${i}-${++started}`;
    return startServe({ name, env: { ...env, PORT: String(ports[i]) }, args: ['--no-worker'], output: logFile(name) });
  };
  const procs: PostierProcess[] = [await start(0), await start(1)];
  const lb = await Balancer.start(ports, 100);
  await waitUntil(() => lb.up.every(Boolean), 20_000, 'both API processes ready');
  const lbUrl = `http://127.0.0.1:${lb.port}`;
  const results: Sent[] = [];
  let loading = true;
  const load = Promise.all(
    Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; loading; i++)
        results.push(await send(lbUrl, [`h${c}-${i}@example.com`], 'billing_invoice_monthly', i, 20_000));
    }),
  );
  const restarts: string[] = [];
  const codes: Array<number | null> = [];
  try {
    for (const i of [0, 1]) {
      await sleep(2000);
      const t0 = performance.now();
      codes.push(await procs[i]!.stop('SIGTERM', 30_000));
      const stopped = performance.now();
      procs[i] = await start(i);
      await waitUntil(() => lb.up[i]!, 20_000, `API process ${i} ready again`);
      restarts.push(
        `${((stopped - t0) / 1000).toFixed(1)} s to stop, ${((performance.now() - stopped) / 1000).toFixed(1)} s to start`,
      );
    }
    await sleep(2000);
  } finally {
    loading = false;
    await load;
    await lb.close();
  }
  const failed = results.filter((r) => r.status !== 201);
  const ids = results.flatMap((r) => r.ids);
  const rows = await sqliteDb(file).rows();
  const missing = ids.filter((id) => !rows.has(id));
  check(
    v,
    failed.length === 0,
    `${failed.length} of ${results.length} requests failed (e.g. ${failed[0]?.status} ${failed[0]?.body})`,
  );
  check(v, lb.failures.length === 0, `balancer: ${lb.failures.slice(0, 3).join('; ')}`);
  check(
    v,
    codes.every((c) => c === 0),
    `exit codes after SIGTERM: ${codes.join(', ')}`,
  );
  check(v, missing.length === 0, `${missing.length} messages answered 201 are not in the database`);
  check(v, results.length >= 50, `only ${results.length} requests were made`);
  await Promise.all(procs.map((p) => p.stop()));
  return {
    figures: {
      requests: results.length,
      failed: failed.length,
      'retried after connection refused': lb.refusedRetries,
      'served by each process': lb.served.join(' / '),
      restarts: restarts.join('; '),
      'max latency ms': Math.round(Math.max(0, ...results.map((r) => r.ms))),
    },
    violations: v,
  };
}

/** Ids leased by `owner` now (PostgreSQL). */
async function leasedBy(pool: pg.Pool, owner: string): Promise<string[]> {
  const r = await pool.query<{ id: string }>(
    "SELECT id FROM email_messages WHERE status = 'sending' AND lease_owner = $1",
    [owner],
  );
  return r.rows.map((x) => x.id);
}

/** (i) One of two workers SIGKILLed on PostgreSQL: the other takes its messages over, no restart, leases of 120 s. */
async function caseDeadWorker(sink: SmtpSink): Promise<CaseResult> {
  if (!pgBinDir())
    return { figures: {}, violations: [], skipped: 'no /usr/lib/postgresql/*/bin/initdb (install postgresql)' };
  const v: string[] = [];
  const postgres = await privatePostgres();
  sink.reset();
  const dir = mkdtempSync(path.join(RUN_DIR, 'i-'));
  // Leases of 120 s (the default) and the default heartbeats: only liveness brings the messages back in seconds.
  const env = baseEnv(sink, { DATA_DIR: dir, DATABASE_URL: postgres.url, WORKER_LEASE_SECONDS: '120' });
  const { p: apiProc, url } = await startApi('i-api', env, false);
  const workers = [1, 2].map((n) => startWorker(`i-worker-${n}`, { ...env, LOG_LEVEL: 'info' }));
  const owners = await Promise.all(workers.map((w) => w.workerOwner(60_000)));
  if (owners.some((o) => !o)) throw new Error('a worker exited at start-up');
  const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
  const db = pgDb(postgres.url);
  // A slow relay while the worker dies: each message takes 400 ms, so it holds leases, in flight and buffered.
  const slow = sink.on('message', { delayMs: 400 });
  const ids = await sendAll(url, P.deadN);
  let held: string[] = [];
  await waitUntil(
    async () => (held = await leasedBy(pool, owners[0]!)).length >= 20,
    60_000,
    'worker 1 to hold 20 leases',
  );
  await workers[0]!.stop('SIGKILL');
  const killed = performance.now();
  held = await leasedBy(pool, owners[0]!);
  slow();
  const mine = await waitAllDelivered(db, sink, held, 60_000);
  const secs = (performance.now() - killed) / 1000;
  const all = await waitAllDelivered(db, sink, ids, 60_000);
  check(v, held.length > 0, 'the killed worker held no lease');
  check(
    v,
    mine.missing.length === 0,
    `${mine.missing.length} of the killed worker's ${held.length} messages not delivered`,
  );
  check(v, secs <= 20, `the killed worker's messages took ${secs.toFixed(1)} s (goal: 20 s)`);
  check(v, all.missing.length === 0, `${all.missing.length} of ${ids.length} messages not delivered`);
  check(v, workers[1]!.alive(), 'the surviving worker died');
  await workers[1]!.stop();
  await apiProc.stop();
  await pool.end();
  await db.close();
  await postgres.stop();
  return {
    figures: {
      messages: ids.length,
      'held by the killed worker': held.length,
      'its messages delivered after s': secs.toFixed(1),
      delivered: `${ids.length - all.missing.length}/${ids.length}`,
      duplicates: sink.duplicates,
    },
    violations: v,
  };
}

/** (j) A lone `postier serve` on SQLite SIGKILLed mid-delivery and started again: leases of 120 s taken back at once. */
async function caseRestartAfterKill(sink: SmtpSink): Promise<CaseResult> {
  const v: string[] = [];
  sink.reset();
  const dir = mkdtempSync(path.join(RUN_DIR, 'j-'));
  const file = path.join(dir, 'postier.db');
  const env = baseEnv(sink, { DATA_DIR: dir, DATABASE_URL: `sqlite:${file}`, WORKER_LEASE_SECONDS: '120' });
  const first = await startServe({ name: 'j-serve-1', env, output: logFile('j-serve-1') });
  const db = sqliteDb(file);
  const slow = sink.on('message', { delayMs: 400 });
  const ids = await sendAll(first.url, P.restartN);
  let sending = 0;
  await waitUntil(
    async () => (sending = [...(await db.rows()).values()].filter((r) => r.status === 'sending').length) >= 20,
    60_000,
    'leases held by the worker',
  );
  await first.stop('SIGKILL');
  slow();
  const spawned = performance.now();
  const second = await startServe({
    name: 'j-serve-2',
    env: { ...env, PORT: String(first.port) },
    output: logFile('j-serve-2'),
  });
  const up = performance.now();
  const { missing } = await waitAllDelivered(db, sink, ids, 60_000);
  const fromUp = (performance.now() - up) / 1000;
  check(v, missing.length === 0, `${missing.length} of ${ids.length} messages not delivered`);
  check(v, fromUp <= 5, `everything delivered ${fromUp.toFixed(1)} s after the restart (goal: 5 s)`);
  await second.stop();
  return {
    figures: {
      messages: ids.length,
      'leased when killed': sending,
      'start-up s': ((up - spawned) / 1000).toFixed(1),
      'all delivered s after the restart': fromUp.toFixed(1),
      duplicates: sink.duplicates,
    },
    violations: v,
  };
}

// ---------------------------------------------------------------------------- main --

/** A failed case's process logs, their last lines: what CI shows of a run whose files are gone. */
function printLogTails(id: string): void {
  for (const f of readdirSync(RUN_DIR).filter((n) => n.startsWith(`${id}-`) && n.endsWith('.log'))) {
    const lines = readFileSync(path.join(RUN_DIR, f), 'utf8').trimEnd().split('\n').slice(-25);
    console.log(`    --- last lines of ${f}:\n${lines.map((l) => `      ${l.slice(0, 600)}`).join('\n')}`);
  }
}

async function main(): Promise<number> {
  // Counts only: 20,000 messages, and 50 copies of a 13 MB one, need no bytes kept.
  const sink = await SmtpSink.start({ fast: true });
  const results: Array<{ id: string; title: string; r: CaseResult; secs: number }> = [];
  const run = async (id: string, title: string, fn: () => Promise<CaseResult>) => {
    if (ONLY && !ONLY.has(id)) return;
    const t0 = performance.now();
    console.log(`[${new Date().toISOString().slice(11, 19)}] (${id}) ${title} …`);
    let r: CaseResult;
    try {
      r = await fn();
    } catch (e) {
      r = { figures: {}, violations: [`error: ${(e as Error).message}`] };
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `    ${r.skipped ? `SKIPPED: ${r.skipped}` : r.violations.length ? `FAILED: ${r.violations.join('; ')}` : 'passed'} (${secs.toFixed(1)} s) ${JSON.stringify(r.figures)}`,
    );
    if (!r.skipped && r.violations.length) printLogTails(id);
    results.push({ id, title, r, secs });
  };

  await run('a', `worker SIGKILLed repeatedly, ${P.killN} messages (SQLite)`, () => caseKill(sink));

  // (b) and (c) share one `postier serve` (API + worker) with fast retries.
  if (!ONLY || ONLY.has('b') || ONLY.has('c')) {
    const dir = mkdtempSync(path.join(RUN_DIR, 'bc-'));
    const env = baseEnv(sink, {
      DATA_DIR: dir,
      DATABASE_URL: `sqlite:${path.join(dir, 'postier.db')}`,
      WORKER_RETRY_BASE_SECONDS: '0.5',
      WORKER_RETRY_MAX_SECONDS: '2',
    });
    let server: PostierProcess | null = null;
    let url = '';
    const db = sqliteDb(path.join(dir, 'postier.db'));
    const ready = (async () => {
      ({ p: server, url } = await startApi('bc-serve', env, true));
      await createProbeTemplate(url);
    })();
    await run(
      'b',
      `SMTP relay answers 421 for ${P.outageS} s, then recovers`,
      async () => (await ready, caseTempFail(sink, url, db)),
    );
    await run(
      'c',
      '550 for every fifth recipient',
      async () => (await ready.catch(() => {}), caseReject(sink, url, db)),
    );
    await (server as PostierProcess | null)?.stop();
  }
  await run('d', 'PostgreSQL restarted under load (API + worker processes)', () => casePostgres(sink));
  await run('e', 'SQLite disk full, then space freed', () => caseDiskFull(sink));
  await run(
    'f',
    'hostile relay: endless trickles for some recipients, a greylisted cc, 530 at MAIL FROM for a while',
    () => caseHostileRelay(),
  );
  await run('g', 'one 10 MB attachment to 50 recipients (SQLite)', () => caseLargeAttachment(sink));
  await run('h', 'rolling restart of two API processes behind a load balancer, under constant load (SQLite)', () =>
    caseRollingRestart(sink),
  );
  await run('i', 'one of two workers SIGKILLed, no restart, 120 s leases (PostgreSQL)', () => caseDeadWorker(sink));
  await run('j', 'lone `postier serve` SIGKILLed mid-delivery and restarted, 120 s leases (SQLite)', () =>
    caseRestartAfterKill(sink),
  );
  await sink.close();

  printTable(
    `Chaos tests (${SHORT ? 'short' : 'full'}), ${new Date().toISOString().slice(0, 10)}`,
    results.map(({ id, title, r, secs }) => ({
      case: `(${id}) ${title}`,
      result: r.skipped ? 'SKIPPED' : r.violations.length ? 'FAILED' : 'passed',
      seconds: secs.toFixed(1),
      figures: r.skipped
        ? r.skipped
        : Object.entries(r.figures)
            .map(([k, x]) => `${k}: ${x}`)
            .join(', '),
    })),
  );
  const failed = results.filter((x) => !x.r.skipped && x.r.violations.length);
  for (const f of failed) console.log(`(${f.id}) violations:\n  - ${f.r.violations.join('\n  - ')}`);
  const skipped = results.filter((x) => x.r.skipped).length;
  console.log(`logs: ${process.env.CHAOS_KEEP ? RUN_DIR : '(set CHAOS_KEEP=1 to keep the process logs)'}`);
  console.log(
    `${results.length - failed.length - skipped} passed, ${failed.length} failed${skipped ? ` (${skipped} skipped)` : ''}`,
  );
  return failed.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(e);
} finally {
  cleanupSync();
}
process.exit(code);
