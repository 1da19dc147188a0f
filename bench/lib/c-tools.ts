/**
 * Delivered/s with C tools around Postier, as this machine's reference figures were measured
 * (wrk for HTTP, Postfix's smtp-source/smtp-sink for SMTP): wrk posts (bench/lib/wrk-send.lua)
 * and smtp-sink receives, so nearly all of the two cores are left to `postier serve`. The Node
 * load generator and sink of deliver.ts cost about a fifth of the machine per message; this is
 * the figure of Postier itself.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/support/ports.js';
import { createBenchTemplate, serverEnvFor } from './deliver.js';
import { startSmtpSink } from './refs.js';
import { BENCH_TOKEN, type BenchServer, startServer } from './server.js';
import { BENCH_TEMPLATE } from './template.js';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wrk-send.lua');
const sum = (metrics: string, prefix: string) =>
  metrics
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .reduce((total, l) => total + Number(l.split(' ').pop()), 0);

/**
 * wrk with `connections` connections for `seconds`, after a warm-up of 2 s (delivered before
 * measuring). Returns the end-to-end rate: messages accepted ÷ time from the first post to
 * the last 250, with accept and delivery running together; and the two rates apart.
 */
export async function deliveredWithCTools(opts: { seconds: number; connections: number }) {
  const sinkPort = await freePort();
  const sink = await startSmtpSink(sinkPort);
  let server: BenchServer | undefined;
  try {
    server = await startServer({ env: serverEnvFor(sinkPort) });
    const url = server.url;
    await createBenchTemplate(url);
    const counts = async () => {
      const m = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${BENCH_TOKEN}` } })).text();
      return {
        accepted: sum(m, 'postier_emails_accepted_total{'),
        delivered: sum(m, 'postier_smtp_replies_total{code="250"}'),
      };
    };
    const wrk = (seconds: number, first: number) =>
      execFileSync('wrk', ['-t1', `-c${opts.connections}`, `-d${seconds}s`, '-s', script, url], {
        env: { ...process.env, BENCH_TOKEN, BENCH_TEMPLATE_KEY: BENCH_TEMPLATE.key, BENCH_FIRST: String(first) },
        encoding: 'utf8',
      });
    const child = server.child;
    /** Waits until every accepted message had its 250; a message that does not get one (failed, or a retry that never succeeds) ends the wait after 2 minutes. */
    const allDelivered = async () => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const c = await counts();
        if (c.delivered >= c.accepted) return c;
        if (child.exitCode !== null) throw new Error(`postier exited with ${child.exitCode}`);
        if (Date.now() > deadline)
          throw new Error(`${c.accepted - c.delivered} of ${c.accepted} accepted messages had no 250 after 2 minutes`);
        // Each scrape asks the delivery thread for its counters: not too often.
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    wrk(2, 1_000_000);
    const base = await allDelivered();
    const t0 = performance.now();
    const out = wrk(opts.seconds, 0);
    const acceptSecs = (performance.now() - t0) / 1000;
    // A scrape the delivery thread does not answer in time lacks its counters: ask again.
    let atEnd = await counts();
    while (atEnd.delivered < base.delivered) atEnd = await counts();
    const end = await allDelivered();
    const secs = (performance.now() - t0) / 1000;
    const accepted = end.accepted - base.accepted;
    if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw refused requests:\n${out}`);
    return {
      rate: accepted / secs,
      acceptRate: accepted / acceptSecs,
      deliveredWhileAccepting: (atEnd.delivered - base.delivered) / acceptSecs,
      rss: server.memory().peak,
    };
  } finally {
    await server?.close();
    sink.kill('SIGTERM');
  }
}
