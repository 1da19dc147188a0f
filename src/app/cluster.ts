import cluster, { type Worker as ApiProcess } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { type MetricsJson, registry } from '../platform/metrics.js';
import { MetricsAsker } from '../observability/index.js';
import { type IpcChannel, ipcSend } from '../platform/ipc-send.js';
import { oncePerTurn } from '../platform/once-per-turn.js';
import { RestartDelay } from '../platform/restart-delay.js';
import type { Wired } from './wiring.js';
import { ensureAdminKey, serve } from './serve.js';

/**
 * `postier serve` with API_PROCESSES > 1: the HTTP API in that many processes sharing the port
 * (node:cluster), so accepting uses every core. The primary migrates, creates the first admin
 * key, then runs what must not be repeated per process: the delivery worker (in its own loop:
 * it serves no HTTP), retention, the capture server and outbound webhooks. Each HTTP process
 * opens its own database connection; on SQLite they take turns for the write lock, each still
 * sharing its fsync among its own concurrent requests (group commit).
 *
 * The processes talk over the cluster's IPC channel:
 * - an HTTP process that queued messages rings the primary, whose worker leases them at once;
 * - GET /metrics in any HTTP process asks the primary for everyone else's counters (the
 *   worker's and the other HTTP processes'), so one scrape sees the whole service.
 * An HTTP process that dies is started again after a second (then 2, 4… up to 30 s: RestartDelay).
 */
type Message =
  | { type: 'postier:queued' }
  | { type: 'postier:metrics?'; id: number }
  | { type: 'postier:metrics'; id: number; metrics: MetricsJson };

/**
 * An HTTP process waits this long for the primary; the primary waits less for the others, so a
 * process that does not answer costs the scrape its own counters, not everyone's.
 */
const ASK_TIMEOUT_MS = 3000;
const ASK_OTHERS_TIMEOUT_MS = 2000;
const STOP_GRACE_MS = 25_000;
/** Asks the process at the other end of `channel` for its metrics; a send that fails is answered empty at once. */
const askMetrics = (asker: MetricsAsker, channel: IpcChannel) =>
  asker.ask((id) => ipcSend(channel, { type: 'postier:metrics?', id } satisfies Message, () => asker.answer(id, [])));
const isMessage = (m: unknown): m is Message =>
  typeof m === 'object' && m !== null && String((m as { type?: unknown }).type).startsWith('postier:');

/** The primary: background work here, HTTP in `processes` forked processes. */
export async function startApiCluster(
  s: Wired,
  opts: { processes: number; worker: boolean },
): Promise<{ stop(): Promise<void> }> {
  await ensureAdminKey(s);
  // SMTP submission is served here, beside the background jobs: one listener for the cluster.
  const running = await serve(s, { api: false, worker: opts.worker, submission: true });
  const asker = new MetricsAsker(ASK_OTHERS_TIMEOUT_MS);
  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is ApiProcess => w?.isConnected() === true);

  cluster.on('message', (from, m: unknown) => {
    if (!isMessage(m)) return;
    if (m.type === 'postier:queued') s.outbox.notify();
    else if (m.type === 'postier:metrics') asker.answer(m.id, m.metrics);
    else {
      // Everyone but the asker, who adds its own.
      const others = live().filter((w) => w !== from);
      void Promise.all([registry.getMetricsAsJSON(), ...others.map((w) => askMetrics(asker, w))])
        .then((parts) => AggregatorRegistry.aggregate(parts).getMetricsAsJSON())
        .then(
          (metrics) =>
            from.isConnected() && ipcSend(from, { type: 'postier:metrics', id: m.id, metrics } satisfies Message),
        );
    }
  });

  let stopping = false;
  const restartDelay = new RestartDelay();
  const fork = () =>
    // Sends go through ipcSend, which takes their errors; this catches any other error event
    // on the channel, which unheard would end the primary.
    // A capture port the system chose (CAPTURE_SMTP_PORT=0) is told to the API processes, whose
    // readiness check connects to it.
    cluster
      .fork(running.capture ? { CAPTURE_SMTP_PORT: String(running.capture.port) } : {})
      .on('error', (err: Error) => s.log.warn({ err }, 'IPC with an API process failed'));
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    const delay = restartDelay.next();
    s.log.error({ pid: w.process.pid, code, signal, retry_in_ms: delay }, 'an API process exited; starting another');
    setTimeout(() => !stopping && fork(), delay).unref();
  });

  // Up when every process listens; a process that cannot start (port taken) stops start-up.
  await new Promise<void>((resolve, reject) => {
    let listening = 0;
    const onListening = () => {
      if (++listening < opts.processes) return;
      cluster.off('listening', onListening);
      cluster.off('exit', onEarlyExit);
      resolve();
    };
    const onEarlyExit = (_w: ApiProcess, code: number | null) => {
      stopping = true;
      reject(new Error(`an API process exited during start-up (code ${code}); see its log above`));
    };
    cluster.on('listening', onListening);
    cluster.on('exit', onEarlyExit);
    for (let i = 0; i < opts.processes; i++) fork();
  }).catch(async (error: unknown) => {
    for (const w of live()) w.process.kill('SIGTERM');
    await running.stop();
    throw error;
  });
  cluster.on('listening', () => restartDelay.reset());
  s.log.info({ url: `http://${s.config.host}:${s.config.port}`, processes: opts.processes }, 'Postier API listening');

  return {
    async stop() {
      stopping = true;
      // HTTP first (each process finishes its requests and exits), then the worker drains. A
      // process still there after STOP_GRACE_MS is killed.
      await Promise.all(
        Object.values(cluster.workers ?? {}).map(
          (w) =>
            new Promise<void>((resolve) => {
              if (!w || w.isDead()) return resolve();
              const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_GRACE_MS);
              w.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
      await running.stop();
    },
  };
}

/** One HTTP process of the cluster: the API only, wired to the primary. */
export async function serveApiProcess(s: Wired): Promise<{ stop(): Promise<void> }> {
  const send = (m: Message) => ipcSend(process, m);
  const asker = new MetricsAsker(ASK_TIMEOUT_MS);
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.type === 'postier:metrics?')
      void registry
        .getMetricsAsJSON()
        .then((metrics) => process.connected && send({ type: 'postier:metrics', id: m.id, metrics }));
    else if (m.type === 'postier:metrics') asker.answer(m.id, m.metrics);
  });
  s.metricSources.push(() => askMetrics(asker, process));
  s.outbox.subscribe(oncePerTurn(() => process.connected && send({ type: 'postier:queued' })));
  return serve(s, { api: true, worker: false, background: false });
}
