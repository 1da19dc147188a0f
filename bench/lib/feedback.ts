/**
 * Feedback intake figures: reports classified per second by classifyReport alone (the corpus of
 * test/fixtures/feedback/reports), and reports received by the inbound SMTP listener end to end
 * (SMTP in, stored durably, 250) then classified and applied by the processor, on a fresh SQLite
 * database in a temporary folder.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { wire } from '../../src/app/wiring.js';
import { classifyReport, FeedbackProcessor, startInboundListener } from '../../src/feedback/index.js';
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/log.js';

const DIR = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'test',
  'fixtures',
  'feedback',
  'reports',
);

export function corpus(): Buffer[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => readFileSync(path.join(DIR, f)));
}

/** Runs `one` over the corpus again and again for `seconds`; reports per second. */
export async function perSecond(reports: Buffer[], seconds: number, one: (raw: Buffer) => unknown): Promise<number> {
  for (const r of reports) await one(r);
  let done = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (const r of reports) await one(r);
    done += reports.length;
  }
  return (done / (performance.now() - start)) * 1000;
}

export const classifiedPerSecond = (seconds: number) => perSecond(corpus(), seconds, (r) => classifyReport(r));

export interface ListenerFigures {
  /** Reports accepted (stored, 250) per second by the listener, over `connections` SMTP sessions. */
  acceptedPerSecond: number;
  /** Reports classified and applied per second by one processor, once stored. */
  appliedPerSecond: number;
  n: number;
}

/**
 * `n` reports (the corpus, each made distinct) sent to the listener over `connections` pooled
 * SMTP sessions, then drained by one processor in this process.
 */
export async function listenerEndToEnd(n: number, connections = 8): Promise<ListenerFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-bench-feedback-'));
  const config = loadConfig({
    DATABASE_URL: `sqlite:${path.join(dir, 'p.db')}`,
    DATA_DIR: dir,
    LOG_LEVEL: 'silent',
    POSTIER_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
    BOUNCE_DOMAIN: 'bounces.example.com',
  });
  const s = await wire(config, createLogger('silent'));
  const listener = await startInboundListener({ db: s.db, config, log: s.log, port: 0, host: '127.0.0.1' });
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: listener.port,
    secure: false,
    pool: true,
    maxConnections: connections,
    maxMessages: Number.POSITIVE_INFINITY,
    ignoreTLS: true,
  });
  try {
    const reports = corpus();
    const raws = Array.from({ length: n }, (_, i) =>
      Buffer.concat([Buffer.from(`X-Bench-Id: ${i}\r\n`), reports[i % reports.length]!]),
    );
    const start = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: connections * 2 }, async () => {
        while (next < raws.length) {
          const raw = raws[next++]!;
          await transport.sendMail({ envelope: { from: '', to: ['postmaster@bounces.example.com'] }, raw });
        }
      }),
    );
    const accepted = performance.now() - start;
    const processor = new FeedbackProcessor(s, { owner: 'bench', batchSize: 200 });
    const t0 = performance.now();
    const done = await processor.drain();
    const applied = performance.now() - t0;
    if (done !== n) throw new Error(`processor handled ${done} of ${n} reports`);
    return { acceptedPerSecond: (n / accepted) * 1000, appliedPerSecond: (n / applied) * 1000, n };
  } finally {
    transport.close();
    await listener.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
