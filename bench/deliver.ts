/**
 * npm run bench:deliver [-- --n 5000 --rate 500 --rate-seconds 5 --queued 100000 --db postgres://…]
 *
 * N messages accepted through the HTTP API and delivered by the worker to a local SMTP sink,
 * accept and delivery running together; then the same at a fixed offered rate for latency;
 * then two reference senders to the same sink. Prints one table.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { smtpTarget, startWorker } from '../src/cli/worker.js';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { createServices } from '../src/services.js';
import { createLogger } from '../src/shared/logger.js';
import { FastSink } from './sink.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '500' },
    'rate-seconds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    queued: { type: 'string' },
    db: { type: 'string' },
    'seed-n': { type: 'string', default: '500' },
  },
});
const N = Number(args.n);
const TOKEN = 'bench-admin-token-0123456789abcdef';

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const mb = (b: number) => Math.round(b / 1024 / 1024);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10 : NaN;
};
const payload = (i: number) =>
  JSON.stringify({
    to: `bench${i}@example.com`,
    template_key: 'billing_invoice_monthly',
    variables: { reseller_name: 'Tech Connect SA', month: 'février', year: '2026', amount_fcfa: String(100000 + i), link_portal: 'https://admin-rgz.duckdns.org/invoices/latest', invoice_number: `INV-2026-${i}` },
  });

type Row = { sender: string; messages: number; seconds: number; 'msg/s': number; 'p50 ms': number | string; 'p99 ms': number | string; 'peak RSS MB': number };
const rows: Row[] = [];

async function main() {
  const sink = await new FastSink().start();
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-bench-'));
  const config = loadConfig({
    DATABASE_URL: args.db ?? `sqlite:${path.join(dir, 'bench.db')}`,
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
  if (args.db) await s.db.deleteFrom('email_messages').execute();
  const app = await buildApp(s);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number(args.concurrency) });
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
  const latencies = (ids: string[]) => ids.map((id) => sink.acceptedAt.get(`<${id}@rgz.bj>`)! - started.get(id)!);
  const waitDelivered = async (count: number) => {
    while (sink.count < count) await new Promise((r) => setTimeout(r, 5));
  };

  let worker = startWorker(s, smtpTarget(s, null));

  // 1. Closed loop: `concurrency` clients post as fast as accepted; the worker delivers meanwhile.
  peakRss = 0;
  let t0 = performance.now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(args.concurrency) }, async () => {
      while (next < N) {
        const i = next++;
        const t = performance.now();
        const id = await post(payload(i));
        started.set(id, t);
        ids.push(id);
      }
    }),
  );
  await waitDelivered(N);
  let secs = (performance.now() - t0) / 1000;
  let lat = latencies(ids);
  rows.push({ sender: 'Postier API → worker (as fast as possible)', messages: N, seconds: +secs.toFixed(2), 'msg/s': Math.round(N / secs), 'p50 ms': pct(lat, 50), 'p99 ms': pct(lat, 99), 'peak RSS MB': mb(peakRss) });
  const avgSize = Math.round(sink.bytes / sink.count);

  // 2. Open loop at a fixed offered rate: the latency a caller sees under steady load.
  const rate = Number(args.rate);
  const total = Math.round(rate * Number(args['rate-seconds']));
  const before = sink.count;
  const rateIds: string[] = [];
  peakRss = 0;
  t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t = performance.now();
    inflight.push(post(payload(N + i)).then((id) => {
      started.set(id, t);
      rateIds.push(id);
    }));
  }
  await Promise.all(inflight);
  await waitDelivered(before + total);
  secs = (performance.now() - t0) / 1000;
  lat = latencies(rateIds);
  rows.push({ sender: `Postier API → worker at ${rate}/s offered`, messages: total, seconds: +secs.toFixed(2), 'msg/s': Math.round(total / secs), 'p50 ms': pct(lat, 50), 'p99 ms': pct(lat, 99), 'peak RSS MB': mb(peakRss) });
  await worker.stop();

  // Reference senders get the same rendered content Postier sent.
  const template = await s.templates.resolve('billing_invoice_monthly', {});
  const vars = JSON.parse(payload(0)).variables as Record<string, unknown>;
  const from = { name: 'RGZ Notifications', address: 'noreply@rgz.bj' };

  // 3. Seed-style: for each message render, build, connect, send, quit (smtplib in a loop).
  const seedN = Math.min(N, Number(args['seed-n']));
  peakRss = 0;
  t0 = performance.now();
  for (let i = 0; i < seedN; i++) {
    const r = s.templates.render(template, vars, new Date());
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true });
    await transport.sendMail({ from, to: `seed${i}@example.com`, subject: r.subject, html: r.html, text: r.text ?? undefined });
    transport.close();
  }
  secs = (performance.now() - t0) / 1000;
  rows.push({ sender: 'seed-style (render+build+connect+send+quit each)', messages: seedN, seconds: +secs.toFixed(2), 'msg/s': Math.round(seedN / secs), 'p50 ms': '-', 'p99 ms': '-', 'peak RSS MB': mb(peakRss) });

  // 4. Plain pooled Nodemailer loop: pre-rendered content, no database, build per message.
  const rendered = s.templates.render(template, vars, new Date());
  const pool = nodemailer.createTransport({ pool: true, maxConnections: config.smtp.poolSize, host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true });
  peakRss = 0;
  t0 = performance.now();
  let k = 0;
  await Promise.all(
    Array.from({ length: config.worker.concurrency }, async () => {
      while (k < N) {
        const i = k++;
        await pool.sendMail({ from, to: `pool${i}@example.com`, subject: rendered.subject, html: rendered.html, text: rendered.text ?? undefined });
      }
    }),
  );
  secs = (performance.now() - t0) / 1000;
  pool.close();
  rows.push({ sender: 'plain pooled Nodemailer loop (no DB)', messages: N, seconds: +secs.toFixed(2), 'msg/s': Math.round(N / secs), 'p50 ms': '-', 'p99 ms': '-', 'peak RSS MB': mb(peakRss) });

  // 5. Optional: memory with a large backlog queued, then drained.
  if (args.queued) {
    const q = Number(args.queued);
    peakRss = 0;
    t0 = performance.now();
    const base = sink.count;
    for (let i = 0; i < q; i += 50) {
      const to = Array.from({ length: Math.min(50, q - i) }, (_, j) => `q${i + j}@example.com`);
      await s.send.send({ ...JSON.parse(payload(i)), to }, { principal: null });
    }
    const queuedSecs = (performance.now() - t0) / 1000;
    const rssQueued = mb(peakRss);
    worker = startWorker(s, smtpTarget(s, null));
    const t1 = performance.now();
    await waitDelivered(base + q);
    secs = (performance.now() - t1) / 1000;
    await worker.stop();
    rows.push({ sender: `${q} queued (accepted in ${queuedSecs.toFixed(0)} s, RSS ${rssQueued} MB) then drained`, messages: q, seconds: +secs.toFixed(2), 'msg/s': Math.round(q / secs), 'p50 ms': '-', 'p99 ms': '-', 'peak RSS MB': mb(peakRss) });
  }

  clearInterval(sampler);
  console.log(`\nbench:deliver on ${s.database.dialect}, ${avgSize} B average message at the sink, node ${process.version}\n`);
  console.table(rows);
  await app.close();
  await s.close();
  await sink.close();
  agent.destroy();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
