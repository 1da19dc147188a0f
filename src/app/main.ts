import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { registerSendCommand } from './cli/send.js';
import { spoolCommands } from './cli/spool.js';
import { templateCommands } from './cli/templates.js';
import { ConfigError, loadConfig, loadDotEnv } from '../platform/config.js';
import type { Wired } from './wiring.js';
import { OperatorError } from './operator-error.js';

// A command loads only what it runs: the server's modules (about 2,000 files: Fastify, TypeBox,
// Kysely, the MIME and DKIM libraries) are imported by the commands that use them, so
// `postier send` or `--help` starts in a fraction of the time `serve` takes.
const serverModules = async () => {
  const [{ wire }, { createLogger }, lockWait] = await Promise.all([
    import('./wiring.js'),
    import('../platform/log.js'),
    import('./cli/lock-wait.js'),
  ]);
  return { wire, createLogger, ...lockWait };
};

/**
 * An operator's command on the database. A lock another session holds (a psql transaction left
 * open, another process writing to SQLite) is waited for DB_LOCK_WAIT_SECONDS at most, then the
 * command stops with one line naming it (LockWaitError, exit 2): on SQLite by the write lock's own
 * budget, on PostgreSQL by the connections' lock_timeout. `migrate` (the command that `creates`)
 * waits for the migration lock as long as it takes, as `serve` does when it migrates.
 */
async function withWired<T>(fn: (s: Wired) => Promise<T>, level = 'warn', creates = false): Promise<T> {
  const config = loadConfig();
  refuseMissingDatabase(config.databaseUrl, creates);
  const { wire, createLogger, isLockWait, lockWaitError } = await serverModules();
  let s: Wired | undefined;
  try {
    s = await wire(config, createLogger(process.env.LOG_LEVEL ? config.logLevel : level), { lockTimeout: !creates });
    return await fn(s);
  } catch (e) {
    throw isLockWait(e) ? await lockWaitError(config, s) : e;
  } finally {
    await s?.close();
  }
}

/**
 * An operator's command (keys, templates, spool) on an SQLite file that is not there: a typo in
 * DATABASE_URL would otherwise create an empty database, answer from it (no keys, an empty spool)
 * and hand out keys the server never sees. `serve`, `worker` and `migrate` create it.
 */
function refuseMissingDatabase(databaseUrl: string, creates = false): void {
  const file = databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : null;
  if (creates || file === null || file === ':memory:' || existsSync(file)) return;
  throw new ConfigError([
    `DATABASE_URL: no Postier database at ${path.resolve(file)} (a typo? \`postier migrate\` creates one)`,
  ]);
}

const program = new Command('postier').description('Self-hosted transactional email service').showHelpAfterError();

/**
 * Runs until SIGTERM/SIGINT, then stops in order (the worker drains its in-flight sends). With
 * API_PROCESSES > 1, `serve` forks that many HTTP processes (see cluster.ts): this same
 * function runs in each of them, as a cluster worker.
 */
async function run(opts: { api: boolean; worker: boolean; submissionOnly?: boolean }): Promise<void> {
  const config = loadConfig();
  const [{ wire, createLogger }, { serve }, { serveApiProcess, startApiCluster }, { checkConnectionBudget }] =
    await Promise.all([
      serverModules(),
      import('./serve.js'),
      import('./cluster.js'),
      import('./connection-budget.js'),
    ]);
  const clustered = opts.api && config.apiProcesses > 1;
  const apiProcess = clustered && cluster.isWorker;
  const log = apiProcess
    ? createLogger(config.logLevel).child({ api_process: cluster.worker!.id })
    : createLogger(config.logLevel);
  // The primary has migrated before forking.
  const s = await wire(config, log, { migrate: !apiProcess });
  // The primary counts its HTTP processes' connections too; they need not count again.
  if (!apiProcess)
    await checkConnectionBudget(s, opts, log).catch(async (e: unknown) => {
      await s.close();
      throw e;
    });
  const starting = opts.submissionOnly
    ? serve(s, { api: false, worker: false, background: false, submission: true })
    : !clustered
      ? serve(s, { ...opts, thread: config.worker.thread })
      : apiProcess
        ? serveApiProcess(s)
        : startApiCluster(s, { processes: config.apiProcesses, worker: opts.worker });
  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      log.info({ signal }, 'shutting down');
      // A signal while the listeners are still starting waits for the start, then stops
      // everything it started.
      const running = await starting;
      await running.stop();
      await s.close();
      process.exit(0);
    })());
  // Installed before anything listens, so no signal finds Node's default handler (immediate exit).
  // `on`, not `once`: a second SIGTERM must not kill the process in the middle of its drain (under
  // systemd every process of the unit gets SIGTERM, and a cluster's HTTP processes get another
  // from their primary). A second SIGINT (Ctrl-C again) does stop at once.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  await starting;
}

program
  .command('serve')
  .description('Run the HTTP API (and, unless --no-worker, the delivery worker)')
  .option('--no-worker', 'run the API only')
  .action((o: { worker: boolean }) => run({ api: true, worker: o.worker }));

program
  .command('worker')
  .description('Run the delivery worker only (any number of them may share one database)')
  .action(() => run({ api: false, worker: true }));

program
  .command('submission')
  .description('Run the SMTP submission listener only (SUBMISSION_*); workers elsewhere deliver what it accepts')
  .action(() => run({ api: false, worker: false, submissionOnly: true }));

program
  .command('migrate')
  .description('Apply database migrations and seed default templates, then exit')
  .action(() => withWired(async () => console.log('database is up to date'), 'info', true));

const keys = program.command('keys').description('Manage API keys');
keys
  .command('create')
  .requiredOption('--name <name>', 'what the key is for')
  .requiredOption('--scope <scope>', 'admin or send')
  .option('--allowed-from <list>', 'comma-separated From domains or addresses this key may use (default: any allowed)')
  .action((o: { name: string; scope: string; allowedFrom?: string }) =>
    withWired(async (s) => {
      if (o.scope !== 'admin' && o.scope !== 'send') throw new Error('--scope must be admin or send');
      // What the key is for is how an operator later tells it apart (keys list, the admin UI).
      if (o.name.trim() === '' || o.name.length > 100) throw new Error('--name must be 1 to 100 characters');
      const allowed = o.allowedFrom?.split(',').filter((e) => e.trim() !== '');
      const { token, key } = await s.apiKeys.create(o.name, o.scope, 'cli', allowed);
      const from = key.allowed_from ? `, may send as ${key.allowed_from.join(', ')}` : '';
      console.log(`Created ${key.scope} key ${key.id} (${key.name}${from}). The token is shown once:\n${token}`);
    }),
  );
keys.command('list').action(() =>
  withWired(async (s) => {
    const rows = await s.apiKeys.list();
    console.table(
      rows.map((k) => ({
        id: k.id,
        name: k.name,
        scope: k.scope,
        prefix: k.prefix,
        created_at: k.created_at,
        last_used_at: k.last_used_at ?? '',
        revoked_at: k.revoked_at ?? '',
      })),
    );
  }),
);
keys
  .command('revoke <id>')
  .description('Revoke a key by id or token prefix')
  .action((id: string) =>
    withWired(async (s) => {
      const k = await s.apiKeys.revoke(id);
      console.log(`Revoked ${k.id} (${k.name}) at ${k.revoked_at}`);
    }),
  );

templateCommands(program, withWired);
spoolCommands(program, withWired);
registerSendCommand(program);

loadDotEnv();
program.parseAsync().catch((e: unknown) => {
  if (e instanceof ConfigError || e instanceof OperatorError) {
    console.error(e.message);
    process.exit(2);
  }
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
