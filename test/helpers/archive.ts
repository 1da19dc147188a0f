import type { TestContext } from './context.js';

export const DAY = 86_400_000;

/** Sends through the API and returns the created ids (asserting the 201). */
export async function sendOk(t: TestContext, payload: object): Promise<string[]> {
  const res = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload });
  if (res.statusCode !== 201) throw new Error(`send failed: ${res.statusCode} ${res.body}`);
  return (res.json().items as Array<{ id: string }>).map((i) => i.id);
}

/** Moves messages back in time, as if they had been accepted `days` ago. */
export async function age(
  t: TestContext,
  ids: string[],
  days: number,
  status: 'sent' | 'queued' = 'sent',
): Promise<void> {
  const at = Date.now() - days * DAY;
  await t.services.db.updateTable('email_messages').set({ created_at: at, status }).where('id', 'in', ids).execute();
}

export const detail = async (t: TestContext, id: string) =>
  (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
