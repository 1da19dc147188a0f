import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import { createSmtpTransport } from '../src/delivery/transport.js';
import { DeliveryStore } from '../src/delivery/store.js';
import { Worker, type WorkerOptions } from '../src/delivery/worker.js';
import { MimeCache } from '../src/delivery/mime.js';
import { type Backend, backends, createTestContext, type TestContext } from './helpers/context.js';
import { attemptEvents, eventData, eventTypes, messageRow, sendOk, waitForStatus, until } from './helpers/delivery.js';
import { incidentExample, invoiceExample } from './helpers/fixtures.js';
import { type Behaviour, SmtpSink } from './support/smtp-sink.js';

/**
 * The faults an outside fault-injection run found (issue #15), and their class: a relay that
 * never falls silent but never finishes, a recipient deferred while the others are accepted,
 * and a relay whose own setup refuses us. Each against the real worker, SQLite and PostgreSQL.
 */

type Attempt = Awaited<ReturnType<typeof attemptEvents>>[number] & {
  phase?: string;
  relay_problem?: string;
  recipients?: Array<{ address: string; status: string; code: number | null }>;
};

const endless: Behaviour = { reply: '250 working on it', trickle: { bytes: 1, everyMs: 25 }, endless: true };
const single = (to: string) => ({ ...incidentExample(), to });

/**
 * The tests of one database, with their own relay and context. The gauge part is the one test that
 * reads postier_smtp_relay_problem, a gauge of the process (one registry per process, not per
 * context): the other tests move it, so it runs when no other test of the file does.
 */
function faults(backend: Backend, part: 'side by side' | 'gauge') {
  let t: TestContext;
  let relay: SmtpSink;
  let worker: Worker | null = null;

  beforeAll(async () => {
    relay = await SmtpSink.start();
    t = await createTestContext(
      backend,
      relay.env({
        SMTP_TIMEOUT_SECONDS: '0.5',
        SMTP_DATA_TIMEOUT_SECONDS: '0.8',
        SMTP_POOL_SIZE: '2',
        WORKER_POLL_MS: '20',
        WORKER_RETRY_BASE_SECONDS: '0.05',
        WORKER_RETRY_MAX_SECONDS: '0.2',
      }),
    );
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    relay.reset();
  });
  afterAll(async () => {
    await t.close();
    await relay.close();
  });

  const run = (overrides: Partial<WorkerOptions> = {}) => {
    worker = startWorker(t.services, smtpTarget(t.services, null), overrides);
    return worker;
  };
  const attempts = (id: string) => attemptEvents(t, id) as Promise<Attempt[]>;

  if (part === 'gauge') {
    it('keeps a message queued through 530 at MAIL FROM without spending attempts, alerts the operator, and sends once the relay is fixed', async () => {
      const fix = relay.on('mail', { reply: '530 5.7.0 Authentication required' });
      const [id] = await sendOk(t, single('noc@rgz.bj'));
      await t.services.db.updateTable('email_messages').set({ max_attempts: 1 }).where('id', '=', id!).execute();
      run();
      await until('four refused attempts', async () => (await attempts(id!)).length >= 4);
      expect(await eventTypes(t, id!)).not.toContain('failed');
      expect(['queued', 'sending']).toContain((await messageRow(t, id!)).status);

      const problem = async () => (await t.inject({ method: 'GET', url: '/api/v1/delivery/relay' })).json().items;
      await until('the relay status to say problem', async () => (await problem())[0]?.state === 'problem');
      expect((await problem())[0]).toMatchObject({
        name: 'relay',
        address: `127.0.0.1:${relay.port}`,
        state: 'problem',
        problem_kind: 'auth',
        last_problem: '530 5.7.0 Authentication required',
      });
      const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
      const counted = /^postier_smtp_relay_problems_total\{transport="relay",kind="auth"\} (\d+)$/m.exec(metrics);
      expect(Number(counted?.[1])).toBeGreaterThanOrEqual(4);
      expect(metrics).toMatch(/^postier_smtp_relay_problem\{transport="relay"\} 1$/m);
      expect((await t.inject({ method: 'GET', url: '/api/v1/delivery/relay', token: null })).statusCode).toBe(401);

      fix();
      await waitForStatus(t, [id!], ['sent']);
      const tries = await attempts(id!);
      expect(tries.slice(0, -1).every((a) => a.relay_problem === 'auth' && a.code === 530 && a.attempt === 1)).toBe(
        true,
      );
      expect(tries.at(-1)).toMatchObject({ attempt: 1, code: 250 });
      expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', attempts: 1 });
      await until('the relay status to say ok', async () => (await problem())[0]?.state === 'ok');
      expect((await problem())[0]).toMatchObject({
        state: 'ok',
        problem_kind: 'auth',
        last_problem: '530 5.7.0 Authentication required',
        last_ok_at: expect.any(String),
      });
      expect((await t.inject({ method: 'GET', url: '/metrics' })).body).toMatch(
        /^postier_smtp_relay_problem\{transport="relay"\} 0$/m,
      );
    });
    return;
  }

  it('holds only its own message when the relay trickles, and the rest of the pool keeps delivering (the whole pool trickling)', async () => {
    // The relay trickles a reply that never ends to RCPT for one recipient, after DATA for another.
    relay.on('rcpt', endless, { match: 'slow-rcpt' });
    relay.on('message', endless, { match: (ctx) => ctx.session.recipients.some((r) => r.startsWith('slow-data')) });
    run();
    const slow = [
      ...(await sendOk(t, { ...invoiceExample(), to: 'slow-rcpt@example.com' })),
      ...(await sendOk(t, { ...invoiceExample(), to: 'slow-data@example.com' })),
    ];
    // Both connections of the pool (SMTP_POOL_SIZE=2) are now taken by trickling sessions.
    await relay.waitFor(
      () =>
        relay.commands.some((c) => c.line === 'RCPT TO:<slow-rcpt@example.com>') &&
        relay.messages.some((m) => m.envelope.to.includes('slow-data@example.com')),
      10_000,
      'both sessions trickling',
    );
    const healthy = await sendOk(t, {
      ...invoiceExample(),
      to: Array.from({ length: 20 }, (_, i) => `ok${i}@example.com`),
    });
    await waitForStatus(t, healthy, ['sent'], 30_000);
    for (let i = 0; i < 20; i++) expect(relay.deliveredTo(`ok${i}@example.com`)).toBe(1);
    // The trickling ones time out at their deadline (transient: attempts spent), and end failed.
    await waitForStatus(t, slow, ['failed'], 30_000);
    for (const [id, phase] of [
      [slow[0]!, 'rcpt'],
      [slow[1]!, 'data_end'],
    ] as const) {
      const row = await messageRow(t, id);
      expect(row).toMatchObject({ status: 'failed', attempts: 3, lease_owner: null });
      expect(row.error_message).toMatch(/^Gave up after 3 attempts; last: ETIMEDOUT: /);
      expect((await attempts(id)).map((a) => [a.error_code, a.phase])).toEqual([
        ['ETIMEDOUT', phase],
        ['ETIMEDOUT', phase],
        ['ETIMEDOUT', phase],
      ]);
    }
    expect(relay.deliveredTo('slow-rcpt@example.com') + relay.deliveredTo('slow-data@example.com')).toBe(0);
  });

  it.each([
    ['EHLO trickled without end', 'ehlo', endless, 'timeout'],
    [
      'a 421 greeting',
      'greeting',
      { reply: '421 4.3.2 Service not available, closing transmission channel' },
      'unavailable',
    ],
    ['a 554 greeting', 'greeting', { reply: '554 5.3.2 No SMTP service here' }, 'refused_session'],
    [
      'relay access denied at RCPT',
      'rcpt',
      { reply: '554 5.7.1 <noc@rgz.bj>: Relay access denied' },
      'relaying_denied',
    ],
  ] as const)(
    'takes %s as a relay problem: retried without spending attempts, then sent',
    async (_what, command, behaviour, kind) => {
      relay.on(command, behaviour, { times: 3 });
      const [id] = await sendOk(t, single('noc@rgz.bj'));
      // One attempt allowed: a relay problem must never fail a message on its first attempt.
      await t.services.db.updateTable('email_messages').set({ max_attempts: 1 }).where('id', '=', id!).execute();
      run();
      await waitForStatus(t, [id!], ['sent']);
      expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', attempts: 1, relay_problem_since: null });
      const tries = await attempts(id!);
      expect(tries.map((a) => [a.attempt, a.relay_problem ?? null])).toEqual([
        [1, kind],
        [1, kind],
        [1, kind],
        [1, null],
      ]);
      expect(await eventTypes(t, id!)).not.toContain('failed');
      expect(relay.deliveredTo('noc@rgz.bj')).toBe(1);
    },
  );

  it('retries a greylisted cc alone while the others are accepted, never sending twice to anyone, and shows the partial state', async () => {
    const hook = await t.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      payload: { url: 'http://127.0.0.1:9/hooks', event_types: ['partially_sent', 'sent'] },
    });
    expect(hook.statusCode).toBe(201);
    relay.on(
      'rcpt',
      { reply: '450 4.2.0 <chef@rgz.bj>: Recipient address rejected: Greylisted, try again later' },
      { match: 'chef@', times: 1 },
    );
    const [id] = await sendOk(t, { ...single('noc@rgz.bj'), cc: 'chef@rgz.bj', bcc: 'audit@rgz.bj' });
    run();
    await waitForStatus(t, [id!], ['sent']);

    // Two transactions: the accepted recipients first, then the deferred one alone, same bytes.
    expect(relay.accepted.map((m) => m.envelope.to)).toEqual([['noc@rgz.bj', 'audit@rgz.bj'], ['chef@rgz.bj']]);
    expect(relay.accepted[1]!.raw.equals(relay.accepted[0]!.raw)).toBe(true);
    expect(relay.accepted[0]!.raw.toString()).toMatch(/^Cc: chef@rgz\.bj\r$/m);
    for (const a of ['noc@rgz.bj', 'chef@rgz.bj', 'audit@rgz.bj']) expect(relay.deliveredTo(a)).toBe(1);

    const row = await messageRow(t, id!);
    expect(row).toMatchObject({ status: 'sent', attempts: 2 });
    expect(JSON.parse(row.recipient_status!)).toMatchObject({
      'noc@rgz.bj': { kind: 'to', status: 'accepted', attempts: 1 },
      'chef@rgz.bj': { kind: 'cc', status: 'accepted', attempts: 2 },
      'audit@rgz.bj': { kind: 'bcc', status: 'accepted', attempts: 1 },
    });
    expect(await eventTypes(t, id!)).toEqual([
      'queued',
      'sending',
      'attempt',
      'partially_sent',
      'retry_scheduled',
      'sending',
      'attempt',
      'sent',
    ]);
    const [first] = await attempts(id!);
    expect(first!.recipients!.map((r) => [r.address, r.status, r.code])).toEqual([
      ['noc@rgz.bj', 'accepted', 250],
      ['chef@rgz.bj', 'deferred', 450],
      ['audit@rgz.bj', 'accepted', 250],
    ]);

    const detail = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
    const partial = detail.events.find((e: { type: string }) => e.type === 'partially_sent');
    expect(partial.data).toMatchObject({
      final: false,
      accepted: [{ address: 'noc@rgz.bj' }, { address: 'audit@rgz.bj' }],
      deferred: [{ address: 'chef@rgz.bj', code: 450, enhanced: '4.2.0' }],
    });
    expect(detail.recipients).toEqual([
      expect.objectContaining({ address: 'noc@rgz.bj', kind: 'to', status: 'accepted', code: 250 }),
      expect.objectContaining({ address: 'chef@rgz.bj', kind: 'cc', status: 'accepted', attempts: 2 }),
      expect.objectContaining({ address: 'audit@rgz.bj', kind: 'bcc', status: 'accepted' }),
    ]);

    // Webhooks are enqueued from the event log by the dispatcher's tail: one pass reads what committed.
    await t.services.webhooks.enqueuer.run();
    const webhooks = await t.services.db
      .selectFrom('webhook_deliveries')
      .select(['event_type', 'payload'])
      .where('message_id', '=', id!)
      .orderBy('created_at')
      .execute();
    expect(webhooks.map((w) => w.event_type)).toEqual(['partially_sent', 'sent']);
    expect(JSON.parse(webhooks[0]!.payload)).toMatchObject({
      type: 'email.partially_sent',
      data: { message_id: id, details: { final: false, deferred: [{ address: 'chef@rgz.bj', code: 450 }] } },
    });
    await t.inject({ method: 'DELETE', url: `/api/v1/webhooks/${hook.json().id}` });
  });

  it('ends partially_sent when a cc is refused for good, failed when every recipient is, and counts both', async () => {
    relay.on('rcpt', { reply: '550 5.1.1 <gone@rgz.bj>: Recipient address rejected: User unknown' }, { match: 'gone' });
    const [partial] = await sendOk(t, { ...single('noc@rgz.bj'), cc: 'gone@rgz.bj' });
    const [none] = await sendOk(t, { ...single('gone@rgz.bj'), cc: 'gone2@rgz.bj' });
    run();
    await waitForStatus(t, [partial!], ['partially_sent']);
    await waitForStatus(t, [none!], ['failed']);
    const row = await messageRow(t, partial!);
    expect(row).toMatchObject({ status: 'partially_sent', attempts: 1, next_attempt_at: null, sealed_content: null });
    expect(row.sent_at).toBeGreaterThan(0);
    expect(row.error_message).toMatch(
      /^1 of 2 recipients accepted; not delivered: gone@rgz\.bj \(refused: 550 5\.1\.1 <gone@rgz\.bj>: Recipient address rejected: User unknown\)\. Permanent failure on attempt 1/,
    );
    expect(await eventTypes(t, partial!)).toEqual(['queued', 'sending', 'attempt', 'partially_sent']);
    const detail = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${partial}` })).json();
    expect(detail.events.at(-1).data).toMatchObject({
      final: true,
      accepted: [{ address: 'noc@rgz.bj' }],
      not_delivered: [{ address: 'gone@rgz.bj', status: 'refused', code: 550 }],
    });
    expect(relay.deliveredTo('gone@rgz.bj')).toBe(0);
    expect(await messageRow(t, none!)).toMatchObject({ status: 'failed', attempts: 1 });

    const stats = (await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=1' })).json();
    expect(stats.today.partially_sent).toBeGreaterThanOrEqual(1);
    expect(stats.latest_failures.map((f: { id: string }) => f.id)).toEqual(expect.arrayContaining([partial, none]));
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(
      /^postier_emails_partially_sent_total\{template="incident_alert_critical",category="[^"]+"\} [1-9]/m,
    );
  });

  it('fails a message after RELAY_PROBLEM_MAX_HOURS of relay problems (a TLS certificate it cannot verify), never earlier', async () => {
    const tlsRelay = await SmtpSink.start({ starttls: true });
    const t2 = await createTestContext(
      backend,
      tlsRelay.env({
        SMTP_USE_TLS: 'true',
        RELAY_PROBLEM_MAX_HOURS: String(1.5 / 3600),
        SMTP_TIMEOUT_SECONDS: '0.5',
        WORKER_POLL_MS: '20',
        WORKER_RETRY_BASE_SECONDS: '0.05',
        WORKER_RETRY_MAX_SECONDS: '0.2',
      }),
    );
    const w = startWorker(t2.services, smtpTarget(t2.services, null));
    try {
      const [id] = await sendOk(t2, single('noc@rgz.bj'));
      await waitForStatus(t2, [id!], ['failed'], 20_000);
      const row = await messageRow(t2, id!);
      expect(row.error_message).toMatch(/^Relay problem \(tls\) for 2 s, gave up; last: ETLS: /);
      expect(row.attempts).toBe(0);
      const tries = (await attemptEvents(t2, id!)) as Attempt[];
      expect(tries.length).toBeGreaterThan(1);
      expect(tries.every((a) => a.relay_problem === 'tls' && a.phase === 'starttls')).toBe(true);
      // Not before the bound: the first relay problem and the failure are at least that far apart.
      const events = (await t2.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json().events as Array<{
        type: string;
        at: string;
      }>;
      const first = Date.parse(events.find((e) => e.type === 'attempt')!.at);
      const failed = Date.parse(events.find((e) => e.type === 'failed')!.at);
      expect(failed - first).toBeGreaterThanOrEqual(1500);
      expect(tlsRelay.messages).toHaveLength(0);
    } finally {
      await w.stop();
      await t2.close();
      await tlsRelay.close();
    }
  });

  it('at the drain deadline, releases only sends still at the relay: a result already in keeps committing and is not sent twice', async () => {
    // The relay answers at once; recording the result is slow (a database slower than the
    // drain). Releasing that message would queue a message already delivered.
    const { config, db, dialect, commits, events } = t.services;
    class SlowResults extends DeliveryStore {
      override async completeMany(...args: Parameters<DeliveryStore['completeMany']>) {
        await new Promise((r) => setTimeout(r, 1200));
        return super.completeMany(...args);
      }
    }
    const w = new Worker(
      {
        store: new SlowResults(db, dialect, commits, events),
        transport: createSmtpTransport(config, smtpTarget(t.services, null)),
        mime: new MimeCache(db, MimeCache.senderOf(config), t.services.seal),
        log: t.services.log,
      },
      {
        batchSize: 5,
        concurrency: 2,
        leaseMs: 30_000,
        pollMs: 20,
        backoff: { baseMs: 50, maxMs: 200 },
        relayProblemMaxMs: 3_600_000,
        drainMs: 400,
      },
    );
    const [id] = await sendOk(t, single('recorded-late@example.com'));
    w.start();
    try {
      await until('the relay to take it', async () => relay.messages.length === 1, 10_000);
    } finally {
      await w.stop();
    }
    expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', attempts: 1, lease_owner: null });
    expect(await eventTypes(t, id!)).not.toContain('released');
    expect(relay.messages).toHaveLength(1);
  });

  it('at the drain deadline, counts and marks the sends whose SMTP exchange began, and hands back uncounted one still waiting for a connection', async () => {
    // Two connections (SMTP_POOL_SIZE), three sends at once: two reach the relay, which is slow
    // to answer the final dot (within a 10 s DATA deadline); the third waits for a connection
    // when the 200 ms drain ends.
    const patient = { ...t.services, config: { ...t.services.config } };
    patient.config.smtp = { ...patient.config.smtp, dataTimeoutSeconds: 10 };
    relay.on('message', { delayMs: 3000 });
    const ids = await sendOk(t, {
      ...incidentExample(),
      to: ['slow1@example.com', 'slow2@example.com', 'slow3@example.com'],
    });
    const w = startWorker(patient, smtpTarget(patient, null), { concurrency: 3, drainMs: 200 });
    await until('two sends at the relay', async () => relay.messages.length >= 2, 10_000);
    await w.stop();
    const rows = await Promise.all(ids.map((id) => messageRow(t, id)));
    expect(rows.map((r) => r.status)).toEqual(['queued', 'queued', 'queued']);
    expect(rows.map((r) => r.attempts).sort()).toEqual([0, 1, 1]);
    const reasons = await Promise.all(
      ids.map(async (id) => {
        const [released] = await eventData<{ reason?: string }>(t, id, 'released');
        return released!.reason ?? null;
      }),
    );
    expect(reasons.sort()).toEqual(['in_flight_at_drain_deadline', 'in_flight_at_drain_deadline', null].sort());
    // Sent by the next worker, all three: the relay had taken the two marked ones already, so
    // they arrive twice, which is what their event warns of.
    expect(relay.messages).toHaveLength(2);
    relay.reset();
    run();
    await waitForStatus(t, ids, ['sent']);
    expect(relay.messages).toHaveLength(3);
  });

  it('at the drain deadline, fails a begun send already past its max_attempts instead of queueing it once more', async () => {
    // The extra lease recoverAbandoned allows after an abandoned last attempt: attempts is
    // max_attempts + 1 once leased. A send that hangs at every stop must end, as after a crash.
    const patient = { ...t.services, config: { ...t.services.config } };
    patient.config.smtp = { ...patient.config.smtp, dataTimeoutSeconds: 10 };
    relay.on('message', { delayMs: 3000 });
    const [id] = await sendOk(t, single('last-try@example.com'));
    const { max_attempts } = await messageRow(t, id!);
    await t.services.db.updateTable('email_messages').set({ attempts: max_attempts }).where('id', '=', id!).execute();
    const w = startWorker(patient, smtpTarget(patient, null), { drainMs: 200 });
    await until('the send at the relay', async () => relay.messages.length === 1, 10_000);
    await w.stop();
    expect(await messageRow(t, id!)).toMatchObject({
      status: 'failed',
      attempts: max_attempts + 1,
      lease_owner: null,
      next_attempt_at: null,
      sealed_content: null,
      error_message: expect.stringMatching(/drain deadline/),
    });
    expect(await eventData(t, id!, 'failed')).toEqual([
      { worker: expect.any(String), reason: 'in_flight_at_drain_deadline' },
    ]);
    expect(await eventTypes(t, id!)).not.toContain('released');
  });

  it('stops renewing the lease of an attempt past its deadline, so a hung send cannot hold its message for ever', async () => {
    // A transport that starts its SMTP phases with a 100 ms deadline and never returns: a client
    // bug the per-phase deadlines would not catch. The lease must lapse and recovery requeue it.
    const { config } = t.services;
    const hung = {
      send: (_envelope: unknown, _raw: Buffer, hooks?: { onStart?(ms: number): void }) => {
        hooks?.onStart?.(100);
        return new Promise<never>(() => {});
      },
      close: () => {},
    };
    const w = new Worker(
      {
        store: new DeliveryStore(t.services.db, t.services.database.dialect, t.services.commits, t.services.events),
        transport: hung,
        mime: new MimeCache(t.services.db, MimeCache.senderOf(config), t.services.seal),
        log: t.services.log,
      },
      {
        batchSize: 5,
        concurrency: 2,
        leaseMs: 1500,
        pollMs: 20,
        backoff: { baseMs: 50, maxMs: 200 },
        relayProblemMaxMs: 3_600_000,
        drainMs: 50,
      },
    );
    const [id] = await sendOk(t, single('hung@example.com'));
    w.start();
    try {
      await until(
        'the lease to lapse and be recovered',
        async () => (await eventTypes(t, id!)).includes('lease_expired'),
        15_000,
      );
    } finally {
      await w.stop();
    }
    expect((await eventTypes(t, id!)).slice(0, 3)).toEqual(['queued', 'sending', 'lease_expired']);
  });
}

// The two databases side by side: most of a run is waiting on timeouts and deadlines (a relay's
// trickle, the drain, a lease lapsing) with the CPU idle. The tests of one database run in order:
// they share its relay.
describe.concurrent.each(backends)('delivery faults on %s', (backend) => {
  describe.sequential('in order', () => faults(backend, 'side by side'));
});
describe.each(backends)('delivery faults on %s, the relay gauge alone', (backend) => faults(backend, 'gauge'));
