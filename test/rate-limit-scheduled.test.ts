import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

const DAY = 24 * 60 * 60 * 1000;

// A rate limit counts each message when it goes: a message scheduled for a later day uses that
// day's allowance, not today's, and two cannot be scheduled into one window.
describe.each(backends)('rate limits and scheduled sends on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_RATE_LIMIT_MARKETING: '1/day' });
  });
  afterAll(() => t.close());

  const send = async (to: string, sendAt?: number) => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        to,
        subject: 'Offer',
        text: 'Hello',
        class: 'marketing',
        ...(sendAt ? { send_at: new Date(sendAt).toISOString() } : {}),
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().items[0].status as string;
  };

  it('counts a scheduled message at its send time, in both directions', async () => {
    const to = `later-${backend}@example.com`;
    const in20 = Date.now() + 20 * DAY;
    expect(await send(to, in20)).toBe('scheduled');
    // Today's allowance is untouched by next month's message.
    expect(await send(to)).toBe('queued');
    expect(await send(to)).toBe('rate_limited');
    // Within a day of the scheduled one, before or after it: refused; two days later: admitted.
    expect(await send(to, in20 + 60 * 60 * 1000)).toBe('rate_limited');
    expect(await send(to, in20 - 60 * 60 * 1000)).toBe('rate_limited');
    expect(await send(to, in20 + 2 * DAY)).toBe('scheduled');
    // A message scheduled an hour from now shares today's window with the one sent now.
    expect(await send(`soon-${backend}@example.com`, Date.now() + 60 * 60 * 1000)).toBe('scheduled');
    expect(await send(`soon-${backend}@example.com`)).toBe('rate_limited');
  });
});
