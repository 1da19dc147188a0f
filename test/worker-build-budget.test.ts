import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteBudget } from '../src/delivery/byte-budget.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import { registry } from '../src/platform/metrics.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { invoiceExample, pdfBytes } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

describe('ByteBudget', () => {
  it('takes bytes while they fit, anything when nothing is held, 0 always', () => {
    const budget = new ByteBudget(100);
    expect(budget.take(60)).toBe(true);
    expect(budget.take(60)).toBe(false); // 120 > 100
    expect(budget.take(0)).toBe(true);
    expect(budget.take(40)).toBe(true); // exactly full
    expect(budget.held).toBe(100);
    expect(budget.take(1)).toBe(false);
    budget.release(60);
    budget.release(40);
    // Larger than the whole budget: only when nothing else is held, then alone.
    expect(budget.take(500)).toBe(true);
    expect(budget.take(1)).toBe(false);
    budget.release(500);
    expect(budget.held).toBe(0);
  });
});

describe.each(backends)('WORKER_MAX_BUILD_MB on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  // Messages whose DATA has arrived and whose reply is still held back: sent at the same time.
  let open = 0;
  let most = 0;

  beforeAll(async () => {
    sink = await SmtpSink.start();
    sink.on('message', () => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => open--, 150);
      return { delayMs: 150 };
    });
    t = await createTestContext(backend, sink.env({ WORKER_MAX_BUILD_MB: '1', WORKER_POLL_MS: '20' }));
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });

  // 4 recipients of a 600 kB attachment: 1.4 MB estimated each (read, then in base64).
  const sendBig = () =>
    sendOk(t, {
      ...invoiceExample(),
      to: ['b1@example.com', 'b2@example.com', 'b3@example.com', 'b4@example.com'],
      attachments: [
        {
          filename: 'scan.pdf',
          content_type: 'application/pdf',
          data_base64: Buffer.concat([pdfBytes(), randomBytes(600_000)]).toString('base64'),
        },
      ],
    });

  it('builds and sends big messages one at a time under a budget smaller than two, and all of them', async () => {
    const worker = startWorker(t.services, smtpTarget(t.services, null));
    try {
      most = 0;
      const ids = await sendBig();
      await waitForStatus(t, ids, ['sent'], 20_000);
      expect(most).toBe(1);
      for (const id of ids) expect(sink.sizeOf(`<${id}@rgz.bj>`)).toBeGreaterThan(800_000);
      // Nothing held once they are sent.
      expect(await registry.getSingleMetricAsString('postier_worker_build_bytes')).toMatch(
        /postier_worker_build_bytes 0$/m,
      );
    } finally {
      await worker.stop();
    }
  });

  it('on stop, releases at once the messages still waiting for room; the next worker sends them', async () => {
    const slow = sink.on('message', () => {
      open++;
      setTimeout(() => open--, 1000);
      return { delayMs: 1000 };
    });
    const worker = startWorker(t.services, smtpTarget(t.services, null));
    let ids: string[] = [];
    try {
      ids = await sendBig();
      await sink.waitFor(() => open === 1, 10_000, 'the first big message at the sink');
      await worker.stop();
    } finally {
      slow();
      await worker.stop();
    }
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'status', 'lease_owner', 'attempts'])
      .where('id', 'in', ids)
      .execute();
    // One was sent (its send was in flight), three never started: queued, unleased, no attempt spent.
    expect(rows.filter((r) => r.status === 'sent')).toHaveLength(1);
    const waited = rows.filter((r) => r.status !== 'sent');
    expect(waited.map((r) => [r.status, r.lease_owner, r.attempts])).toEqual([
      ['queued', null, 0],
      ['queued', null, 0],
      ['queued', null, 0],
    ]);
    const next = startWorker(t.services, smtpTarget(t.services, null));
    try {
      await waitForStatus(t, ids, ['sent'], 20_000);
    } finally {
      await next.stop();
    }
  });

  it('lets small messages pass big ones waiting for room, which hold no concurrency slot', async () => {
    // Two slots: one big message sending, the other three waiting, and still a slot for each small one.
    const worker = startWorker(t.services, smtpTarget(t.services, null), { concurrency: 2 });
    const order: string[] = [];
    const stopRecording = sink.on('message', (ctx) => {
      order.push(ctx.session.recipients[0]!);
      return undefined;
    });
    try {
      const big = await sendBig();
      const small = await sendOk(t, { ...invoiceExample(), attachments: [], to: ['s1@example.com', 's2@example.com'] });
      await waitForStatus(t, [...big, ...small], ['sent'], 20_000);
      // Both small ones are sent before the last big one (with slots held by waiting big ones, after).
      expect(Math.max(order.indexOf('s1@example.com'), order.indexOf('s2@example.com'))).toBeLessThan(
        order.indexOf('b4@example.com'),
      );
    } finally {
      stopRecording();
      await worker.stop();
    }
  });

  it('sends them side by side (SMTP_POOL_SIZE 5) without the bound', async () => {
    const worker = startWorker(t.services, smtpTarget(t.services, null), { buildBudgetBytes: Infinity });
    try {
      most = 0;
      const ids = await sendBig();
      await waitForStatus(t, ids, ['sent'], 20_000);
      expect(most).toBeGreaterThan(1);
    } finally {
      await worker.stop();
    }
  });
});
