import {
  SpoolIngester,
  SubmissionAcceptor,
  type SubmissionServer,
  SubmissionSpool,
  startSubmission,
} from '../../src/accept/submission/index.js';
import type { SubmissionTuning } from '../../src/accept/submission/server.js';
import type { TestContext } from './context.js';

const ingesters = new WeakMap<TestContext, Set<SpoolIngester>>();

/** Every message the context's listeners spooled so far is stored as messages (they are stored just after their 250). */
export async function ingested(t: TestContext): Promise<void> {
  for (const i of ingesters.get(t) ?? []) await i.settled();
}

/** The submission listener on a test context's accept service (its SUBMISSION_* settings: port 0 in the tests). */
export async function startSubmissionFor(
  t: TestContext,
  tuning: SubmissionTuning = {},
): Promise<SubmissionServer & { ingester: SpoolIngester; ingested(): Promise<void> }> {
  const s = t.services;
  const ingester = new SpoolIngester(
    { db: s.db, dialect: s.dialect, send: s.send, config: s.config, log: s.log },
    { owner: `test:${Math.random().toString(36).slice(2)}:spool` },
  );
  ingester.start();
  const mine = ingesters.get(t) ?? new Set<SpoolIngester>();
  ingesters.set(t, mine.add(ingester));
  const acceptor = new SubmissionAcceptor({
    send: s.send,
    spool: new SubmissionSpool(s, () => ingester.notify()),
    db: s.db,
    messageIdDomain: s.messageIdDomain,
  });
  const server = await startSubmission({ config: s.config, log: s.log, keys: s.apiKeys, acceptor }, tuning);
  return {
    ...server,
    ingester,
    /** Every message spooled so far is stored as messages. */
    ingested: () => ingester.settled(),
    async close() {
      await server.close();
      await ingester.stop();
      mine.delete(ingester);
    },
  };
}

/** A send key's token. */
export async function sendKey(t: TestContext, name = 'smtp client'): Promise<{ token: string; id: string }> {
  const { token, key } = await t.services.apiKeys.create(name, 'send', 'test');
  return { token, id: key.id };
}

/** A small message as an application builds it (CRLF, ASCII headers). */
export function mime(headers: Record<string, string>, body = 'Hello from the ERP.\r\n'): string {
  const all = {
    From: 'Odoo <billing@rgz.bj>',
    To: 'client@example.org',
    Subject: 'Invoice INV-2026-0001',
    'Message-ID': `<${Math.random().toString(36).slice(2)}@erp.rgz.bj>`,
    Date: 'Tue, 01 Dec 2026 10:00:00 +0000',
    'MIME-Version': '1.0',
    'Content-Type': 'text/plain; charset=utf-8',
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

export async function messageCount(t: TestContext): Promise<number> {
  await ingested(t);
  const r = await t.services.db
    .selectFrom('email_messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
