import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookEnqueuer } from '../src/webhooks/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';

const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/**
 * A webhook pass reads events and their messages to build payloads, then inserts the deliveries.
 * An erasure that committed between the two left the address in clear in a pending payload (the
 * erasure had hashed the deliveries that existed, not those inserted after it). Each round here
 * starts an erasure a few event-loop turns later than the last, while a pass is under way,
 * and nothing may name the address afterwards.
 */
describe.each(backends)('an erasure during a webhook pass on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
    const wh = await t.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      payload: { url: 'https://hooks.example.com/race', event_types: ['sent'] },
    });
    expect(wh.statusCode).toBe(201);
  });
  afterAll(() => t.close());

  it('leaves no payload naming the address, wherever the erasure falls in the pass', async () => {
    const enqueuer = new WebhookEnqueuer(t.services.db, t.services.database.dialect, {
      owner: 'race',
      gapWindowMs: 0,
    });
    await enqueuer.run();
    for (let k = 0; k < 40; k++) {
      const address = `race${k}-${backend}@example.com`;
      const [id] = await sendOk(t, { ...incidentExample(), to: address });
      await t.services.events.record(t.services.db, [{ messageId: id!, type: 'sent', at: Date.now(), data: {} }]);
      const pass = enqueuer.run();
      await ticks(k);
      const erased = t.inject({ method: 'POST', url: `/api/v1/email/recipients/${encodeURIComponent(address)}/erase` });
      await pass;
      expect((await erased).statusCode).toBe(200);
      await enqueuer.run();
      const payloads = await t.services.db
        .selectFrom('webhook_deliveries')
        .select('payload')
        .where('message_id', '=', id!)
        .execute();
      expect(payloads).toHaveLength(1);
      expect(payloads[0]!.payload, `round ${k}`).not.toContain(address);
    }
  });
});
