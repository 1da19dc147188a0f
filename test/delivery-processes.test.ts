import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { ADMIN_TOKEN, backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample, invoiceExample } from './helpers/fixtures.js';
import { childEnv } from './helpers/child-env.js';
import { type PostierProcess, spawnPostier, startServe } from './support/processes.js';
import { SmtpSink } from './support/smtp-sink.js';
import { waitUntil } from './support/wait.js';

/** Crash safety and concurrency with real `postier worker` processes. */
describe.each(backends)('worker processes on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  const children: PostierProcess[] = [];
  let local: Worker | null = null;

  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(backend, sink.env({ WORKER_POLL_MS: '20', WORKER_LEASE_SECONDS: '5' }));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await c.stop('SIGKILL');
    await local?.stop();
    local = null;
    sink.reset();
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });

  const spawn = (env: Record<string, string> = {}) => {
    const w = spawnPostier('worker', { env: childEnv(t, sink.env({ WORKER_LEASE_SECONDS: '5', ...env })) });
    children.push(w);
    return w;
  };

  it('recovers the lease of a worker killed mid-send: another worker sends it once the lease expires', async () => {
    // The first delivery hangs: the worker is killed while the relay still holds the DATA.
    sink.on('message', (ctx) => (ctx.message!.seen === 1 ? { delayMs: 20_000 } : undefined));
    const doomed = spawn({ SMTP_TIMEOUT_SECONDS: '30' });
    // It failed once by its timeout on a loaded machine, at a step nobody saw: a failure says which.
    const started = Date.now();
    const steps: string[] = [];
    const step = (what: string) => steps.push(`${Date.now() - started} ms: ${what}`);
    onTestFailed(() => {
      console.error(
        `lease recovery on ${backend}, steps done:\n${steps.join('\n')}\nthe killed worker's output:\n${doomed.output().slice(-3000)}`,
      );
    });
    const doomedOwner = await doomed.workerOwner();
    expect(doomedOwner, doomed.output()).not.toBe('');
    step('worker started');
    const [id] = await sendOk(t, invoiceExample());
    step('sent');
    await sink.waitFor(() => sink.messages.length === 1, 20_000, 'the first attempt');
    step('first attempt at the relay');
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    step('worker killed');

    let row = await messageRow(t, id!);
    expect(row).toMatchObject({ status: 'sending', lease_owner: doomedOwner, attempts: 1 });

    local = startWorker(t.services, smtpTarget(t.services, null));
    step('another worker started');
    await waitForStatus(t, [id!], ['sent'], 20_000);
    step('sent by it');
    row = await messageRow(t, id!);
    expect(row).toMatchObject({ status: 'sent', attempts: 2, lease_owner: null });
    expect(await eventTypes(t, id!)).toEqual(['queued', 'sending', 'lease_expired', 'sending', 'attempt', 'sent']);
    // At-least-once: the relay saw it twice, with the same Message-ID so receivers can deduplicate.
    expect(sink.messages.map((m) => m.messageId)).toEqual([row.smtp_message_id, row.smtp_message_id]);
  });

  it('on SIGTERM, finishes the send in flight, releases the rest and exits 0', async () => {
    sink.on('message', { delayMs: 1500 });
    const w = spawn({ WORKER_CONCURRENCY: '1' });
    expect(await w.workerOwner(), w.output()).not.toBe('');
    const ids = await sendOk(t, { ...invoiceExample(), to: ['t1@example.com', 't2@example.com', 't3@example.com'] });
    await sink.waitFor(() => sink.messages.length === 1, 20_000, 'one send in flight');
    w.child.kill('SIGTERM');
    expect(await w.exited, w.output()).toBe(0);

    const rows = await Promise.all(ids.map((id) => messageRow(t, id)));
    const sent = rows.filter((r) => r.status === 'sent');
    const queued = rows.filter((r) => r.status === 'queued');
    expect(sent.map((r) => r.smtp_message_id)).toEqual([sink.messages[0]!.messageId]);
    expect(queued).toHaveLength(2);
    for (const r of queued) {
      expect(r).toMatchObject({ attempts: 0, lease_owner: null });
      expect(await eventTypes(t, r.id)).toEqual(['queued', 'sending', 'released']);
    }
    expect(sink.messages).toHaveLength(1);
  });

  it.runIf(backend === 'postgres')(
    'two worker processes deliver 2,000 messages, each exactly once',
    async () => {
      const a = spawn();
      const b = spawn();
      const owners = await Promise.all([a.workerOwner(), b.workerOwner()]);
      expect(owners.every(Boolean), a.output() + b.output()).toBe(true);

      const ids: string[] = [];
      for (let i = 0; i < 40; i += 8) {
        const batch = await Promise.all(
          Array.from({ length: 8 }, (_, k) =>
            sendOk(t, { ...incidentExample(), to: Array.from({ length: 50 }, (_, j) => `w${i + k}-${j}@example.com`) }),
          ),
        );
        ids.push(...batch.flat());
      }
      expect(ids).toHaveLength(2000);
      await sink.waitFor(() => sink.messages.length >= 2000, 60_000, '2,000 deliveries');
      await waitForStatus(t, ids, ['sent'], 30_000);

      // Only this test's messages: earlier tests may have left queued ones that these workers also send.
      const ours = new Set(
        (
          await t.services.db.selectFrom('email_messages').select('smtp_message_id').where('id', 'in', ids).execute()
        ).map((r) => r.smtp_message_id),
      );
      const perId = new Map<string, number>();
      for (const m of sink.messages.filter((x) => ours.has(x.messageId)))
        perId.set(m.messageId, (perId.get(m.messageId) ?? 0) + 1);
      expect(perId.size).toBe(2000);
      expect([...perId.values()].every((n) => n === 1)).toBe(true);
      expect(sink.messages.filter((x) => ours.has(x.messageId))).toHaveLength(2000);

      // Both processes took part (otherwise this would prove nothing about concurrent leasing).
      const leases = await t.services.db
        .selectFrom('email_events')
        .select('data')
        .where('type', '=', 'sending')
        .where('message_id', 'in', ids)
        .execute();
      const byOwner = new Map<string, number>();
      for (const l of leases) {
        const owner = (JSON.parse(l.data!) as { worker: string }).worker;
        byOwner.set(owner, (byOwner.get(owner) ?? 0) + 1);
      }
      expect([...byOwner.keys()].sort()).toEqual([...owners].sort());
      expect([...byOwner.values()].reduce((x, y) => x + y, 0)).toBe(2000);

      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      expect(await a.exited).toBe(0);
      expect(await b.exited).toBe(0);
    },
    90_000,
  );

  it('postier serve runs its worker on a thread of its own: delivers what its API accepted, counts it in /metrics, drains on SIGTERM', async () => {
    // Earlier tests may leave due messages behind; this worker sends those too.
    const sentRows = async () =>
      Number(
        (
          await t.services.db
            .selectFrom('email_messages')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('status', '=', 'sent')
            .executeTakeFirstOrThrow()
        ).n,
      );
    const sentBefore = await sentRows();
    const serve = await startServe({
      env: childEnv(t, sink.env({ POSTIER_ADMIN_TOKEN: ADMIN_TOKEN, WORKER_POLL_MS: '60000' })),
    });
    children.push(serve);
    expect(await serve.workerOwner(), serve.output()).not.toBe('');
    const base = serve.url;
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

    // Sent through the child's own API: its thread is rung at once (the poll is a minute away).
    const to = Array.from({ length: 40 }, (_, i) => `thread${i}@example.com`);
    const res = await fetch(`${base}/api/v1/email/send`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...incidentExample(), to }),
    });
    expect(res.status).toBe(201);
    const ids = ((await res.json()) as { items: { id: string }[] }).items.map((i) => i.id);
    await waitForStatus(t, ids, ['sent'], 20_000);

    // The thread's counters are merged into the API's scrape: what it sent, the 40 and any
    // leftovers, as the database records them (waited for: leftovers may still be in flight).
    const scrape = async () => (await fetch(`${base}/metrics`)).text();
    const counted = (metrics: string) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith('postier_emails_sent_total{'))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    let counts = { metrics: -1, database: -2 };
    await waitUntil(async () => {
      counts = { metrics: counted(await scrape()), database: (await sentRows()) - sentBefore };
      return counts.metrics === counts.database;
    }, 10_000).catch(() => {
      throw new Error(`sends counted in /metrics: ${counts.metrics}; recorded in the database: ${counts.database}`);
    });
    expect(counts.metrics).toBeGreaterThanOrEqual(40);
    // Process metrics appear once, not once per thread.
    expect(
      (await scrape()).split('\n').filter((l) => l.startsWith('postier_process_start_time_seconds ')),
    ).toHaveLength(1);

    serve.child.kill('SIGTERM');
    expect(await serve.exited, serve.output()).toBe(0);
    expect(serve.output()).toMatch(/"msg":"delivery worker stopped"/);
  }, 120_000);

  it.runIf(backend === 'sqlite')(
    'postier serve on an in-memory SQLite database keeps its worker in its own loop (a thread would see an empty database)',
    async () => {
      const serve = await startServe({
        env: childEnv(t, sink.env({ DATABASE_URL: 'sqlite::memory:', POSTIER_ADMIN_TOKEN: ADMIN_TOKEN })),
      });
      children.push(serve);
      expect(await serve.workerOwner(), serve.output()).not.toBe('');
      expect(serve.output()).not.toMatch(/"thread":"delivery"/);
      const base = serve.url;
      const res = await fetch(`${base}/api/v1/email/send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...incidentExample(), to: 'memory@example.com' }),
      });
      expect(res.status).toBe(201);
      await sink.waitFor(
        () => sink.accepted.some((m) => m.envelope.to.includes('memory@example.com')),
        15_000,
        'the in-memory server to deliver',
      );
      serve.child.kill('SIGTERM');
      expect(await serve.exited, serve.output()).toBe(0);
    },
    60_000,
  );
});
