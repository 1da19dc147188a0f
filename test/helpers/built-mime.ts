import { MimeCache } from '../../src/delivery/mime.js';
import type { TestContext } from './context.js';

/** The raw MIME the worker would send for stored messages: the same MimeCache it builds with. */
export async function builtMime(t: TestContext, ids: string[]): Promise<Buffer[]> {
  const cache = new MimeCache(t.services.db, MimeCache.senderOf(t.config), t.services.seal);
  const out: Buffer[] = [];
  for (const id of ids) {
    const row = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    out.push((await cache.get(row)).raw);
  }
  return out;
}
