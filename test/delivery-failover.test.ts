import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { smtpTargets, startWorker } from '../src/delivery/start.js';
import { FailoverTransport, failoverProblem } from '../src/delivery/failover.js';
import { buildApp } from '../src/http/app.js';
import type { SmtpOutcome } from '../src/delivery/outcome.js';
import { saveRelayStatus } from '../src/delivery/relay-status.js';
import { createLogger } from '../src/platform/log.js';
import type { Worker } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { attemptEvents, messageRow, sendOk, waitForStatus, until } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

/**
 * Fallback relays (SMTP_FALLBACK_URLS): two real SMTP servers, the real worker, both databases.
 * A relay problem met before the message's bytes were sent moves the send to the next relay in
 * the same attempt; what a relay says about the message itself stays with that relay.
 */

type Attempt = Awaited<ReturnType<typeof attemptEvents>>[number] & { relay?: string; relay_problem?: string };

const single = (to: string) => ({ ...incidentExample(), to });
const PASSWORD = 'p@ss word/é';

describe.each(backends)('fallback relays on %s', (backend) => {
  let t: TestContext;
  let primary: SmtpSink;
  let fallback: SmtpSink;
  let worker: Worker | null = null;

  beforeAll(async () => {
    primary = await SmtpSink.start();
    // The fallback wants its own login: the URL's user and URL-encoded password reach it.
    fallback = await SmtpSink.start({ auth: { user: 'backup', pass: PASSWORD, required: true } });
    t = await createTestContext(
      backend,
      primary.env({
        SMTP_FALLBACK_URLS: `smtp://backup:${encodeURIComponent(PASSWORD)}@127.0.0.1:${fallback.port}`,
        SMTP_FAILOVER_COOLDOWN_SECONDS: '0.6',
        SMTP_TIMEOUT_SECONDS: '0.5',
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
    primary.reset();
    fallback.reset();
  });
  afterAll(async () => {
    await t.close();
    await primary.close();
    await fallback.close();
  });

  const run = () => {
    worker = startWorker(t.services, smtpTargets(t.services, null));
    return worker;
  };
  const attempts = (id: string) => attemptEvents(t, id) as Promise<Attempt[]>;
  const metric = async (pattern: RegExp) =>
    Number(pattern.exec((await t.inject({ method: 'GET', url: '/metrics' })).body)?.[1] ?? 0);
  const failovers = () =>
    metric(/^postier_smtp_failovers_total\{from="relay",to="relay-2",kind="unavailable"\} (\d+)$/m);

  it('sends through the fallback when the relay refuses the session, in the same attempt, and records which relay answered', async () => {
    primary.on('greeting', { reply: '421 4.3.2 Down for maintenance' });
    const before = await failovers();
    // A row left by capture mode (or a fallback since removed) goes when the worker starts.
    await saveRelayStatus(t.services.db, 'capture', '127.0.0.1:2525', { state: 'ok' }, Date.now());
    run();
    const [id] = await sendOk(t, single('noc@example.com'));
    await waitForStatus(t, [id!], ['sent']);
    expect(fallback.accepted.map((m) => m.envelope.to)).toEqual([['noc@example.com']]);
    expect(fallback.logins).toBeGreaterThanOrEqual(1);
    expect(primary.messages).toHaveLength(0);
    const tries = await attempts(id!);
    expect(tries).toHaveLength(1);
    expect(tries[0]).toMatchObject({ attempt: 1, code: 250, relay: 'relay-2' });
    expect(tries[0]!.relay_problem).toBeUndefined();
    expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(await failovers()).toBe(before + 1);
    await worker!.stop();
    worker = null;
    const relays = (await t.inject({ method: 'GET', url: '/api/v1/delivery/relay' })).json() as {
      items: Array<{ name: string; address: string; state: string; problem_kind: string | null }>;
    };
    expect(relays.items.map((r) => [r.name, r.address, r.state, r.problem_kind])).toEqual([
      ['relay', `127.0.0.1:${primary.port}`, 'problem', 'unavailable'],
      ['relay-2', `127.0.0.1:${fallback.port}`, 'ok', null],
    ]);
    expect(await metric(/^postier_smtp_relay_problem\{transport="relay"\} (\d+)$/m)).toBe(1);
    expect(await metric(/^postier_smtp_relay_problem\{transport="relay-2"\} (\d+)$/m)).toBe(0);
  });

  it('passes a relay that failed over by while it cools down, then tries it again', async () => {
    const down = primary.on('greeting', { reply: '421 4.3.2 Down for maintenance' });
    // A cooldown long enough for two sends on a loaded machine (the file's 0.6 s was not, once).
    const { config } = t.services;
    const cooldownSeconds = 2;
    worker = startWorker(
      { ...t.services, config: { ...config, smtp: { ...config.smtp, failoverCooldownSeconds: cooldownSeconds } } },
      smtpTargets(t.services, null),
    );
    const [a] = await sendOk(t, single('first@example.com'));
    await waitForStatus(t, [a!], ['sent']);
    const tried = primary.connections;
    expect(tried).toBeGreaterThanOrEqual(1);
    const [b] = await sendOk(t, single('second@example.com'));
    await waitForStatus(t, [b!], ['sent']);
    // Within the cooldown: the failing relay is not even connected to.
    expect(primary.connections).toBe(tried);
    expect(fallback.accepted.map((m) => m.envelope.to[0])).toEqual(['first@example.com', 'second@example.com']);
    down();
    await new Promise((r) => setTimeout(r, cooldownSeconds * 1000 + 100));
    const [c] = await sendOk(t, single('third@example.com'));
    await waitForStatus(t, [c!], ['sent']);
    expect(primary.accepted.map((m) => m.envelope.to[0])).toEqual(['third@example.com']);
    expect((await attempts(c!))[0]).toMatchObject({ relay: 'relay', code: 250 });
  });

  it('keeps with the relay what it says about the message: a refused recipient, a 4xx after DATA', async () => {
    primary.on('rcpt', { reply: '550 5.1.1 No such user' }, { match: 'nobody' });
    primary.on(
      'message',
      { reply: '451 4.3.0 Try again later' },
      { match: (ctx) => ctx.session.recipients.some((r) => r.startsWith('later')) },
    );
    run();
    const [refused] = await sendOk(t, single('nobody@example.com'));
    const [later] = await sendOk(t, single('later@example.com'));
    await waitForStatus(t, [refused!], ['failed']);
    // `attempts` counts at lease time, before the relay answers: wait for the attempt's event itself.
    await until('the deferred one’s attempt recorded', async () => (await attempts(later!)).length >= 1);
    expect(fallback.messages).toHaveLength(0);
    expect(fallback.connections).toBe(0);
    expect((await attempts(refused!))[0]).toMatchObject({ code: 550, relay: 'relay' });
    expect((await attempts(later!))[0]).toMatchObject({ code: 451, relay: 'relay' });
  });

  it('moves on when the relay answers 421 to DATA or stays silent there: no byte of the message was sent', async () => {
    for (const behaviour of [{ reply: '421 4.4.2 Closing connection' }, { stall: true }]) {
      const undo = primary.on('data', behaviour);
      run();
      const to = `data-${'stall' in behaviour ? 'silent' : '421'}@example.com`;
      const [id] = await sendOk(t, single(to));
      await waitForStatus(t, [id!], ['sent']);
      expect(primary.messages).toHaveLength(0);
      // (A message deferred by an earlier test may go out beside it.)
      expect(fallback.accepted.filter((m) => m.envelope.to.includes(to)).map((m) => m.envelope.to)).toEqual([[to]]);
      const tries = await attempts(id!);
      expect(tries.map((a) => [a.attempt, a.relay, a.code ?? null])).toEqual([[1, 'relay-2', 250]]);
      expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', attempts: 1 });
      undo();
      await worker!.stop();
      worker = null;
      primary.reset();
      fallback.reset();
      // The next round must not find the primary cooling down from this one.
      await new Promise((r) => setTimeout(r, 700));
    }
  });

  it('keeps the message queued, its attempts unspent, while every relay has a problem; delivers once one works', async () => {
    primary.on('greeting', { reply: '421 4.3.2 Down for maintenance' });
    const closed = fallback.on('greeting', { reply: '554 5.7.1 No service for you' });
    run();
    const [id] = await sendOk(t, single('waiting@example.com'));
    await until('two attempts', async () => (await attempts(id!)).length >= 2);
    // Stopped, so no new lease is in progress while the row is read.
    await worker!.stop();
    worker = null;
    const row = await messageRow(t, id!);
    expect(row.status).toBe('queued');
    expect(row.attempts).toBe(0);
    const tries = await attempts(id!);
    expect(tries.every((a) => a.relay_problem !== undefined && a.relay !== undefined)).toBe(true);
    expect(fallback.messages).toHaveLength(0);
    closed();
    run();
    await waitForStatus(t, [id!], ['sent']);
    // (The message deferred by the test before may go through the fallback too.)
    expect(fallback.accepted.filter((m) => m.envelope.to[0] === 'waiting@example.com')).toHaveLength(1);
  });

  it('lists every relay on GET /api/v1/system, with its TLS and login, never its password', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/v1/system' });
    expect(res.statusCode).toBe(200);
    const { transports } = res.json() as { transports: Array<Record<string, unknown>> };
    expect(transports.map(({ name, address, tls, authenticated }) => ({ name, address, tls, authenticated }))).toEqual([
      { name: 'relay', address: `127.0.0.1:${primary.port}`, tls: 'none', authenticated: false },
      { name: 'relay-2', address: `127.0.0.1:${fallback.port}`, tls: 'none', authenticated: true },
    ]);
    expect(res.body).not.toContain('p@ss');
    expect(res.body).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('answers /readyz 200 while a fallback answers, 503 when no relay does', async () => {
    // An app that checks the relays on every request: /readyz reuses a verdict for 15 s by
    // default (test/readyz-smtp-cache.test.ts).
    const app = await buildApp(t.services, { smtpCheckCache: { okMs: 0, failMs: 0 } });
    try {
      primary.on('greeting', { reply: '421 4.3.2 Down for maintenance' });
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      fallback.on('greeting', { reply: '421 4.3.2 Down too' });
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ checks: { smtp: { status: 'fail' } } });
    } finally {
      await app.close();
    }
  });
});

describe('failoverProblem: what may move to the next relay', () => {
  const reply = (code: number, enhanced: string | null, response: string) => ({ code, enhanced, response });
  it('moves a relay problem met before the message was sent', () => {
    const base = { type: 'failure' as const, code: null, enhanced: null, response: 'connect ECONNREFUSED' };
    expect(failoverProblem({ ...base, phase: 'connect', kind: 'connection' })).toMatchObject({ kind: 'connection' });
    expect(failoverProblem({ ...base, phase: 'greeting', kind: 'timeout' })).toMatchObject({ kind: 'timeout' });
    expect(
      failoverProblem({ type: 'failure', phase: 'auth', kind: 'reply', ...reply(535, '5.7.8', 'bad credentials') }),
    ).toMatchObject({ kind: 'auth' });
    expect(
      failoverProblem({
        type: 'failure',
        phase: 'mail',
        kind: 'reply',
        ...reply(553, '5.7.1', 'Sender address rejected'),
      }),
    ).toMatchObject({ kind: 'sender_rejected' });
    expect(
      failoverProblem({
        type: 'transaction',
        recipients: [
          { address: 'a@x.test', accepted: false, ...reply(554, '5.7.1', 'Relay access denied') },
          { address: 'b@x.test', accepted: false, ...reply(554, '5.7.1', 'Relay access denied') },
        ],
        data: null,
      }),
    ).toMatchObject({ kind: 'relaying_denied' });
    // The DATA command, before its 354: the recipients were accepted, none of the message sent.
    expect(failoverProblem({ ...base, phase: 'data', kind: 'timeout' })).toMatchObject({ kind: 'timeout' });
    expect(failoverProblem({ ...base, phase: 'data', kind: 'connection' })).toMatchObject({ kind: 'connection' });
    expect(
      failoverProblem({ type: 'failure', phase: 'data', kind: 'reply', ...reply(421, '4.4.2', 'Closing connection') }),
    ).toMatchObject({ kind: 'unavailable' });
  });

  it('keeps what is about the message, or may have sent it', () => {
    const base = { type: 'failure' as const, code: null, enhanced: null, response: 'timed out' };
    expect(failoverProblem({ ...base, phase: 'data_end', kind: 'timeout' })).toBeNull();
    expect(failoverProblem({ ...base, phase: 'data_end', kind: 'connection' })).toBeNull();
    expect(
      failoverProblem({ type: 'failure', phase: 'data', kind: 'reply', ...reply(451, '4.3.0', 'Try again') }),
    ).toBeNull();
    expect(failoverProblem({ ...base, phase: 'build', kind: 'build' })).toBeNull();
    expect(
      failoverProblem({
        type: 'failure',
        phase: 'mail',
        kind: 'reply',
        ...reply(452, '4.3.1', 'Insufficient storage'),
      }),
    ).toBeNull();
    const rcpt = (accepted: boolean, code: number, enhanced: string, text: string) => ({
      address: 'a@x.test',
      accepted,
      ...reply(code, enhanced, text),
    });
    // One recipient refused for itself: the relay works.
    expect(
      failoverProblem({
        type: 'transaction',
        recipients: [rcpt(false, 554, '5.7.1', 'Relay access denied'), rcpt(false, 550, '5.1.1', 'No such user')],
        data: null,
      }),
    ).toBeNull();
    expect(
      failoverProblem({
        type: 'transaction',
        recipients: [rcpt(true, 250, '2.1.5', 'OK')],
        data: reply(250, null, 'OK'),
      }),
    ).toBeNull();
  });
});

describe('FailoverTransport: the attempt as the worker sees it', () => {
  it('says the send waits again when it moves on, so the first relay’s deadline does not end the lease', async () => {
    const calls: string[] = [];
    const down: SmtpOutcome = {
      type: 'failure',
      phase: 'connect',
      kind: 'connection',
      code: null,
      enhanced: null,
      response: 'connect ECONNREFUSED',
    };
    const ok: SmtpOutcome = {
      type: 'transaction',
      recipients: [],
      data: { code: 250, enhanced: null, response: '250 ok' },
    };
    const relay = (name: string, outcome: SmtpOutcome) => ({
      name,
      address: name,
      transport: {
        async send(_e: unknown, _r: Buffer, hooks?: { onStart?(ms: number): void }) {
          calls.push(`${name}:start`);
          hooks?.onStart?.(1000);
          return outcome;
        },
        close() {},
      },
    });
    const t = new FailoverTransport([relay('relay', down), relay('relay-2', ok)], {
      cooldownMs: 60_000,
      log: createLogger('silent'),
    });
    const out = await t.send({ from: 'a@x.test', to: ['b@x.test'] }, Buffer.from('x'), {
      onStart: (ms) => calls.push(`deadline ${ms}`),
      onWaiting: () => calls.push('waiting'),
    });
    expect(out).toMatchObject({ relay: 'relay-2', data: { code: 250 } });
    expect(calls).toEqual(['relay:start', 'deadline 1000', 'waiting', 'relay-2:start', 'deadline 1000']);
  });
});
