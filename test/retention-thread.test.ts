import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../src/app/serve.js';
import { age } from './helpers/archive.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

/**
 * Where the retention jobs run in `postier serve`: on the delivery thread when the process has
 * one (a purge's synchronous SQLite reads then never hold up the API's event loop), in the
 * process's own loop otherwise.
 */
describe('retention in postier serve', () => {
  let t: TestContext;
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext('sqlite', sink.env({ PORT: '0', WORKER_POLL_MS: '50' }));
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await sink?.close();
  });

  const purgeOld = async (running: Running) => {
    const ids = await sendOk(t, { ...incidentExample(), to: ['old1@example.com', 'old2@example.com'] });
    const [young] = await sendOk(t, { ...incidentExample(), to: 'young@example.com' });
    await waitForStatus(t, [...ids, young!], ['sent'], 30_000);
    await age(t, ids, 400);
    const ran = await running.retention!.runOnce();
    expect(ran['retention.purge']).toMatchObject({ messages: 2 });
    const left = await t.services.db
      .selectFrom('email_messages')
      .select('id')
      .where('id', 'in', [...ids, young!])
      .execute();
    expect(left.map((r) => r.id)).toEqual([young]);
    await t.services.db.deleteFrom('email_events').execute();
    await t.services.db.deleteFrom('email_messages').execute();
  };

  it('runs on the delivery thread of a process that serves the API', async () => {
    const running = await serve(t.services, { api: true, worker: true, thread: true });
    try {
      expect(running.retention).not.toBeNull();
      await purgeOld(running);
    } finally {
      await running.stop();
    }
    // Stopped with the thread: nothing runs any more.
    await expect(running.retention!.runOnce()).rejects.toThrow(/not running/);
  }, 60_000);

  it('runs in the loop of a process without a delivery thread', async () => {
    const running = await serve(t.services, { api: false, worker: true });
    try {
      await purgeOld(running);
    } finally {
      await running.stop();
    }
  }, 60_000);

  it('does not run where RETENTION_ENABLED is false (left to the workers)', async () => {
    const services = { ...t.services, config: { ...t.config, email: { ...t.config.email, retentionEnabled: false } } };
    const running = await serve(services, { api: false, worker: true });
    try {
      expect(running.retention).toBeNull();
    } finally {
      await running.stop();
    }
  }, 60_000);
});
