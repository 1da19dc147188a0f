import type { MessageRow } from '../../src/platform/db/schema.js';
import type { TestContext } from './context.js';

export async function messageRow(t: TestContext, id: string): Promise<MessageRow> {
  return t.services.db.selectFrom('email_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export async function eventTypes(t: TestContext, id: string): Promise<string[]> {
  const rows = await t.services.db
    .selectFrom('email_events')
    .select('type')
    .where('message_id', '=', id)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.type);
}

/** The parsed data of a message's events of one type, oldest first. */
export async function eventData<T = Record<string, unknown>>(t: TestContext, id: string, type: string): Promise<T[]> {
  const rows = await t.services.db
    .selectFrom('email_events')
    .select('data')
    .where('message_id', '=', id)
    .where('type', '=', type)
    .orderBy('id')
    .execute();
  return rows.map((r) => JSON.parse(r.data!) as T);
}

export function attemptEvents(
  t: TestContext,
  id: string,
): Promise<
  Array<{ attempt: number; code: number | null; response: string; duration_ms: number; error_code?: string }>
> {
  return eventData(t, id, 'attempt');
}

/** Polls the database until every message has one of the statuses (the worker runs on its own). */
export async function waitForStatus(
  t: TestContext,
  ids: string[],
  statuses: string[],
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'status'])
      .where('id', 'in', ids)
      .execute();
    const pending = rows.filter((r) => !statuses.includes(r.status));
    if (pending.length === 0 && rows.length === ids.length) return;
    if (Date.now() > deadline)
      throw new Error(
        `Timed out waiting for ${statuses.join('|')}: ${pending.length} of ${ids.length} still ${[...new Set(pending.map((p) => p.status))].join(',')}`,
      );
    await new Promise((r) => setTimeout(r, 30));
  }
}

export async function sendOk(t: TestContext, payload: object): Promise<string[]> {
  const res = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload });
  if (res.statusCode !== 201) throw new Error(`send failed: ${res.statusCode} ${res.body}`);
  return (res.json().items as Array<{ id: string }>).map((i) => i.id);
}

/** Polls `check` every 30 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}
