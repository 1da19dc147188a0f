import { startDomainChecks } from '../domains/index.js';
import type { FastifyInstance } from 'fastify';
import {
  SpoolIngester,
  startSubmission,
  SubmissionAcceptor,
  type SubmissionServer,
  SubmissionSpool,
} from '../accept/submission/index.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type CaptureServer, startCaptureIfNeeded } from '../capture/index.js';
import { smtpTargets, startWorker } from '../delivery/index.js';
import { FeedbackProcessor, ImapPoller, type InboundListener, startInboundListener } from '../feedback/index.js';
import { buildApp } from '../http/app.js';
import { startMetricsServer } from '../http/metrics-server.js';
import { type RetentionScheduler, startRetentionScheduler } from '../retention/index.js';
import { DeliveryThread } from './delivery-thread.js';
import { INGEST_POOL_SIZE, IngestThread } from './ingest-thread.js';
import type { MetricsJson } from '../platform/metrics.js';
import type { Wired } from './wiring.js';
import { inOneConnectionOnly } from '../platform/db/database.js';

/** First start with no admin credential at all: create one admin key and show it once. */
export async function ensureAdminKey(s: Wired): Promise<void> {
  if (s.config.adminToken || (await s.apiKeys.countActive()) > 0) return;
  const { token } = await s.apiKeys.create('initial admin', 'admin', 'system');
  process.stdout.write(
    `\n  No API key existed, so an admin key was created. It is shown this once:\n\n    ${token}\n\n` +
      `  Use it as "Authorization: Bearer <token>"; create more with \`postier keys create\`.\n\n`,
  );
}

/**
 * Beside the API, the worker gets a thread of its own (WORKER_THREAD, on by default in
 * `postier serve`) so that neither starves the other; a worker-only process runs it in its loop.
 */
async function startDelivery(
  s: Wired,
  capture: CaptureServer | null,
  threaded: boolean,
  retention: boolean,
): Promise<{ stop(): Promise<void>; retention: RetentionScheduler | null }> {
  const target = smtpTargets(s, capture);
  if (!threaded || inOneConnectionOnly(s.config.databaseUrl)) {
    const worker = startWorker(s, target);
    // Reports are classified beside the worker: off the loop of an API process, whose worker is threaded.
    const processor = new FeedbackProcessor(s, { owner: `${worker.owner}:feedback` });
    processor.start();
    const ring = s.feedbackPending.subscribe(() => processor.notify());
    return {
      retention: null,
      async stop() {
        ring();
        await processor.stop();
        await worker.stop();
      },
    };
  }
  const thread = await DeliveryThread.start({ config: s.config, target, retention }, s.log);
  const unsubscribeFeedback = s.feedbackPending.subscribe(() => thread.notifyFeedback());
  const unsubscribe = s.outbox.subscribe(() => thread.notify());
  const unmerge = mergeMetricsOf(s, thread);
  return {
    retention: retention ? { runOnce: (now?: number) => thread.runRetention(now), stop: async () => {} } : null,
    async stop() {
      unsubscribe();
      unsubscribeFeedback();
      await thread.stop();
      unmerge();
    },
  };
}

/** A thread's counters in this process's GET /metrics until the returned function is called. */
function mergeMetricsOf(s: Wired, thread: { metrics(): Promise<MetricsJson> }): () => void {
  const source = () => thread.metrics();
  s.metricSources.push(source);
  return () => {
    s.metricSources.splice(s.metricSources.indexOf(source), 1);
  };
}

/**
 * The spool's ingester: on a thread of its own (SUBMISSION_INGEST_THREAD, on by default on
 * PostgreSQL, see ingest-thread.ts), or in this loop (SQLite by default; always for an in-memory
 * SQLite database, which exists in one connection only). It stores spooled
 * messages in batches of up to 50 per commit, which costs less than a commit per message.
 */
function startIngester(s: Wired): { notify(): void; stop(): Promise<void> } {
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}:spool`;
  const log = s.log.child({ component: 'submission-spool' });
  if (s.config.submission.ingestThread && !inOneConnectionOnly(s.config.databaseUrl)) {
    const thread = IngestThread.launch({ config: s.config, owner, poolSize: INGEST_POOL_SIZE }, log, {
      queued: () => s.outbox.notify(),
    });
    const unmerge = mergeMetricsOf(s, thread);
    return {
      notify: () => thread.notify(),
      async stop() {
        await thread.stop();
        unmerge();
      },
    };
  }
  const ingester = new SpoolIngester({ db: s.db, dialect: s.dialect, send: s.send, config: s.config, log }, { owner });
  ingester.start();
  return ingester;
}

/** The SMTP submission listener on the accept service of this process (SUBMISSION_*), and its spool's ingester. */
export async function startSubmissionListener(s: Wired): Promise<SubmissionServer> {
  const ingester = startIngester(s);
  const acceptor = new SubmissionAcceptor({
    send: s.send,
    spool: new SubmissionSpool(s, () => ingester.notify()),
    db: s.db,
    messageIdDomain: s.messageIdDomain,
  });
  try {
    const server = await startSubmission({ config: s.config, log: s.log, keys: s.apiKeys, acceptor });
    return {
      ...server,
      // Listener first (nothing new is spooled), then the batch in hand; the rest waits for the next start.
      async close() {
        await server.close();
        await ingester.stop();
      },
    };
  } catch (e) {
    await ingester.stop();
    throw e;
  }
}

export interface Running {
  app: FastifyInstance | null;
  /** The SMTP submission listener, when this process runs it. */
  submission: SubmissionServer | null;
  /**
   * The retention jobs of this process: on the delivery thread when it has one (off the API's
   * loop), else in this loop; null when another process runs them.
   */
  retention: RetentionScheduler | null;
  /** The delivery worker: in this event loop, or on a thread of its own (`thread`). */
  worker: { stop(): Promise<void> } | null;
  capture: CaptureServer | null;
  /** The inbound SMTP listener of BOUNCE_DOMAIN (INBOUND_SMTP_PORT). */
  feedback: InboundListener | null;
  metrics: FastifyInstance | null;
  stop(): Promise<void>;
}

/**
 * The listener runs with the background jobs. Several processes on one host cannot share its
 * port: the first one to start listens, the others leave it to that one.
 */
async function startFeedbackListener(s: Wired): Promise<InboundListener | null> {
  if (s.config.feedback.inboundSmtpPort === undefined) return null;
  try {
    return await startInboundListener({
      db: s.db,
      config: s.config,
      log: s.log.child({ component: 'feedback-listener' }),
      onStored: () => s.feedbackPending.notify(),
    });
  } catch (e) {
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
    s.log.warn(
      { port: s.config.feedback.inboundSmtpPort },
      'the feedback listener port is taken (another Postier process?)',
    );
    return null;
  }
}

/**
 * API and/or worker in this process; the capture server too when SMTP_HOST is unset. The
 * background jobs (retention, capture, outbound webhooks) run unless `background` is false: the
 * HTTP processes of API_PROCESSES > 1 leave them to their primary (see cluster.ts).
 */
export async function serve(
  s: Wired,
  opts: {
    api: boolean;
    worker?: boolean;
    retention?: boolean;
    thread?: boolean;
    background?: boolean;
    /** The SMTP submission listener (when SUBMISSION_ENABLED); by default in a serving process that runs the background jobs. */
    submission?: boolean;
  },
): Promise<Running> {
  let app: FastifyInstance | null = null;
  let stopping = false;
  const background = opts.background ?? true;
  // Retention runs in every process that asks for it; a lock row lets one run each job at a time.
  const wantsRetention = background && (opts.retention ?? s.config.email.retentionEnabled);
  const capture = background ? await startCaptureIfNeeded(s) : null;
  const feedback = background ? await startFeedbackListener(s) : null;
  // Several processes polling one mailbox store each message once (reports are deduplicated by their bytes).
  const mailbox =
    background && s.config.feedback.imapUrl
      ? new ImapPoller({
          db: s.db,
          config: s.config,
          log: s.log.child({ component: 'feedback-mailbox' }),
          onStored: () => s.feedbackPending.notify(),
        })
      : null;
  mailbox?.start();
  // A delivery thread loads its own copy of the code (about a second) while this loop starts the
  // rest; it is waited for before the API listens, and a failure to start it still stops the start.
  const delivering = opts.worker
    ? startDelivery(s, capture, opts.api && (opts.thread ?? false), wantsRetention)
    : Promise.resolve(null);
  delivering.catch(() => {}); // (awaited below: not an unhandled rejection meanwhile)
  // Before the API listens: an API that answers means every listener is up (a check, a load
  // balancer or a test that waits for /healthz never meets a process still writing its TLS pair).
  const submission =
    (opts.submission ?? (opts.api && background)) && s.config.submission.enabled
      ? await startSubmissionListener(s)
      : null;
  if (opts.api) {
    await ensureAdminKey(s);
    // The attachment writer thread is part of an API process, like its connection: started now.
    s.content.start();
    app = await buildApp(s, { stopping: () => stopping, capture });
  }
  const worker = await delivering;
  // On the delivery thread when there is one (see startDelivery), else in this loop.
  const retention: RetentionScheduler | null =
    worker?.retention ?? (wantsRetention ? startRetentionScheduler(s) : null);
  if (app) {
    await app.listen({ host: s.config.host, port: s.config.port });
    s.log.info({ url: `http://${s.config.host}:${s.config.port}` }, 'Postier API listening');
  }
  // A worker-only process exposes its own counters when asked (the API serves them otherwise).
  const metrics =
    !opts.api && s.config.worker.metricsPort !== undefined
      ? await startMetricsServer(s, s.config.worker.metricsPort)
      : null;
  // Outbound webhooks go out from every serving process: one at a time reads the event log to
  // enqueue them (a lease), every one claims due deliveries one by one.
  if (background) s.webhooks.start();
  // SQLite: new messages enter the search index in batches after their commit.
  if (background) s.searchIndex.start();
  // The sending domains' DNS, checked again every DOMAIN_CHECK_HOURS (0: on demand only).
  const domainChecks =
    background && s.config.domainCheckHours > 0
      ? startDomainChecks(s.db, s.domains, s.log.child({ component: 'domains' }), s.config.domainCheckHours * 3_600_000)
      : null;
  return {
    app,
    submission,
    retention,
    worker,
    capture,
    feedback,
    metrics,
    async stop() {
      // At once (before any await): /readyz answers 503 and answers close their connections.
      stopping = true;
      // Load balancers that poll /readyz less often than the listener closes get this long to notice.
      if (app && s.config.shutdownDelaySeconds > 0)
        await new Promise((r) => setTimeout(r, s.config.shutdownDelaySeconds * 1000));
      // API first (then submission and the feedback listeners): the listener stops accepting, idle keep-alive connections close, requests in
      // flight finish (app.close() waits for them). Then the worker drains, then the background
      // jobs (the webhooks of events not read yet are enqueued by the next dispatcher from the
      // durable cursor), then capture stops receiving.
      if (app) await app.close();
      // No new reports accepted; those stored are classified by the next worker to start.
      if (feedback) await feedback.close();
      await mailbox?.stop();
      if (submission) await submission.close();
      if (worker) await worker.stop();
      if (metrics) await metrics.close();
      if (background) await s.webhooks.stop();
      if (background) await s.searchIndex.stop();
      domainChecks?.stop();
      await retention?.stop();
      if (capture) await capture.close();
    },
  };
}
