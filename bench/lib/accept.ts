import autocannon from 'autocannon';
import { BENCH_TOKEN, startServer } from './server.js';
import { type LoadResult, postWithWrk } from './wrk.js';

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
 * The load generator: wrk (C) unless BENCH_LOAD=autocannon. autocannon runs in the bench's Node
 * process and takes about a fifth of this machine's two cores from the server it measures.
 */
export type LoadClient = 'wrk' | 'autocannon';
export const loadClient = (): LoadClient => (process.env.BENCH_LOAD === 'autocannon' ? 'autocannon' : 'wrk');

/** `body` POSTed to `url` by `client` (closed loop, `connections` in flight) for `seconds`. */
async function post(
  client: LoadClient,
  opts: { url: string; body: string; connections: number; seconds: number },
): Promise<LoadResult> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` };
  if (client === 'wrk') return postWithWrk({ ...opts, headers });
  const r = await autocannon({ ...opts, method: 'POST', headers, duration: opts.seconds });
  return {
    ok: r['2xx'],
    'p50 ms': r.latency.p50,
    'p99 ms': r.latency.p99,
    'max ms': r.latency.max,
    errors: r.non2xx + r.errors + r.timeouts,
  };
}

/**
 * POSTs `body` to `path` of a `postier serve --no-worker` child process with `connections` in
 * flight: a warm-up (JIT, template cache, page cache), then `seconds` measured.
 */
async function measurePosts(opts: {
  env: Record<string, string>;
  path: string;
  body: string;
  seconds: number;
  connections: number;
  warmup?: number;
  client?: LoadClient;
}): Promise<LoadResult> {
  const server = await startServer({
    env: { LOG_LEVEL: 'fatal', SMTP_HOST: '127.0.0.1', POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4), ...opts.env },
    args: ['--no-worker'],
  });
  try {
    const client = opts.client ?? loadClient();
    const req = { url: `${server.url}${opts.path}`, body: opts.body, connections: opts.connections };
    if ((opts.warmup ?? 2) > 0) await post(client, { ...req, seconds: opts.warmup ?? 2 });
    return await post(client, { ...req, seconds: opts.seconds });
  } finally {
    await server.close();
  }
}

/** Single-recipient sends; every 201 is answered after a durable commit. */
export async function measureAccept(opts: {
  env: Record<string, string>;
  seconds: number;
  connections: number;
  warmup?: number;
  client?: LoadClient;
}): Promise<AcceptResult> {
  const { ok, ...r } = await measurePosts({ ...opts, path: '/api/v1/email/send', body: acceptBody });
  return { 'accepted/s': Math.round(ok / opts.seconds), ...r };
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
  client?: LoadClient;
}): Promise<AcceptResult> {
  const body = batchBody(opts.size, opts.distinct);
  const { ok, ...r } = await measurePosts({ ...opts, path: '/api/v1/email/batch', body });
  return { 'accepted/s': Math.round((ok * opts.size) / opts.seconds), ...r };
}
