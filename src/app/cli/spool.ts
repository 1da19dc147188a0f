import type { Command } from 'commander';
import type { Wired } from '../wiring.js';

type WithWired = <T>(fn: (s: Wired) => Promise<T>) => Promise<T>;

/** Loaded by the commands that run (see main.ts): registering them costs nothing. */
const admin = () => import('../../accept/submission/spool-admin.js');

const spoolId = (v: string): number => {
  const n = Number(v);
  if (!/^[1-9][0-9]*$/.test(v) || !Number.isSafeInteger(n))
    throw new Error(`${JSON.stringify(v)} is not a spooled message id`);
  return n;
};

/**
 * `postier spool …`: the SMTP submission spool from a shell, as postqueue and postsuper are for
 * Postfix; the same service code as GET/POST/DELETE /api/v1/system/submission-spool.
 */
export function spoolCommands(program: Command, withWired: WithWired): void {
  const spool = program
    .command('spool')
    .description('Messages accepted over SMTP and not yet stored (docs/submission.md#the-spool)');
  spool
    .command('list')
    .description('What waits, oldest first')
    .option('--failing', 'only those that could not be stored')
    .action((o: { failing?: boolean }) =>
      withWired(async (s) => {
        const { listSpool } = await admin();
        const { items } = await listSpool(s.db, { failingOnly: Boolean(o.failing), limit: 500 });
        if (items.length === 0)
          return console.log(o.failing ? 'No spooled message is failing.' : 'The spool is empty.');
        console.table(
          items.map((e) => ({
            id: e.id,
            received_at: e.received_at,
            from: e.from_email,
            recipients: e.recipients.length,
            state: e.state,
            attempts: e.attempts,
            next_try_at: e.next_try_at ?? '',
            last_error: (e.last_error ?? '').slice(0, 80),
          })),
        );
      }),
    );
  spool
    .command('raw <id>')
    .description('Write a spooled message as the client sent it to standard output')
    .action((id: string) =>
      withWired(async (s) => {
        const { spooledRaw } = await admin();
        process.stdout.write(await spooledRaw(s.db, spoolId(id)));
      }),
    );
  spool
    .command('retry <id>')
    .description('Try to store a failing spooled message at the next pass')
    .action((id: string) =>
      withWired(async (s) => {
        const { retrySpooled } = await admin();
        const e = await retrySpooled(s.db, spoolId(id));
        console.log(`Spooled message ${e.id} is tried at the next pass (within a second while a listener runs).`);
      }),
    );
  spool
    .command('drop <id>')
    .description('Drop a spooled message that failed to be stored: its messages are never stored or sent')
    .action((id: string) =>
      withWired(async (s) => {
        const { dropSpooled } = await admin();
        const r = await dropSpooled(s.db, s.log, spoolId(id), 'cli');
        console.log(
          `Dropped spooled message ${r.id}: ${r.message_ids.length} message(s) will never be stored or sent.`,
        );
      }),
    );
}
