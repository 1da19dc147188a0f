import { readFileSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/platform/config.js';
import { ADMIN_TOKEN, backends, createTestContext, type TestContext } from './helpers/context.js';
import { waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { childEnv } from './helpers/child-env.js';
import { startServe } from './support/processes.js';
import { SmtpSink } from './support/smtp-sink.js';
import { waitUntil } from './support/wait.js';

/** Pids of a process's children (Linux). */
const childrenOf = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

/** One request on a connection of its own: the cluster hands each new connection to the next process. */
function post(port: number, path: string, body: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: false,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: data }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('API_PROCESSES', () => {
  it('is refused above 1 on an in-memory database (each process would open an empty one)', () => {
    expect(() => loadConfig({ API_PROCESSES: '2', DATABASE_URL: 'sqlite::memory:' })).toThrow(
      /API_PROCESSES > 1 needs a database file/,
    );
    expect(() => loadConfig({ API_PROCESSES: '0' })).toThrow(/API_PROCESSES/);
  });
});

// Both databases at once: much of a run is waiting (on a stopped process, on a scrape's timeout,
// on a replacement process) with the CPU idle.
describe.concurrent.each(backends)('postier serve with API_PROCESSES=2 on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink | null = null;
  // On SQLite without SMTP_HOST: the primary's capture server, on a port the system chose, which
  // every API process's readiness check must be told.
  const capturing = backend === 'sqlite';
  const delivered = capturing ? 'captured' : 'sent';

  beforeAll(async () => {
    if (!capturing) sink = await SmtpSink.start();
    t = await createTestContext(backend, sink?.env() ?? {});
  });
  afterAll(async () => {
    await t.close();
    await sink?.close();
  });

  it('serves the API from two processes: the primary delivers what both accepted, /metrics counts both, a dead process is replaced, SIGTERM stops all', async () => {
    // The worker's poll is a minute away: a delivery within seconds proves the API process rang the primary.
    const serve = await startServe({
      env: childEnv(t, {
        ...(sink?.env() ?? { CAPTURE_SMTP_PORT: '0' }),
        POSTIER_ADMIN_TOKEN: ADMIN_TOKEN,
        API_PROCESSES: '2',
        WORKER_POLL_MS: '60000',
      }),
      // Three processes start on a shared 2-core machine (the primary, then two API processes):
      // under CI's load they took over 30 s (Node 22, PostgreSQL).
      readyTimeoutMs: 90_000,
    });
    const { port } = serve;
    try {
      expect(await serve.workerOwner(), serve.output()).not.toBe('');
      expect(
        await serve.waitForOutput(/"processes":2[^\n]*"msg":"Postier API listening"/, 30_000),
        serve.output(),
      ).not.toBeNull();
      const primary = serve.child.pid!;
      const apiPids = childrenOf(primary);
      expect(apiPids).toHaveLength(2);

      // Six connections, six messages: round robin gives each process three.
      const replies = [];
      for (let i = 0; i < 6; i++)
        replies.push(await post(port, '/api/v1/email/send', { ...incidentExample(), to: `cluster${i}@example.com` }));
      expect(replies.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201]);
      const ids = replies.map((r) => (JSON.parse(r.body) as { items: { id: string }[] }).items[0]!.id);
      await waitForStatus(t, ids, [delivered], 15_000);

      // One connection a request: round robin asks each process in turn.
      const get = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) =>
          http
            .get(
              {
                host: '127.0.0.1',
                port,
                path,
                agent: false,
                timeout: 4000,
                headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
              },
              (res) => {
                let d = '';
                res.on('data', (c: Buffer) => (d += c.toString()));
                res.on('end', () => resolve({ status: res.statusCode ?? 0, body: d }));
              },
            )
            .on('timeout', function (this: http.ClientRequest) {
              this.destroy(new Error('scrape timed out'));
            })
            .on('error', reject),
        );
      // Ready in both processes: the relay check reaches the relay (or the capture server) from each.
      const readiness = [];
      for (let i = 0; i < 4; i++) readiness.push(await get('/readyz'));
      expect(
        readiness.map((r) => r.status),
        readiness.map((r) => r.body).join('\n'),
      ).toEqual([200, 200, 200, 200]);

      // Whichever process answers the scrape, it counts what every process accepted.
      const scrape = async () => (await get('/metrics')).body;
      const sum = (metrics: string, prefix: string) =>
        metrics
          .split('\n')
          .filter((l) => l.startsWith(prefix))
          .reduce((total, l) => total + Number(l.split(' ').pop()), 0);
      const accepted = async () => sum(await scrape(), 'postier_emails_accepted_total{');
      for (let i = 0; i < 4; i++) expect(await accepted()).toBe(6);

      // A process that does not answer (stopped) costs the scrape its own counters only: the
      // primary gives up on it before the asking process gives up on the primary, so the
      // worker's counters (in the primary) are still there.
      process.kill(apiPids[1]!, 'SIGSTOP');
      try {
        let metrics = '';
        // Round robin sends every other connection to the stopped process: ask until the live one answers.
        await waitUntil(async () => (metrics = await scrape().catch(() => '')) !== '', 30_000, 'a scrape answered');
        expect(sum(metrics, 'postier_smtp_replies_total{code="250"}')).toBe(6);
      } finally {
        process.kill(apiPids[1]!, 'SIGCONT');
      }

      // A process that dies is replaced, and its counters die with it: what remains counted is
      // what the survivor accepted, so each process had taken part (neither 0 nor 6).
      process.kill(apiPids[0]!, 'SIGKILL');
      // Scrapes at once: the survivor asks the primary, which may ask the dead process before it
      // has seen it go (timing decides; test/ipc-send.test.ts holds that case deterministically).
      await Promise.all(Array.from({ length: 4 }, () => scrape().catch(() => '')));
      // The primary must live through it: a metrics question sent to the dead process (its pipe
      // broken: EPIPE) once ended the primary, delivery worker and all.
      const replaced = () => {
        if (serve.child.exitCode !== null || serve.child.signalCode !== null)
          throw new Error(`the primary exited:\n${serve.output()}`);
        const children = childrenOf(primary);
        return children.length === 2 && !children.includes(apiPids[0]!);
      };
      await waitUntil(replaced, 15_000, 'the dead API process replaced');
      const survivorCount = await accepted();
      expect(survivorCount).toBeGreaterThan(0);
      expect(survivorCount).toBeLessThan(6);
      const after = await post(port, '/api/v1/email/send', { ...incidentExample(), to: 'after-restart@example.com' });
      expect(after.status).toBe(201);
      expect(await accepted()).toBe(survivorCount + 1);

      const survivors = childrenOf(primary);
      serve.child.kill('SIGTERM');
      expect(await serve.exited, serve.output()).toBe(0);
      for (const pid of survivors) expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await serve.stop('SIGKILL');
    }
  }, 180_000);
});
