import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInboundListener, type InboundListener } from '../src/feedback/index.js';
import { ClientByteBudget } from '../src/feedback/intake/client-budget.js';
import { registry } from '../src/platform/metrics.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { dsn } from './helpers/reports.js';
import { SmtpTalk } from './helpers/smtp-talk.js';

const DOMAIN = 'bounces.rgz.bj';
const HOUR = 3_600_000;

describe('the inbound listener budget per client', () => {
  it('lets a client store its hourly bytes in a burst, then what drains away; this machine has no budget', () => {
    let now = 1_000_000;
    const budget = new ClientByteBudget(1000, { now: () => now });
    expect(budget.allows('192.0.2.7')).toBe(true);
    budget.spend('192.0.2.7', 600);
    expect(budget.allows('192.0.2.7')).toBe(true);
    budget.spend('192.0.2.7', 600); // one report may go past it: sizes are known at the end
    expect(budget.allows('192.0.2.7')).toBe(false);
    expect(budget.allows('192.0.2.8')).toBe(true); // another client
    // An IPv6 /64 is one client.
    budget.spend('2001:db8:1:2::1', 1000);
    expect(budget.allows('2001:db8:1:2::ffff')).toBe(false);
    expect(budget.allows('2001:db8:1:3::1')).toBe(true);
    // 1,200 owed, 1,000 an hour drain: allowed again once under 1,000.
    now += 0.1 * HOUR;
    expect(budget.allows('192.0.2.7')).toBe(false);
    now += 0.15 * HOUR;
    expect(budget.allows('192.0.2.7')).toBe(true);
    for (const local of ['127.0.0.1', '127.0.0.9', '::1', '::ffff:127.0.0.1']) {
      budget.spend(local, 10_000);
      expect(budget.allows(local)).toBe(true);
    }
    // No budget at all with 0.
    const none = new ClientByteBudget(0);
    none.spend('192.0.2.7', 1e12);
    expect(none.allows('192.0.2.7')).toBe(true);
  });

  it('remembers a bounded number of clients, forgetting the one that stored longest ago', () => {
    const budget = new ClientByteBudget(1000, { maxTracked: 2 });
    budget.spend('192.0.2.1', 5000);
    budget.spend('192.0.2.2', 5000);
    budget.spend('192.0.2.3', 5000);
    expect([budget.allows('192.0.2.1'), budget.allows('192.0.2.2'), budget.allows('192.0.2.3')]).toEqual([
      true,
      false,
      false,
    ]);
  });

  describe('over SMTP', () => {
    let t: TestContext;
    let listener: InboundListener;
    // 127.0.0.2 stands for a host on the network: only ::1 is exempt here.
    const host = '127.0.0.1';
    beforeAll(async () => {
      // 10 KiB an hour per client.
      t = await createTestContext('sqlite', { BOUNCE_DOMAIN: DOMAIN, INBOUND_CLIENT_MB_PER_HOUR: '0.009765625' });
      listener = await startInboundListener({
        db: t.services.db,
        config: t.config,
        log: t.services.log,
        port: 0,
        host,
        budgetExempt: (address) => address === '::1',
      });
    });
    afterAll(async () => {
      await listener?.close();
      await t?.close();
    });
    const refused = async () =>
      (await registry.getSingleMetric('postier_feedback_inbound_refused_total')!.get()).values.find(
        (v) => v.labels.reason === 'client_budget',
      )?.value ?? 0;
    const report = (n: number) =>
      `${dsn({ to: `postmaster@${DOMAIN}`, recipient: `user${n}@example.org`, messageId: `<m${n}@rgz.bj>` })}${'x'.repeat(6000)}\r\n`;

    it('refuses a client over its budget at MAIL FROM with a temporary 452 4.7.1, and stores nothing more from it', async () => {
      const before = await refused();
      const talk = await SmtpTalk.connect(listener.port, { host, localAddress: '127.0.0.2' });
      expect(await talk.command('EHLO mx.example.net')).toMatch(/^250/);
      expect(await talk.send('', [`postmaster@${DOMAIN}`], report(1))).toMatch(/^250 2\.6\.0/);
      expect(await talk.send('', [`postmaster@${DOMAIN}`], report(2))).toMatch(/^250 2\.6\.0/);
      // About 14 KiB stored, over 10: the next report waits (a relay keeps it and tries later).
      expect(await talk.send('', [`postmaster@${DOMAIN}`], report(3))).toMatch(/^452 4\.7\.1 /);
      talk.close();
      expect(await refused()).toBe(before + 1);
      const rows = await t.services.db.selectFrom('feedback_reports').select('id').execute();
      expect(rows).toHaveLength(2);
    });
  });
});
