import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryThread } from '../src/app/delivery-thread.js';
import { createLogger } from '../src/platform/log.js';
import { createTestContext, type TestContext } from './helpers/context.js';

/** The serving side's handle on the delivery thread: crashes, restarts, stopping. */
describe('delivery thread host', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
  });
  afterAll(() => t.close());

  const threadOf = (d: DeliveryThread) =>
    (d as unknown as { thread: { terminate(): Promise<number>; threadId: number } }).thread;
  const start = () =>
    DeliveryThread.start(
      { config: t.config, target: [{ host: '127.0.0.1', port: 1, plain: true }], retention: false },
      createLogger('silent'),
    );

  it('starts the thread again after it dies, and stops it', async () => {
    const host = await start();
    const first = threadOf(host).threadId;
    await threadOf(host).terminate();
    const deadline = Date.now() + 15_000;
    // A new thread answers metrics once it is up (the dead one answers nothing: []).
    while (threadOf(host).threadId === first || (await host.metrics(500)).length === 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(threadOf(host).threadId).not.toBe(first);
    await host.stop();
  }, 30_000);

  it('stops at once when the thread died and its restart is still pending', async () => {
    const host = await start();
    await threadOf(host).terminate();
    const t0 = Date.now();
    await host.stop(); // before the fix this never returned: 'stop' went to a dead thread
    expect(Date.now() - t0).toBeLessThan(1000);
    // And the pending restart does not bring a thread back after the stop.
    const id = threadOf(host).threadId;
    await new Promise((r) => setTimeout(r, 1500));
    expect(threadOf(host).threadId).toBe(id);
  }, 30_000);
});
