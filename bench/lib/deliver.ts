/**
 * Delivery measurements, each returning figures rather than printing: `postier serve` in a child
 * process (API + worker thread, as deployed) delivering to the test SMTP sink in this process, in
 * its fast mode (counts only), and reference senders.
 */
import http from 'node:http';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/platform/config.js';
import { wire } from '../../src/app/wiring.js';
import { createLogger } from '../../src/platform/log.js';
import { spawnPostier } from '../../test/support/processes.js';
import { SmtpSink } from '../../test/support/smtp-sink.js';
import { BENCH_TOKEN, type BenchServer, startServer } from './server.js';
import { BENCH_TEMPLATE } from './template.js';

export const mb = (b: number) => Math.round(b / 1024 / 1024);
export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10 : NaN;
};
export const payload = (i: number) =>
  JSON.stringify({
    to: `bench${i}@example.com`,
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

export interface Ctx {
  server: BenchServer;
  sink: SmtpSink;
  post(body: string): Promise<string[]>;
  started: Map<string, number>;
  latencies(ids: string[]): number[];
  waitDelivered(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** `postier serve`'s environment for delivering to the SMTP sink on 127.0.0.1:`sinkPort`. */
export const serverEnvFor = (sinkPort: number): Record<string, string> => ({
  LOG_LEVEL: 'fatal',
  POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4),
  SMTP_HOST: '127.0.0.1',
  SMTP_PORT: String(sinkPort),
  SMTP_USE_TLS: 'false',
  SMTP_FROM_EMAIL: 'noreply@rgz.bj',
  SMTP_FROM_NAME: 'RGZ Notifications',
});

/** The benchmark template, created through the admin API of the server at `url`. */
export async function createBenchTemplate(url: string): Promise<void> {
  const created = await fetch(`${url}/api/v1/email/templates`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
    body: JSON.stringify(BENCH_TEMPLATE),
  });
  // 409: the backlog's second server, on the first one's database, has it already.
  if (created.status !== 201 && created.status !== 409)
    throw new Error(`bench template: ${created.status} ${await created.text()}`);
}

/**
 * A fresh sink in this process and `postier serve` as a child process delivering to it, as it
 * is deployed: its worker on a thread of its own (or none with `--no-worker`). This process only
 * posts and receives, so the figures are Postier's, not the load generator's.
 */
export async function openCtx(
  opts: { db?: string; concurrency?: number; args?: string[]; dir?: string; sink?: SmtpSink } = {},
): Promise<Ctx> {
  const sink = opts.sink ?? (await SmtpSink.start({ fast: true }));
  const server = await startServer({
    dir: opts.dir,
    args: opts.args,
    env: { ...serverEnvFor(sink.port), ...(opts.db ? { DATABASE_URL: opts.db } : {}) },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 32 });
  const url = new URL(server.url);
  await createBenchTemplate(server.url);
  const post = (body: string) =>
    new Promise<string[]>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: '/api/v1/email/send',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
        },
        (res) => {
          let data = '';
          res.on('data', (c) => (data += c));
          res.on('end', () =>
            res.statusCode === 201
              ? resolve((JSON.parse(data) as { items: { id: string }[] }).items.map((i) => i.id))
              : reject(new Error(`${res.statusCode} ${data}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const started = new Map<string, number>();
  return {
    server,
    sink,
    post,
    started,
    latencies: (ids) => ids.map((id) => sink.acceptedAt(`<${id}@rgz.bj>`)! - started.get(id)!),
    async waitDelivered(count, timeoutMs = 30 * 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (sink.acceptedTotal < count) {
        if (Date.now() > deadline)
          throw new Error(`only ${sink.acceptedTotal} of ${count} delivered in ${timeoutMs} ms`);
        if (server.child.exitCode !== null) throw new Error(`postier exited with ${server.child.exitCode}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async close() {
      agent.destroy();
      await server.close(Boolean(opts.dir));
      if (!opts.sink) await sink.close();
    },
  };
}

/** The JIT's warm-up, as the accept rows have theirs: this many messages posted and delivered before measuring. */
export const WARMUP = 1000;

/** `concurrency` clients posting messages from..to-1 as fast as they are accepted. */
async function postClosedLoop(ctx: Ctx, from: number, to: number, concurrency: number) {
  let next = from;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < to) await ctx.post(payload(next++));
    }),
  );
}

/** Closed loop: `concurrency` clients post as fast as accepted while the worker delivers; until all N are at the sink. */
export async function deliveredPerSecond(n: number, concurrency = 32, db?: string) {
  const ctx = await openCtx({ db, concurrency });
  try {
    await postClosedLoop(ctx, 1_000_000, 1_000_000 + WARMUP, concurrency);
    await ctx.waitDelivered(WARMUP);
    const t0 = performance.now();
    await postClosedLoop(ctx, 0, n, concurrency);
    await ctx.waitDelivered(WARMUP + n);
    const secs = (performance.now() - t0) / 1000;
    return {
      rate: n / secs,
      avgBytes: Math.round(ctx.sink.acceptedBytes / ctx.sink.acceptedTotal),
      rss: ctx.server.memory().peak,
    };
  } finally {
    await ctx.close();
  }
}

/**
 * As deliveredPerSecond, with the API and the delivery in separate processes sharing the
 * database `db` (PostgreSQL): `postier serve --no-worker` and `workers` × `postier worker`.
 */
export async function deliveredSplit(n: number, db: string, workers = 2, concurrency = 32) {
  const ctx = await openCtx({ db, concurrency, args: ['--no-worker'] });
  const started = Array.from({ length: workers }, (_, i) =>
    spawnPostier('worker', {
      name: `postier worker ${i + 1}`,
      output: 'inherit',
      env: {
        ...process.env,
        PORT: undefined,
        DATA_DIR: ctx.server.dir,
        POSTIER_ADMIN_TOKEN: BENCH_TOKEN,
        ...serverEnvFor(ctx.sink.port),
        DATABASE_URL: db,
      },
    }),
  );
  try {
    await postClosedLoop(ctx, 1_000_000, 1_000_000 + WARMUP, concurrency);
    await ctx.waitDelivered(WARMUP);
    const t0 = performance.now();
    await postClosedLoop(ctx, 0, n, concurrency);
    await ctx.waitDelivered(WARMUP + n);
    const secs = (performance.now() - t0) / 1000;
    return { rate: n / secs };
  } finally {
    await Promise.all(started.map((w) => w.stop()));
    await ctx.close();
  }
}

/** Open loop at a fixed offered rate: requests leave on schedule whether or not earlier ones are answered. */
export async function fixedRateLatency(rate: number, seconds: number, db?: string) {
  const ctx = await openCtx({ db, concurrency: 1024 });
  try {
    // warm-up so JIT and template caches do not land in the measured percentiles
    await postClosedLoop(ctx, 1_000_000, 1_000_000 + WARMUP, 32);
    await ctx.waitDelivered(WARMUP);
    const total = Math.round(rate * seconds);
    const ids: string[] = [];
    const inflight: Promise<void>[] = [];
    let late = 0;
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      else if (wait < -5) late++;
      // latency counts from when the request was due, so a stalled loader cannot hide delay
      inflight.push(ctx.post(payload(i)).then(([id]) => void (ctx.started.set(id!, due), ids.push(id!))));
    }
    await Promise.all(inflight);
    await ctx.waitDelivered(WARMUP + total);
    const lat = ctx.latencies(ids);
    return { p50: pct(lat, 50), p99: pct(lat, 99), late };
  } finally {
    await ctx.close();
  }
}

function dbBytes(dir: string) {
  const file = path.join(dir, 'postier.db');
  return ['', '-wal', '-shm'].reduce((sum, ext) => sum + (existsSync(file + ext) ? statSync(file + ext).size : 0), 0);
}

/**
 * `q` messages queued through the API (50 recipients a request) by `postier serve --no-worker`,
 * then the same database served by `postier serve` with its worker until all are delivered.
 * Memory is the serving process's: once queued (VmRSS of the API) and at its peak while the
 * backlog drains (VmHWM of API + worker thread).
 */
export async function queuedThenDrained(q: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-bench-'));
  const sink = await SmtpSink.start({ fast: true });
  try {
    const fill = await openCtx({ dir, sink, args: ['--no-worker'], concurrency: 4 });
    const t0 = performance.now();
    const base = JSON.parse(payload(0)) as Record<string, unknown>;
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < q) {
          const i = next;
          next += 50;
          await fill.post(
            JSON.stringify({
              ...base,
              to: Array.from({ length: Math.min(50, q - i) }, (_, j) => `q${i + j}@example.com`),
            }),
          );
        }
      }),
    );
    const queueSecs = (performance.now() - t0) / 1000;
    const rssQueued = fill.server.memory().rss;
    await fill.close();
    const size = dbBytes(dir);
    const drain = await openCtx({ dir, sink });
    const t1 = performance.now();
    await drain.waitDelivered(q);
    const drainSecs = (performance.now() - t1) / 1000;
    // VmHWM: the serving process's peak over its whole life, which is this drain.
    const rssPeak = drain.server.memory().peak;
    await drain.close();
    return { queueSecs, rssQueued, rssPeak, dbBytes: size, drainSecs };
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Postier's services in this process, for the measures that call them directly. */
async function openServices() {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-bench-'));
  const config = loadConfig({
    DATABASE_URL: `sqlite:${path.join(dir, 'bench.db')}`,
    DATA_DIR: dir,
    LOG_LEVEL: 'silent',
    SMTP_HOST: '127.0.0.1',
    POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4),
  });
  const s = await wire(config, createLogger('silent'));
  return {
    s,
    config,
    async close() {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** TemplateService.render of a stock template, in-process, for `ms` milliseconds. */
export async function rendersPerSecond(ms: number) {
  const ctx = await openServices();
  try {
    const t = await ctx.s.templates.resolve('billing_invoice_monthly', {});
    const vars = JSON.parse(payload(0)).variables as Record<string, unknown>;
    const now = new Date();
    for (let i = 0; i < 200; i++) ctx.s.templates.render(t, vars, now);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      for (let i = 0; i < 50; i++) ctx.s.templates.render(t, { ...vars, invoice_number: `INV-${n + i}` }, now);
      n += 50;
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await ctx.close();
  }
}

/** The content Postier renders for a message, for reference senders that send the same thing. */
export async function sampleContent() {
  const ctx = await openServices();
  try {
    const { key, ...patch } = BENCH_TEMPLATE;
    await ctx.s.templateAdmin.create(key, patch, { actor: 'bench' });
    const t = await ctx.s.templates.resolve(key, {});
    const vars = JSON.parse(payload(0)).variables as Record<string, string>;
    return {
      vars,
      rendered: ctx.s.templates.render(t, vars, new Date()),
      poolSize: ctx.config.smtp.poolSize,
      concurrency: ctx.config.worker.concurrency,
    };
  } finally {
    await ctx.close();
  }
}

/**
 * A plain pooled Nodemailer loop: pre-rendered content (`sample`, from sampleContent), no
 * database, MIME built per message; Postier's pool size and concurrency.
 */
export async function pooledNodemailer(n: number, sink: SmtpSink, sample: Awaited<ReturnType<typeof sampleContent>>) {
  const { rendered, poolSize, concurrency } = sample;
  const from = { name: 'RGZ Notifications', address: 'noreply@rgz.bj' };
  const pool = nodemailer.createTransport({
    pool: true,
    maxConnections: poolSize,
    host: '127.0.0.1',
    port: sink.port,
    secure: false,
    ignoreTLS: true,
  });
  try {
    const t0 = performance.now();
    let k = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (k < n) {
          const i = k++;
          await pool.sendMail({
            from,
            to: `pool${i}@example.com`,
            subject: rendered.subject,
            html: rendered.html,
            text: rendered.text ?? undefined,
          });
        }
      }),
    );
    return n / ((performance.now() - t0) / 1000);
  } finally {
    pool.close();
  }
}
