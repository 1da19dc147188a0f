import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';

/** What a live inbox needs to know to reload: how many mails, and the newest one. */
export async function inboxState(db: Kysely<DB>): Promise<{ total: number; newest: string | null }> {
  const row = await db
    .selectFrom('captured_mail')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('id').as('newest')])
    .executeTakeFirstOrThrow();
  return { total: Number(row.n), newest: (row.newest as string | null) ?? null };
}

/**
 * The open server-sent event streams of the inbox. Each polls the inbox's state (a count and a
 * max on the primary key) and writes an `inbox` event when it changed: mail may be captured by
 * another process on this host, so the database, not an in-process signal, is what is watched.
 * Comments keep idle connections (and proxies) alive; close() ends every stream, so the server
 * can stop.
 */
export class InboxStreams {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly pollMs = 1000,
    private readonly keepAliveMs = 15_000,
  ) {}

  /**
   * `allowed` is asked at each poll whether the stream's caller may still read the inbox (its key
   * not revoked since it connected): a stream lives as long as its connection, so it is cut then.
   */
  async attach(
    res: ServerResponse,
    onEnd: (listener: () => void) => void,
    allowed: () => Promise<boolean> = async () => true,
  ): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let last = '';
    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        if (!(await allowed())) return end();
        const state = await inboxState(this.db);
        const key = `${state.total}:${state.newest}`;
        if (key !== last) {
          last = key;
          res.write(`event: inbox\ndata: ${JSON.stringify(state)}\n\n`);
        }
      } catch {
        // The database hiccuped: the next tick tries again.
      } finally {
        busy = false;
      }
    };
    let poll: NodeJS.Timeout | undefined;
    let ping: NodeJS.Timeout | undefined;
    const end = () => {
      clearInterval(poll);
      clearInterval(ping);
      this.open.delete(end);
      if (!res.writableEnded) res.end();
    };
    this.open.add(end);
    onEnd(end);
    await tick();
    if (res.writableEnded) return;
    poll = setInterval(() => void tick(), this.pollMs);
    ping = setInterval(() => res.write(': keep-alive\n\n'), this.keepAliveMs);
  }

  close(): void {
    for (const end of [...this.open]) end();
  }
}
