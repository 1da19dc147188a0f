import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import { DeliveryStore } from '../src/delivery/store.js';
import type { Worker } from '../src/delivery/worker.js';
import { processIdentity, processRunning } from '../src/platform/process-identity.js';
import { goneLocalWorkers } from '../src/platform/workers.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';
import { waitUntil } from './support/wait.js';

/** The pid of a process that has run and exited. */
function exitedPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

describe('process identity', () => {
  it('tells this process from a pid that exited and from a reused pid', () => {
    const me = processIdentity();
    expect(me).toMatch(/^[0-9a-f-]+:\d+$/);
    expect(processRunning(process.pid, me)).toBe(true);
    expect(processRunning(process.pid, null)).toBe(true);
    // Same pid, another start: the process recorded is not the one running under that pid now.
    expect(processRunning(process.pid, `${me!.split(':')[0]}:1`)).toBe(false);
    expect(processRunning(exitedPid(), null)).toBe(false);
  });
});

// The two databases side by side: most of a run is waiting (heartbeats, the dead-after delay, a
// worker's polls) with the CPU idle. The tests of one database run in order: they share its relay.
describe.concurrent.each(backends)('worker liveness on %s', (backend) => {
  describe.sequential('in order', () => {
    let t: TestContext;
    let sink: SmtpSink;
    let store: DeliveryStore;
    let worker: Worker | null = null;

    beforeAll(async () => {
      sink = await SmtpSink.start();
      t = await createTestContext(
        backend,
        sink.env({ WORKER_POLL_MS: '20', WORKER_HEARTBEAT_SECONDS: '0.2', WORKER_DEAD_AFTER_SECONDS: '1' }),
      );
      store = new DeliveryStore(t.services.db, t.services.database.dialect, t.services.commits, t.services.events);
    });
    afterEach(async () => {
      await worker?.stop();
      worker = null;
      await t.services.db.deleteFrom('workers').execute();
      // Each test leases its own messages only.
      await t.services.db
        .updateTable('email_messages')
        .set({ status: 'cancelled', lease_owner: null, lease_expires_at: null })
        .where('status', 'in', ['queued', 'sending'])
        .execute();
      sink.reset();
    });
    afterAll(async () => {
      await t.close();
      await sink.close();
    });

    const register = (
      id: string,
      at: number,
      row: { host?: string; pid?: number; process_start?: string | null } = {},
    ) =>
      t.services.db
        .insertInto('workers')
        .values({
          id,
          host: row.host ?? 'elsewhere.example',
          pid: row.pid ?? 4242,
          process_start: row.process_start ?? null,
          kind: 'delivery',
          started_at: at,
          heartbeat_at: at,
        })
        .execute();
    /** Leases `n` due messages for two hours, as if it had happened at `at`. */
    const leaseAt = async (owner: string, n: number, at: number) => {
      const rows = await store.lease(owner, n, Date.now(), 7_200_000);
      if (rows.length)
        await t.services.db
          .updateTable('email_messages')
          .set({ updated_at: at })
          .where(
            'id',
            'in',
            rows.map((m) => m.id),
          )
          .execute();
      return rows.map((m) => m.id);
    };
    const statuses = async (ids: string[]) =>
      Object.fromEntries(
        (
          await t.services.db.selectFrom('email_messages').select(['id', 'status']).where('id', 'in', ids).execute()
        ).map((r) => [r.id, r.status]),
      );

    it('takes over the leases of a worker that missed its heartbeats, long before they expire, and leaves a live one alone', async () => {
      const now = Date.now();
      const [dead, live] = await sendOk(t, { ...incidentExample(), to: ['dead@example.com', 'live@example.com'] });
      await register('dead-worker', now - 60_000);
      await register('live-worker', now);
      // Leased a minute ago for two hours: expiry would free them in two hours.
      expect(await leaseAt('dead-worker', 1, now - 60_000)).toEqual([dead]);
      expect(await leaseAt('live-worker', 1, now - 60_000)).toEqual([live]);

      const r = await store.recoverAbandoned(now, { deadBefore: now - 15_000 });
      expect(r).toEqual({ requeued: 1, failed: 0 });
      expect(await statuses([dead!, live!])).toEqual({ [dead!]: 'queued', [live!]: 'sending' });
      expect(await eventTypes(t, dead!)).toEqual(['queued', 'sending', 'lease_expired']);
    });

    it('lists the workers in GET /api/v1/system: alive, stopping or silent, and how many messages each holds', async () => {
      const now = Date.now();
      const [a, b] = await sendOk(t, { ...incidentExample(), to: ['w1@example.com', 'w2@example.com'] });
      await register('busy-worker', now, { host: 'mail-1.example', pid: 101 });
      await register('quiet-worker', now - 60_000, { host: 'mail-2.example', pid: 202 });
      await register('draining-worker', now, { host: 'mail-3.example', pid: 303 });
      await t.services.db.updateTable('workers').set({ stopping: 1 }).where('id', '=', 'draining-worker').execute();
      expect((await leaseAt('busy-worker', 2, now)).sort()).toEqual([a, b].sort());

      const res = await t.inject({ method: 'GET', url: '/api/v1/system' });
      expect(res.statusCode).toBe(200);
      const byId = Object.fromEntries((res.json().workers as Array<{ id: string }>).map((w) => [w.id, w])) as Record<
        string,
        Record<string, unknown>
      >;
      // WORKER_DEAD_AFTER_SECONDS is 1 here: a minute without a heartbeat is silent.
      expect(byId['busy-worker']).toMatchObject({
        state: 'alive',
        leased: 2,
        host: 'mail-1.example',
        pid: 101,
        kind: 'delivery',
      });
      expect(byId['quiet-worker']).toMatchObject({ state: 'silent', leased: 0 });
      expect(byId['draining-worker']).toMatchObject({ state: 'stopping', leased: 0 });
      expect(byId['busy-worker']!.heartbeat_at).toBe(new Date(now).toISOString());
      // The search index of the database (SQLite: every message of this file waits for it, as no search or job ran).
      const messages = await t.services.db
        .selectFrom('email_messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(res.json().search_index).toEqual(
        backend === 'postgres'
          ? { kind: 'postgres_trgm', pending: 0 }
          : { kind: 'sqlite_fts5', pending: Number(messages.n) },
      );
      expect(Number(messages.n)).toBeGreaterThanOrEqual(2);
    });

    it('takes over the leases of an owner with no row once they are older than the dead-after delay, not before', async () => {
      const now = Date.now();
      const [old, fresh] = await sendOk(t, { ...incidentExample(), to: ['old@example.com', 'fresh@example.com'] });
      expect(await leaseAt('unregistered-a', 1, now - 60_000)).toEqual([old]);
      expect(await leaseAt('unregistered-b', 1, now - 1000)).toEqual([fresh]);
      expect(await store.recoverAbandoned(now, { deadBefore: now - 15_000 })).toEqual({ requeued: 1, failed: 0 });
      expect(await statuses([old!, fresh!])).toEqual({ [old!]: 'queued', [fresh!]: 'sending' });
    });

    it('fails a message of a dead worker that has used every attempt, so a message that kills workers cannot loop', async () => {
      const now = Date.now();
      const [id] = await sendOk(t, incidentExample());
      await t.services.db
        .updateTable('email_messages')
        .set({ attempts: 3, max_attempts: 3 })
        .where('id', '=', id!)
        .execute();
      expect(await leaseAt('killed-worker', 1, now - 60_000)).toEqual([id]);
      expect(await store.recoverAbandoned(now, { deadBefore: now - 15_000 })).toEqual({ requeued: 0, failed: 1 });
      expect(await statuses([id!])).toEqual({ [id!]: 'failed' });
    });

    it('finds the workers of this host whose process is gone or whose pid now names another process', async () => {
      const now = Date.now();
      const me = processIdentity();
      await register('exited', now, { host: hostname(), pid: exitedPid() });
      await register('reused-pid', now, {
        host: hostname(),
        pid: process.pid,
        process_start: `${me!.split(':')[0]}:1`,
      });
      await register('alive', now, { host: hostname(), pid: process.pid, process_start: me });
      await register('other-host', now, { host: 'elsewhere.example', pid: exitedPid() });
      expect((await goneLocalWorkers(t.services.db)).sort()).toEqual(['exited', 'reused-pid']);
    });

    it('a worker starting takes back at once the leases of a dead worker of its host, and delivers them', async () => {
      const now = Date.now();
      const [id] = await sendOk(t, incidentExample());
      // The previous run of this service, killed: its row is fresh, its lease has two hours to go.
      await register('killed-run', now, { host: hostname(), pid: exitedPid() });
      expect(await leaseAt('killed-run', 1, now)).toEqual([id]);
      worker = startWorker(t.services, smtpTarget(t.services, null));
      await waitForStatus(t, [id!], ['sent'], 5000);
      expect(await eventTypes(t, id!)).toEqual(['queued', 'sending', 'lease_expired', 'sending', 'attempt', 'sent']);
      // Its row is forgotten once its leases are back.
      const rows = await t.services.db.selectFrom('workers').select('id').execute();
      expect(rows.map((r) => r.id)).toEqual([worker.owner]);
    });

    it('a running worker takes over the leases of a worker that stopped beating, within the dead-after delay', async () => {
      const [id] = await sendOk(t, incidentExample());
      // Another host's worker: its process cannot be looked at, only its heartbeats.
      await register('far-worker', Date.now(), { host: 'far.example' });
      const beat = () =>
        t.services.db.updateTable('workers').set({ heartbeat_at: Date.now() }).where('id', '=', 'far-worker').execute();
      const beating = setInterval(() => void beat(), 200);
      expect(await leaseAt('far-worker', 1, Date.now())).toEqual([id]);
      worker = startWorker(t.services, smtpTarget(t.services, null));
      // Alive and beating: its lease is left alone.
      await new Promise((r) => setTimeout(r, 2000));
      clearInterval(beating);
      expect(await statuses([id!])).toEqual({ [id!]: 'sending' });
      // It dies (no more beats): within WORKER_DEAD_AFTER_SECONDS and a recovery round, its message goes out.
      const died = Date.now();
      await waitForStatus(t, [id!], ['sent'], 10_000);
      expect(Date.now() - died).toBeLessThan(10_000);
    });

    it('a worker has a row while it runs, beats it, and removes it once stopped', async () => {
      worker = startWorker(t.services, smtpTarget(t.services, null));
      const owner = worker.owner;
      await waitUntil(
        async () =>
          (await t.services.db.selectFrom('workers').select('id').where('id', '=', owner).execute()).length === 1,
        5000,
        'the worker row',
      );
      const row = await t.services.db
        .selectFrom('workers')
        .selectAll()
        .where('id', '=', owner)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        host: hostname(),
        pid: process.pid,
        process_start: processIdentity(),
        kind: 'delivery',
      });
      const before = Number(row.heartbeat_at);
      await waitUntil(
        async () =>
          Number(
            (
              await t.services.db
                .selectFrom('workers')
                .select('heartbeat_at')
                .where('id', '=', owner)
                .executeTakeFirst()
            )?.heartbeat_at,
          ) > before,
        5000,
        'a heartbeat',
      );
      await worker.stop();
      worker = null;
      expect(await t.services.db.selectFrom('workers').select('id').where('id', '=', owner).execute()).toEqual([]);
    });
  });
});
