import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseWrk, postWithWrk, wrkMs } from '../bench/lib/wrk.js';

/** wrk 4.1's report, as printed here with --latency against a server answering 200 or 400. */
const OK = `Running 1s test @ http://127.0.0.1:3911/ok
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   737.18us    1.23ms  18.22ms   91.80%
    Req/Sec     8.68k     4.33k   13.78k    50.00%
  Latency Distribution
     50%  348.00us
     75%  752.00us
     90%    1.71ms
     99%    5.71ms
  8624 requests in 1.00s, 1.01MB read
Requests/sec:   8612.68
Transfer/sec:      1.01MB
`;
const REFUSED = `Running 1s test @ http://127.0.0.1:3911/bad
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   566.67us  647.26us    1.05s   90.46%
    Req/Sec     9.11k     2.82k   14.76k    63.64%
  Latency Distribution
     50%  377.00us
     75%  596.00us
     90%    1.18ms
     99%    3.46ms
  9979 requests in 1.10s, 1.26MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 9970
Requests/sec:   9062.39
Transfer/sec:      1.14MB
`;

describe("the benches' wrk driver", () => {
  it('reads durations in every unit wrk prints', () => {
    expect(wrkMs('812.00us')).toBe(0.8);
    expect(wrkMs('47.90ms')).toBe(47.9);
    expect(wrkMs('1.02s')).toBe(1020);
    expect(() => wrkMs('12 ms')).toThrow(/not understood/);
  });

  it('reads the answered requests, percentiles and errors of a report', () => {
    expect(parseWrk(OK)).toEqual({ ok: 8624, 'p50 ms': 0.3, 'p99 ms': 5.7, 'max ms': 18.2, errors: 0 });
    expect(parseWrk(REFUSED)).toEqual({ ok: 9, 'p50 ms': 0.4, 'p99 ms': 3.5, 'max ms': 1050, errors: 9975 });
    expect(() => parseWrk('wrk: command failed')).toThrow(/lacks/);
  });

  it('posts the body byte for byte, headers included, and counts refusals', async () => {
    // Non-ASCII and the closing brackets of a Lua long string must arrive as they were given.
    const body = JSON.stringify({ to: 'a@example.com', subject: 'Débit lent à Cotonou ]] ]=] \u0001' });
    let seen = 0;
    let wrong = 0;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const same =
          req.method === 'POST' &&
          req.headers.authorization === 'Bearer t0k' &&
          Buffer.concat(chunks).toString('utf8') === body;
        seen++;
        if (!same) wrong++;
        res.statusCode = same && req.url === '/ok' ? 200 : 400;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const headers = { 'content-type': 'application/json', authorization: 'Bearer t0k' };
      const ok = await postWithWrk({ url: `${url}/ok`, headers, body, connections: 2, seconds: 1 });
      expect(wrong).toBe(0);
      expect(ok.ok).toBeGreaterThan(10);
      expect(ok.errors).toBe(0);
      expect(seen).toBeGreaterThanOrEqual(ok.ok);
      const refused = await postWithWrk({ url: `${url}/nope`, headers, body, connections: 2, seconds: 1 });
      expect(refused.ok).toBe(0);
      expect(refused.errors).toBeGreaterThan(10);
    } finally {
      server.close();
    }
  });
});
