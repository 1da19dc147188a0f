/**
 * Delivery measurements, each returning figures rather than printing: an in-process Postier
 * (Fastify app + worker on one database) delivering to the FastSink, and reference senders.
 */
import http from 'node:http';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { smtpTarget, startWorker } from '../../src/cli/worker.js';
import { type Config, loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { createServices } from '../../src/services.js';
import { createLogger } from '../../src/shared/logger.js';
import { FastSink } from '../sink.js';

const TOKEN = 'bench-admin-token-0123456789abcdef';
type Services = Awaited<ReturnType<typeof createServices>>;

/** Peak RSS of this process since the last reset, sampled every 50 ms. */
export const rss = {
  peak: 0,
  timer: null as NodeJS.Timeout | null,
  reset() {
    this.peak = process.memoryUsage().rss;
    if (!this.timer) {
      this.timer = setInterval(() => (this.peak = Math.max(this.peak, process.memoryUsage().rss)), 50);
      this.timer.unref();
    }
  },
  read() {
    return (this.peak = Math.max(this.peak, process.memoryUsage().rss));
  },
};
export const mb = (b: number) => Math.round(b / 1024 / 1024);
export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10 : NaN;
};
export const payload = (i: number) =>
  JSON.stringify({
    to: `bench${i}@example.com`,
    template_key: 'billing_invoice_monthly',
    variables: { reseller_name: 'Tech Connect SA', month: 'février', year: '2026', amount_fcfa: String(100000 + i), link_portal: 'https://admin-rgz.duckdns.org/invoices/latest', invoice_number: `INV-2026-${i}` },
  });

export interface Ctx {
  s: Services;
  config: Config;
  sink: FastSink;
  dir: string;
  dbFile: string | null;
  post(body: string): Promise<string>;
  started: Map<string, number>;
  latencies(ids: string[]): number[];
  waitDelivered(count: number, timeoutMs?: number): Promise<void>;
  startWorker(): { stop(): Promise<void> };
  close(): Promise<void>;
}

/** A fresh Postier (API + services, worker not started) on a new SQLite file or on `db`, and a fresh sink. */
export async function openCtx(opts: { db?: string; concurrency?: number } = {}): Promise<Ctx> {
  const sink = await new FastSink().start();
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-bench-'));
  const dbFile = opts.db ? null : path.join(dir, 'bench.db');
  const config = loadConfig({
    DATABASE_URL: opts.db ?? `sqlite:${dbFile}`,
    DATA_DIR: dir,
    LOG_LEVEL: 'silent',
    POSTIER_ADMIN_TOKEN: TOKEN,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(sink.port),
    SMTP_USE_TLS: 'false',
    SMTP_FROM_EMAIL: 'noreply@rgz.bj',
    SMTP_FROM_NAME: 'RGZ Notifications',
  });
  const s = await createServices(config, createLogger('silent'));
  if (opts.db) await s.db.deleteFrom('email_messages').execute();
  const app = await buildApp(s);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 32 });
  const post = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/api/v1/email/send', method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } }, (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => (res.statusCode === 201 ? resolve((JSON.parse(data) as { items: { id: string }[] }).items[0]!.id) : reject(new Error(`${res.statusCode} ${data}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  const started = new Map<string, number>();
  return {
    s,
    config,
    sink,
    dir,
    dbFile,
    post,
    started,
    latencies: (ids) => ids.map((id) => sink.acceptedAt.get(`<${id}@rgz.bj>`)! - started.get(id)!),
    async waitDelivered(count, timeoutMs = 30 * 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (sink.count < count) {
        if (Date.now() > deadline) throw new Error(`only ${sink.count} of ${count} delivered in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    startWorker: () => startWorker(s, smtpTarget(s, null)),
    async close() {
      await app.close();
      await s.close();
      await sink.close();
      agent.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Closed loop: `concurrency` clients post as fast as accepted while the worker delivers; until all N are at the sink. */
export async function deliveredPerSecond(n: number, concurrency = 32, db?: string) {
  const ctx = await openCtx({ db, concurrency });
  const worker = ctx.startWorker();
  try {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) await ctx.post(payload(next++));
      }),
    );
    await ctx.waitDelivered(n);
    const secs = (performance.now() - t0) / 1000;
    return { rate: n / secs, avgBytes: Math.round(ctx.sink.bytes / ctx.sink.count) };
  } finally {
    await worker.stop();
    await ctx.close();
  }
}

/** Open loop at a fixed offered rate: requests leave on schedule whether or not earlier ones are answered. */
export async function fixedRateLatency(rate: number, seconds: number, db?: string) {
  const ctx = await openCtx({ db, concurrency: 1024 });
  const worker = ctx.startWorker();
  try {
    // short warm-up so JIT and template caches do not land in the measured percentiles
    await Promise.all(Array.from({ length: 50 }, (_, i) => ctx.post(payload(1_000_000 + i))));
    await ctx.waitDelivered(50);
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
      inflight.push(ctx.post(payload(i)).then((id) => void (ctx.started.set(id, due), ids.push(id))));
    }
    await Promise.all(inflight);
    await ctx.waitDelivered(50 + total);
    const lat = ctx.latencies(ids);
    return { p50: pct(lat, 50), p99: pct(lat, 99), late };
  } finally {
    await worker.stop();
    await ctx.close();
  }
}

function dbBytes(ctx: Ctx) {
  if (!ctx.dbFile) return NaN;
  return ['', '-wal', '-shm'].reduce((sum, ext) => sum + (existsSync(ctx.dbFile + ext) ? statSync(ctx.dbFile + ext).size : 0), 0);
}

/** `q` messages queued through the send service with the worker stopped (50 recipients a call), then drained. */
export async function queuedThenDrained(q: number) {
  const ctx = await openCtx();
  try {
    if (global.gc) global.gc();
    rss.reset();
    const t0 = performance.now();
    const base = JSON.parse(payload(0)) as Record<string, unknown>;
    for (let i = 0; i < q; i += 50) {
      const to = Array.from({ length: Math.min(50, q - i) }, (_, j) => `q${i + j}@example.com`);
      await ctx.s.send.send({ ...base, to } as never, { principal: null });
    }
    const queueSecs = (performance.now() - t0) / 1000;
    const size = dbBytes(ctx);
    const rssQueued = rss.read();
    const worker = ctx.startWorker();
    const t1 = performance.now();
    await ctx.waitDelivered(q);
    const drainSecs = (performance.now() - t1) / 1000;
    await worker.stop();
    return { queueSecs, rssQueued, rssPeak: rss.read(), dbBytes: size, drainSecs };
  } finally {
    await ctx.close();
  }
}

/** TemplateService.render of a stock template, in-process, for `ms` milliseconds. */
export async function rendersPerSecond(ms: number) {
  const ctx = await openCtx();
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
  const ctx = await openCtx();
  try {
    const t = await ctx.s.templates.resolve('billing_invoice_monthly', {});
    const vars = JSON.parse(payload(0)).variables as Record<string, string>;
    return { vars, rendered: ctx.s.templates.render(t, vars, new Date()), poolSize: ctx.config.smtp.poolSize, concurrency: ctx.config.worker.concurrency };
  } finally {
    await ctx.close();
  }
}

/** A plain pooled Nodemailer loop: pre-rendered content, no database, MIME built per message. */
export async function pooledNodemailer(n: number, sink: FastSink, poolSize?: number, concurrency?: number) {
  const { rendered, poolSize: defPool, concurrency: defConc } = await sampleContent();
  const from = { name: 'RGZ Notifications', address: 'noreply@rgz.bj' };
  const pool = nodemailer.createTransport({ pool: true, maxConnections: poolSize ?? defPool, host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true });
  try {
    const t0 = performance.now();
    let k = 0;
    await Promise.all(
      Array.from({ length: concurrency ?? defConc }, async () => {
        while (k < n) {
          const i = k++;
          await pool.sendMail({ from, to: `pool${i}@example.com`, subject: rendered.subject, html: rendered.html, text: rendered.text ?? undefined });
        }
      }),
    );
    return n / ((performance.now() - t0) / 1000);
  } finally {
    pool.close();
  }
}
