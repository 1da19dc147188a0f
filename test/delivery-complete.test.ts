import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Completion } from '../src/delivery/decide.js';
import { DeliveryStore } from '../src/delivery/store.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';

const completion = (c: Partial<Completion> & Pick<Completion, 'status'>): Completion => ({
  at: Date.now(),
  attempt: { attempt: 1, code: 250, response: '250 ok', duration_ms: 3 },
  counted: true,
  smtpResponse: '250 ok',
  providerMessageId: null,
  sentAt: null,
  nextAttemptAt: null,
  errorMessage: null,
  recipientStatus: null,
  relayProblemSince: null,
  partial: null,
  relay: { state: 'ok' },
  ...c,
});

describe.each(backends)('completing a batch of attempts on %s', (backend) => {
  let t: TestContext;
  let store: DeliveryStore;
  beforeAll(async () => {
    t = await createTestContext(backend);
    store = new DeliveryStore(t.services.db, t.services.database.dialect, t.services.commits, t.services.events);
  });
  afterAll(() => t.close());

  it('writes each row by its own status, only where the lease is still held, and records every attempt', async () => {
    const ids = [
      ...(await sendOk(t, { ...incidentExample(), to: 'a@example.test' })),
      ...(await sendOk(t, { ...incidentExample(), to: 'b@example.test' })),
      ...(await sendOk(t, { ...incidentExample(), to: 'c@example.test' })),
      ...(await sendOk(t, { ...incidentExample(), to: 'd@example.test' })),
    ];
    const leased = await store.lease('w1', 10, Date.now(), 60_000);
    expect(leased.map((m) => m.id).sort()).toEqual([...ids].sort());
    const byId = new Map(leased.map((m) => [m.id, m]));
    // Another worker took the third one over meanwhile.
    await t.services.db.updateTable('email_messages').set({ lease_owner: 'w2' }).where('id', '=', ids[2]!).execute();
    const told: string[] = [];
    t.services.events.subscribe('test', (events) => {
      for (const e of events) if (ids.includes(e.messageId)) told.push(`${ids.indexOf(e.messageId)}:${e.type}`);
    });
    const sentAt = Date.now();
    const retryAt = sentAt + 60_000;
    const applied = await store.completeMany([
      {
        message: byId.get(ids[0]!)!,
        owner: 'w1',
        completion: completion({ status: 'sent', sentAt, providerMessageId: '<p\'1"@relay>' }),
      },
      {
        message: byId.get(ids[1]!)!,
        owner: 'w1',
        completion: completion({
          status: 'queued',
          counted: false,
          nextAttemptAt: retryAt,
          smtpResponse: '421 busy, try later',
          relayProblemSince: sentAt,
        }),
      },
      { message: byId.get(ids[2]!)!, owner: 'w1', completion: completion({ status: 'sent', sentAt }) },
      {
        message: byId.get(ids[3]!)!,
        owner: 'w1',
        completion: completion({ status: 'failed', errorMessage: 'refused {a,b} "quoted" \\ NULL' }),
      },
    ]);
    expect(applied).toEqual([true, true, false, true]);

    const [sent, retried, lost, failed] = await Promise.all(ids.map((id) => messageRow(t, id)));
    expect(sent).toMatchObject({ status: 'sent', lease_owner: null, sent_at: sentAt, error_message: null });
    expect(sent!.provider_message_id).toBe('<p\'1"@relay>');
    // A relay problem gives the attempt back; the row stays queued for later.
    expect(retried).toMatchObject({
      status: 'queued',
      next_attempt_at: retryAt,
      smtp_response: '421 busy, try later',
      relay_problem_since: sentAt,
      sent_at: null,
      lease_owner: null,
    });
    expect(retried!.attempts).toBe(byId.get(ids[1]!)!.attempts - 1);
    expect(lost).toMatchObject({ status: 'sending', lease_owner: 'w2', sent_at: null });
    expect(failed).toMatchObject({ status: 'failed', error_message: 'refused {a,b} "quoted" \\ NULL' });

    // Every attempt is on record, the status change only where it applied.
    expect(await eventTypes(t, ids[0]!)).toEqual(['queued', 'sending', 'attempt', 'sent']);
    expect(await eventTypes(t, ids[2]!)).toEqual(['queued', 'sending', 'attempt']);
    expect(await eventTypes(t, ids[3]!)).toEqual(['queued', 'sending', 'attempt', 'failed']);
    // Subscribers hear of exactly what was stored, and the stored events follow the batch's order.
    const stored = await t.services.db
      .selectFrom('email_events')
      .select(['message_id', 'type'])
      .where('message_id', 'in', ids)
      .where('type', 'not in', ['queued', 'sending'])
      .orderBy('id')
      .execute();
    const order = stored.map((e) => `${ids.indexOf(e.message_id)}:${e.type}`);
    expect(order).toEqual([
      '0:attempt',
      '0:sent',
      '1:attempt',
      '1:retry_scheduled',
      '2:attempt',
      '3:attempt',
      '3:failed',
    ]);
    expect(told).toEqual(order);
    // The lease's events, byte for byte as record() writes them (PostgreSQL writes them in the lease's own statement).
    const sendingData = await t.services.db
      .selectFrom('email_events')
      .select(['message_id', 'data', 'created_at'])
      .where('type', '=', 'sending')
      .where('message_id', 'in', ids)
      .execute();
    expect(sendingData).toHaveLength(4);
    for (const e of sendingData) {
      expect(e.data).toBe(JSON.stringify({ attempt: byId.get(e.message_id)!.attempts, worker: 'w1' }));
      expect(Number(e.created_at)).toBe(Number(byId.get(e.message_id)!.updated_at));
    }
  });
});
