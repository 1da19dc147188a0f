import { withBodies } from '../src/content/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/accept/group-commit.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { newTemplate } from './helpers/templates.js';

describe('GroupCommit', () => {
  it('runs what is submitted in one turn as one group, and what arrives while groups are busy as the next', async () => {
    const groups: number[][] = [];
    const gates: Array<() => void> = [];
    const g = new GroupCommit<number, string>(
      async (units) => {
        groups.push(units);
        await new Promise<void>((r) => gates.push(r));
        return units.map((u) => `done ${u}`);
      },
      { maxInFlight: 1, maxUnits: 100 },
    );
    const first = [g.submit([1]), g.submit([2, 3])];
    await new Promise((r) => setImmediate(r));
    expect(groups).toEqual([[1, 2, 3]]);
    // Busy: these wait, over several turns, and then go together.
    const later = [g.submit([4])];
    await new Promise((r) => setImmediate(r));
    later.push(g.submit([5]));
    await new Promise((r) => setImmediate(r));
    expect(groups).toHaveLength(1);
    gates.shift()!();
    expect(await Promise.all(first)).toEqual([['done 1'], ['done 2', 'done 3']]);
    await new Promise((r) => setImmediate(r));
    expect(groups).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    gates.shift()!();
    expect(await Promise.all(later)).toEqual([['done 4'], ['done 5']]);
  });

  it('keeps a submission whole and starts a new group past maxUnits', async () => {
    const groups: number[][] = [];
    const g = new GroupCommit<number, number>(
      async (units) => {
        groups.push(units);
        return units;
      },
      { maxInFlight: 4, maxUnits: 3 },
    );
    await Promise.all([g.submit([1, 2]), g.submit([3, 4]), g.submit([5])]);
    expect(groups).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
  });

  it('rejects every submission of a group whose run failed, and goes on with the next', async () => {
    let n = 0;
    const g = new GroupCommit<number, number>(
      async (units) => {
        if (n++ === 0) throw new Error('storage down');
        return units;
      },
      { maxInFlight: 1, maxUnits: 10 },
    );
    const failed = await Promise.allSettled([g.submit([1]), g.submit([2])]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    expect(await g.submit([3])).toEqual([3]);
  });
});

describe.each(backends)('sends sharing a commit on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
    // A unit that fails inside the shared transaction, after the others' statements.
    t.services.send.addPolicy({
      async admit(_trx, recipient) {
        if (recipient.startsWith('boom')) throw new Error('policy failure for this recipient');
        return { status: 'queued' };
      },
    });
  });
  afterAll(() => t.close());

  it('a send that fails in the shared commit fails alone: the others are stored and answered 201', async () => {
    const tos = Array.from({ length: 12 }, (_, i) => (i === 5 ? `boom${i}@techconnect.bj` : `ok${i}@techconnect.bj`));
    const replies = await Promise.all(
      tos.map((to) =>
        t.inject({
          method: 'POST',
          url: '/api/v1/email/send',
          payload: { to, subject: `Hello ${to}`, text: 'x' },
        }),
      ),
    );
    expect(replies.map((r) => r.statusCode)).toEqual(tos.map((to) => (to.startsWith('boom') ? 500 : 201)));
    const ids = replies.filter((r) => r.statusCode === 201).map((r) => r.json().items[0].id as string);
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'recipient_email'])
      .where('recipient_email', 'in', tos)
      .execute();
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    const events = await t.services.db
      .selectFrom('email_events')
      .select('message_id')
      .where('message_id', 'in', ids)
      .execute();
    expect(events).toHaveLength(ids.length);
  });

  it('a template edited between rendering and commit is rendered again: concurrent sends never store the old version', async () => {
    await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('g_edit', { html_content: '<p>one {{ name }}</p>', text_content: 'one {{ name }}' }),
    });
    const send = (n: number) =>
      t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { to: `g${n}@techconnect.bj`, template_key: 'g_edit', variables: { name: String(n) } },
      });
    expect((await send(0)).statusCode).toBe(201);
    const edited = t.inject({
      method: 'PUT',
      url: '/api/v1/email/templates/g_edit',
      payload: { text_content: 'two {{ name }}' },
    });
    const during = await Promise.all([1, 2, 3, 4].map(send));
    expect((await edited).statusCode).toBe(200);
    const after = await Promise.all([5, 6, 7].map(send));
    // With their bodies, wherever they are stored (content/bodies.ts).
    const rows = await withBodies(
      t.services.db,
      await t.services.db
        .selectFrom('email_messages')
        .select(['id', 'template_version', 'html_content', 'text_content', 'body_id', 'created_at'])
        .where('template_key', '=', 'g_edit')
        .execute(),
    );
    // Every message holds what its recorded version says, and those accepted after the edit hold the edit.
    for (const r of rows) expect(r.text_content!.startsWith(r.template_version === 1 ? 'one' : 'two')).toBe(true);
    const afterIds = new Set(after.map((r) => r.json().items[0].id));
    for (const r of rows.filter((x) => afterIds.has(x.id))) expect(r.template_version).toBe(2);
    expect(during.every((r) => r.statusCode === 201)).toBe(true);
  });
});
