import autocannon from 'autocannon';
import { BENCH_TOKEN, startServer } from './server.js';

export const acceptBody = JSON.stringify({
  to: 'bench@example.com',
  template_key: 'support_ticket_created',
  variables: {
    ticket_number: '4821',
    title: 'Débit lent à Cotonou',
    priority: 'P2',
    support_link: 'https://support.rgz.bj/t/4821',
  },
});

export interface AcceptResult {
  'accepted/s': number;
  'p50 ms': number;
  'p99 ms': number;
  'max ms': number;
  errors: number;
}

/**
 * Single-recipient sends posted by autocannon (closed loop, `connections` in flight) to a
 * `postier serve --no-worker` child process; every 201 is answered after a durable commit.
 */
export async function measureAccept(opts: {
  env: Record<string, string>;
  seconds: number;
  connections: number;
  warmup?: number;
}): Promise<AcceptResult> {
  const server = await startServer({
    env: { LOG_LEVEL: 'fatal', SMTP_HOST: '127.0.0.1', POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4), ...opts.env },
    args: ['--no-worker'],
  });
  try {
    const req = {
      url: `${server.url}/api/v1/email/send`,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
      body: acceptBody,
      connections: opts.connections,
    };
    if ((opts.warmup ?? 2) > 0) await autocannon({ ...req, duration: opts.warmup ?? 2 }); // JIT, template cache, page cache
    const r = await autocannon({ ...req, duration: opts.seconds });
    return {
      'accepted/s': Math.round(r['2xx'] / opts.seconds),
      'p50 ms': r.latency.p50,
      'p99 ms': r.latency.p99,
      'max ms': r.latency.max,
      errors: r.non2xx + r.errors + r.timeouts,
    };
  } finally {
    await server.close();
  }
}

/**
 * A batch body: `size` copies of the accept row's message (one recipient each), or with
 * `distinct` each its own recipient and ticket number, so no two items render the same body
 * (nothing shared: each is rendered, compressed and stored on its own).
 */
export const batchBody = (size: number, distinct = false) =>
  JSON.stringify({
    messages: Array.from({ length: size }, (_, i) => {
      const m = JSON.parse(acceptBody) as { to: string; variables: Record<string, string> };
      if (distinct) {
        m.to = `bench+${i}@example.com`;
        m.variables.ticket_number = String(4821 + i);
        m.variables.support_link = `https://support.rgz.bj/t/${4821 + i}`;
      }
      return m;
    }),
  });

/**
 * POST /api/v1/email/batch with `size` messages a request, `connections` in flight, to a
 * `postier serve --no-worker` child: messages accepted per second (each 200 after the commit
 * of all its messages).
 */
export async function measureBatch(opts: {
  env: Record<string, string>;
  seconds: number;
  connections: number;
  size: number;
  /** Each item its own recipient and variables (see batchBody). */
  distinct?: boolean;
  warmup?: number;
}): Promise<AcceptResult> {
  const server = await startServer({
    env: { LOG_LEVEL: 'fatal', SMTP_HOST: '127.0.0.1', POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4), ...opts.env },
    args: ['--no-worker'],
  });
  try {
    const req = {
      url: `${server.url}/api/v1/email/batch`,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
      body: batchBody(opts.size, opts.distinct),
      connections: opts.connections,
    };
    if ((opts.warmup ?? 2) > 0) await autocannon({ ...req, duration: opts.warmup ?? 2 });
    const r = await autocannon({ ...req, duration: opts.seconds });
    return {
      'accepted/s': Math.round((r['2xx'] * opts.size) / opts.seconds),
      'p50 ms': r.latency.p50,
      'p99 ms': r.latency.p99,
      'max ms': r.latency.max,
      errors: r.non2xx + r.errors + r.timeouts,
    };
  } finally {
    await server.close();
  }
}
