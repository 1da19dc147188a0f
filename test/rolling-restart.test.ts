import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestContext, type TestContext } from './helpers/context.js';
import { childEnv } from './helpers/child-env.js';
import { incidentExample } from './helpers/fixtures.js';
import { Balancer } from './support/balancer.js';
import { freePort } from './support/ports.js';
import { type ServeProcess, startServe } from './support/processes.js';
import { SmtpSink } from './support/smtp-sink.js';
import { waitUntil } from './support/wait.js';

// Two API processes share one database, as a scale-out deployment runs them: PostgreSQL when the
// suite has one, else one SQLite file.
const backend = process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite';

describe(`rolling restart of two API processes behind a load balancer (${backend})`, () => {
  let t: TestContext;
  let sink: SmtpSink;
  let env: Record<string, string>;
  const backends: Array<ServeProcess | null> = [null, null];
  let ports: number[];

  const start = async (i: number) => {
    backends[i] = await startServe({
      name: `api-${i}`,
      env: { ...env, PORT: String(ports[i]) },
      args: ['--no-worker'],
    });
  };

  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(backend);
    // The balancer checks /readyz every 100 ms: a stopping process keeps serving (not ready) a
    // little longer than that before its listener closes (SHUTDOWN_DELAY_SECONDS).
    env = childEnv(t, sink.env({ POSTIER_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'warn', SHUTDOWN_DELAY_SECONDS: '0.3' }));
    ports = [await freePort(), await freePort()];
    await Promise.all([start(0), start(1)]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all(backends.map((b) => b?.stop()));
    await t.close();
    await sink.close();
  });

  it('loses no request under constant load, and every 201 is in the database', async () => {
    const lb = await Balancer.start(ports, 100);
    await waitUntil(() => lb.up.every(Boolean), 10_000, 'both backends ready');
    const results: Array<{ status: number | string; id?: string }> = [];
    let loading = true;
    const url = `http://127.0.0.1:${lb.port}/api/v1/email/send`;
    const client = async (c: number) => {
      for (let i = 0; loading; i++) {
        try {
          const r = await fetch(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ ...incidentExample(), to: `rolling-${c}-${i}@example.com` }),
            signal: AbortSignal.timeout(15_000),
          });
          const body = (await r.json()) as { items?: Array<{ id: string }> };
          results.push({ status: r.status, id: body.items?.[0]?.id });
        } catch (e) {
          results.push({ status: String((e as Error).cause ?? e) });
        }
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(client));
    try {
      const servedBefore = async (i: number, n: number) =>
        waitUntil(() => lb.served[i]! >= n, 10_000, `backend ${i} to serve ${n} requests`);
      for (const i of [0, 1]) {
        const restartAt = results.length;
        await servedBefore(i, 10);
        // SIGTERM, wait for the exit, start again on the same port.
        const code = await backends[i]!.stop('SIGTERM', 20_000);
        expect(code, backends[i]!.output()).toBe(0);
        const servedWhileDown = lb.served[1 - i]!;
        await start(i);
        await waitUntil(() => lb.up[i]!, 10_000, `backend ${i} ready again`);
        const before = lb.served[i]!;
        await waitUntil(() => lb.served[i]! > before + 5, 10_000, `backend ${i} serving again`);
        // The other backend carried the load meanwhile.
        expect(servedWhileDown).toBeGreaterThan(0);
        expect(results.length).toBeGreaterThan(restartAt);
      }
    } finally {
      loading = false;
      await load;
      await lb.close();
    }
    const failed = results.filter((r) => r.status !== 201);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(lb.failures).toEqual([]);
    expect(results.length).toBeGreaterThan(50);
    const ids = results.map((r) => r.id!);
    const stored = await t.services.db.selectFrom('email_messages').select('id').where('id', 'in', ids).execute();
    expect(stored.length).toBe(ids.length);
  }, 120_000);
});
