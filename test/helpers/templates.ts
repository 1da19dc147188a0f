import type { TestContext } from './context.js';

/** A minimal valid template body for POST /api/v1/email/templates. */
export const newTemplate = (key: string, extra: Record<string, unknown> = {}) => ({
  key,
  name: `Template ${key}`,
  category: 'support',
  layout: null,
  required_variables: ['name'],
  subject: 'Hello {{ name }}',
  html_content: '<p>Hello {{ name }}, version one.</p>',
  text_content: 'Hello {{ name }}, version one.',
  ...extra,
});

export async function adminKey(t: TestContext, name: string): Promise<{ token: string; id: string }> {
  const { token, key } = await t.services.apiKeys.create(name, 'admin', 'test');
  return { token, id: key.id };
}

export async function sendKey(t: TestContext, name: string): Promise<string> {
  return (await t.services.apiKeys.create(name, 'send', 'test')).token;
}

export const getMessage = async (t: TestContext, id: string) =>
  (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();

export const countMessages = async (t: TestContext): Promise<number> =>
  Number(
    (
      await t.services.db
        .selectFrom('email_messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
