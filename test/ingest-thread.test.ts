import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpoolIngester } from '../src/accept/submission/index.js';
import { IngestThread } from '../src/app/ingest-thread.js';
import { createLogger } from '../src/platform/log.js';
import { databaseUrlOf } from './helpers/child-env.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { until } from './helpers/delivery.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { mime, sendKey, startSubmissionFor } from './helpers/submission.js';

/**
 * The submission spool's ingester on a thread of its own (app/ingest-thread.ts), as `postier serve`
 * runs it: what the listener spooled is stored from the thread, the listener's side hears of the
 * messages it queued, and a thread that dies leaves nothing stuck.
 */
describe.each(backends)('the submission ingester thread on %s', (backend) => {
  let t: TestContext;
  let listener: Awaited<ReturnType<typeof startSubmissionFor>>;
  let token: string;
  const log = createLogger('silent');

  beforeAll(async () => {
    t = await createTestContext(backend, { SUBMISSION_PORT: '0' });
    listener = await startSubmissionFor(t);
    // Only the threads of these tests store: the listener's own in-loop ingester is stopped.
    await listener.ingester.stop();
    ({ token } = await sendKey(t));
  });
  afterAll(async () => {
    await listener?.close();
    await t?.close();
  });

  // The thread opens the database from its configuration alone (a PostgreSQL schema rides in the URL).
  const start = (owner: string, on = { queued() {} }) =>
    IngestThread.start({ config: { ...t.config, databaseUrl: databaseUrlOf(t) }, owner, poolSize: 2 }, log, on);
  const submit = async (to: string) => {
    const talk = await SmtpTalk.connect(listener.port);
    await talk.command('EHLO erp.rgz.bj');
    expect(await talk.login(token)).toMatch(/^235/);
    const reply = await talk.send('billing@rgz.bj', [to], mime({ To: to }));
    talk.close();
    expect(reply).toMatch(/^250 /);
    return /\(\d+ messages?: ([^)]*)\)/.exec(reply)![1]!;
  };
  const spooled = async () => (await t.services.db.selectFrom('submission_spool').select('id').execute()).length;
  const statusOf = async (id: string) =>
    (await t.services.db.selectFrom('email_messages').select('status').where('id', '=', id).executeTakeFirst())?.status;

  it('stores what the listener spooled, says it queued messages, and counts them in its own metrics', async () => {
    const id = await submit('thread@example.org');
    expect(await spooled()).toBe(1);
    expect(await statusOf(id)).toBeUndefined();
    let rung = 0;
    const thread = await start('test:ingest-thread:1', { queued: () => rung++ });
    try {
      await until('the spooled message stored', async () => (await statusOf(id)) === 'queued');
      expect(await spooled()).toBe(0);
      // The serving side rings its delivery worker on it.
      await until('the ring', () => rung > 0, 5000);
      // Its counters are the thread's (the serving thread merges them into GET /metrics).
      const metrics = await thread.metrics();
      const archived = metrics.find((m) => m.name === 'postier_submission_archived_total');
      expect(archived?.values.find((v) => v.labels.result === 'stored')?.value).toBe(1);
    } finally {
      await thread.stop();
    }
  }, 60_000);

  it('takes back at once the rows of a dead thread of its owner, and is started again when it dies', async () => {
    const owner = 'test:ingest-thread:2';
    // A thread of this owner died while it held this row: its lease would keep it for 10 minutes.
    const first = await submit('leased@example.org');
    await t.services.db
      .updateTable('submission_spool')
      .set({ lease_owner: owner, lease_expires_at: Date.now() + 600_000, attempts: 1 })
      .execute();
    const thread = await start(owner);
    try {
      await until('the leased row stored', async () => (await statusOf(first)) === 'queued');
      // Played crash: the thread ends; the next one (a second later) stores what comes next.
      const dead = (thread as unknown as { thread: { threadId: number; terminate(): Promise<number> } }).thread;
      await dead.terminate();
      const second = await submit('after-crash@example.org');
      await until('the message spooled after the crash stored', async () => (await statusOf(second)) === 'queued');
      expect(await spooled()).toBe(0);
    } finally {
      await thread.stop();
    }
  }, 60_000);

  // Whatever the database: run once.
  it.runIf(backend === 'sqlite')(
    'started without waiting, is tried again while it cannot start, and stops at once',
    async () => {
      const lines: string[] = [];
      const failing = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
      // A database it cannot open: every start fails.
      const dir = path.join(t.dir, 'missing', 'nested');
      const thread = IngestThread.launch(
        {
          config: { ...t.config, databaseUrl: `sqlite:${dir}/postier.db` },
          owner: 'test:ingest-thread:4',
          poolSize: 2,
        },
        failing,
        { queued() {} },
      );
      // Spooled meanwhile: the ring waits in its port, nothing throws.
      thread.notify();
      await until('a second start tried', () => lines.filter((l) => l.includes('could not start')).length >= 2, 15_000);
      const t0 = Date.now();
      await thread.stop();
      expect(Date.now() - t0).toBeLessThan(3000);
      const tries = lines.filter((l) => l.includes('could not start')).length;
      await new Promise((r) => setTimeout(r, 1500));
      // Stopped: no start after that.
      expect(lines.filter((l) => l.includes('could not start')).length).toBe(tries);
    },
    30_000,
  );

  it("takes back its owner's leases only: another ingester's stay until they end", async () => {
    await submit('mine@example.org');
    await submit('theirs@example.org');
    const rows = await t.services.db.selectFrom('submission_spool').select('id').orderBy('id').execute();
    const until10min = Date.now() + 600_000;
    for (const [i, owner] of ['test:ingest-thread:3', 'someone-else'].entries())
      await t.services.db
        .updateTable('submission_spool')
        .set({ lease_owner: owner, lease_expires_at: until10min, attempts: 1 })
        .where('id', '=', rows[i]!.id)
        .execute();
    const ingester = new SpoolIngester(
      { db: t.services.db, dialect: t.services.dialect, send: t.services.send, config: t.services.config, log },
      { owner: 'test:ingest-thread:3' },
    );
    expect(await ingester.reclaim()).toBe(1);
    const after = await t.services.db
      .selectFrom('submission_spool')
      .select(['id', 'lease_owner', 'lease_expires_at', 'attempts'])
      .orderBy('id')
      .execute();
    // Attempts stay counted: a message that kills its ingester each time becomes a suspect.
    expect(after.map((r) => [r.lease_owner, r.lease_expires_at === null, Number(r.attempts)])).toEqual([
      [null, true, 1],
      ['someone-else', false, 1],
    ]);
    await t.services.db.deleteFrom('submission_spool').execute();
  });
});
