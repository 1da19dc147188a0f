import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompletionBatcher } from '../src/delivery/completion-batcher.js';
import type { Completion } from '../src/delivery/process-message.js';
import { DeliveryStore } from '../src/delivery/store.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';

/**
 * The results of sends finishing together are recorded in one statement. A result the database
 * refuses (a value it cannot store: the NUL of a relay's reply did it on PostgreSQL) failed the
 * whole statement: every message of the batch stayed `sending` and went out again when its
 * lease expired, although the relay had taken it. The others must be recorded all the same.
 */
describe.each(backends)('a batch of delivery results on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  it('records every result but the one the database refuses', async () => {
    await sendOk(t, { ...incidentExample(), to: ['a@example.com', 'b@example.com', 'c@example.com'] });
    const store = new DeliveryStore(t.services.db, t.services.database.dialect, t.services.commits, t.services.events);
    const now = Date.now();
    const leased = await store.lease('worker-a', 10, now, 60_000);
    expect(leased).toHaveLength(3);
    const sent = (at: number): Completion => ({
      status: 'sent',
      at,
      attempt: { attempt: 1, code: 250, response: '250 2.0.0 Ok', duration_ms: 5 },
      counted: true,
      smtpResponse: '250 2.0.0 Ok',
      providerMessageId: null,
      sentAt: at,
      nextAttemptAt: null,
      errorMessage: null,
      recipientStatus: null,
      relayProblemSince: null,
      partial: null,
      relay: { state: 'ok' },
    });
    const batcher = new CompletionBatcher(store, 100, 50);
    // A time no column can hold: refused by either database, as a bug's value would be.
    const results = await Promise.allSettled(
      leased.map((m, i) => batcher.complete(m, 'worker-a', sent(i === 1 ? Number.NaN : now + 1))),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    for (const i of [0, 2]) {
      expect(await messageRow(t, leased[i]!.id)).toMatchObject({ status: 'sent', lease_owner: null });
      expect(await eventTypes(t, leased[i]!.id)).toEqual(['queued', 'sending', 'attempt', 'sent']);
    }
    expect(await messageRow(t, leased[1]!.id)).toMatchObject({ status: 'sending', lease_owner: 'worker-a' });
  });
});
