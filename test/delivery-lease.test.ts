import { type Compilable, CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryStore, leaseStatement } from '../src/delivery/store.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';

describe.each(backends)('lease renewal on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  it('renews only the messages the worker still holds, so one it let go expires and is sent again', async () => {
    const ids = await sendOk(t, { ...incidentExample(), to: ['held@example.com', 'dropped@example.com'] });
    const store = new DeliveryStore(t.services.db, t.services.database.dialect, t.services.commits, t.services.events);
    const now = Date.now();
    const leased = await store.lease('worker-a', 10, now, 5000);
    expect(leased.map((m) => m.id).sort()).toEqual([...ids].sort());
    const [held, dropped] = ids as [string, string];

    // The worker still holds `held`; it gave up on `dropped` (its result could not be recorded).
    await store.renew('worker-a', [held], now + 4000, 5000);
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'lease_expires_at'])
      .where('id', 'in', ids)
      .execute();
    const expiry = new Map(rows.map((r) => [r.id, Number(r.lease_expires_at)]));
    expect(expiry.get(held)).toBe(now + 9000);
    expect(expiry.get(dropped)).toBe(now + 5000);

    // Once its lease has run out, recovery makes `dropped` due again; `held` stays with its worker.
    const recovered = await store.recoverAbandoned(now + 6000);
    expect(recovered.requeued).toBe(1);
    const after = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'status'])
      .where('id', 'in', ids)
      .execute();
    expect(Object.fromEntries(after.map((r) => [r.id, r.status]))).toEqual({ [held]: 'sending', [dropped]: 'queued' });
  });

  it('leases no more messages than asked, however many are due', async () => {
    const ids = await sendOk(t, {
      ...incidentExample(),
      to: ['one@example.com', 'two@example.com', 'three@example.com'],
    });
    const store = new DeliveryStore(t.services.db, t.services.database.dialect, t.services.commits, t.services.events);
    const now = Date.now();
    const first = await store.lease('worker-b', 1, now, 5000);
    expect(first).toHaveLength(1);
    const rest = await store.lease('worker-c', 10, now, 5000);
    expect([...first, ...rest].map((m) => m.id).sort()).toEqual([...ids].sort());
    await store.release('worker-b', 'all', now);
    await store.release('worker-c', 'all', now);
  });

  it.runIf(backend === 'sqlite')('leases by primary key, not by walking every queued message', async () => {
    const compiled = leaseStatement(t.services.db, 'sqlite', 'w', 50, Date.now(), 5000).compile();
    const rows = await t.services.db.executeQuery<{ detail: string }>({
      ...compiled,
      sql: `explain query plan ${compiled.sql}`,
    });
    const details = rows.rows.map((r) => r.detail);
    // The update itself seeks the leased ids; only the inner due-ordered select uses the due index.
    expect(details[0]).toMatch(/USING (INDEX sqlite_autoindex_email_messages_1|PRIMARY KEY) \(id=\?\)/);
    expect(details.join('\n')).toMatch(/email_messages_due/);
    expect(details.join('\n')).not.toMatch(/email_messages_lease/);
  });

  it.runIf(backend === 'sqlite')(
    'lease recovery and SES lookups use partial indexes, which accepted messages do not enter',
    async () => {
      const db = t.services.db;
      const plan = async (q: Compilable) => {
        const { sql: text, parameters } = q.compile();
        const rows = await db.executeQuery<{ detail: string }>(
          CompiledQuery.raw(`explain query plan ${text}`, [...parameters]),
        );
        return rows.rows.map((r) => r.detail).join('\n');
      };
      expect(
        await plan(
          db
            .updateTable('email_messages')
            .set({ status: 'queued' })
            .where('status', '=', 'sending')
            .where('lease_expires_at', '<', Date.now()),
        ),
      ).toMatch(/email_messages_lease/);
      expect(
        await plan(db.selectFrom('email_messages').select('id').where('provider_message_id', '=', 'ses-1')),
      ).toMatch(/email_messages_provider_id/);
      const definitions = await db.executeQuery<{ name: string; sql: string }>(
        CompiledQuery.raw(
          "select name, sql from sqlite_master where name in ('email_messages_lease', 'email_messages_provider_id', 'email_messages_smtp_id')",
        ),
      );
      expect(Object.fromEntries(definitions.rows.map((r) => [r.name, r.sql]))).toEqual({
        email_messages_lease: expect.stringMatching(/where "lease_expires_at" is not null$/i),
        email_messages_provider_id: expect.stringMatching(/where "provider_message_id" is not null$/i),
      });
    },
  );
});
