import { isMainThread } from 'node:worker_threads';
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per process: Prometheus scrapes each process (API, worker) and sums counters, so
 * counters are process-wide by nature. Label values stay bounded: template keys and categories
 * are a closed set chosen by admins, SMTP codes are three digits.
 */
export const registry = new Registry();
// Process metrics once: the delivery thread's registry holds only its own counters, merged into
// the serving thread's GET /metrics.
if (isMainThread) collectDefaultMetrics({ register: registry, prefix: 'postier_' });

const labelNames = ['template', 'category'] as const;
const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [registry] });

const accepted = counter('postier_emails_accepted_total', 'Messages accepted and queued (or scheduled)');
/** Status changes counted, keyed by the event type recorded in email_events. */
export const eventCounters: Record<string, Counter<(typeof labelNames)[number]>> = {
  queued: accepted,
  // Accepted for later: counted when accepted, like a message queued at once.
  scheduled: accepted,
  sent: counter('postier_emails_sent_total', 'Messages handed to the SMTP server'),
  captured: counter(
    'postier_emails_captured_total',
    'Messages caught by the capture server (no SMTP_HOST), not delivered',
  ),
  partially_sent: counter(
    'postier_emails_partially_sent_total',
    'Messages some recipients of which were accepted, the others refused or given up',
  ),
  failed: counter('postier_emails_failed_total', 'Messages that failed after their last attempt'),
  bounced: counter('postier_emails_bounced_total', 'Messages that bounced'),
  complaint: counter('postier_emails_complaints_total', 'Messages the recipient marked as spam'),
};

export const eventsTotal = new Counter({
  name: 'postier_email_events_total',
  help: 'Every event recorded, by type',
  labelNames: ['type'],
  registers: [registry],
});

export const smtpReplies = new Counter({
  name: 'postier_smtp_replies_total',
  help: 'SMTP reply codes seen on delivery attempts',
  labelNames: ['code'],
  registers: [registry],
});

export const dkimUnsigned = new Counter({
  name: 'postier_dkim_unsigned_total',
  help: 'Messages with their own From built without a DKIM signature: no key for their domain (DKIM_KEYS)',
  labelNames: ['domain'],
  registers: [registry],
});

export const relayProblems = new Counter({
  name: 'postier_smtp_relay_problems_total',
  help: 'Delivery attempts that met a relay problem (login, TLS, relaying denied, relay unreachable, …); they do not spend attempts',
  labelNames: ['transport', 'kind'],
  registers: [registry],
});

export const smtpFailovers = new Counter({
  name: 'postier_smtp_failovers_total',
  help: 'Sends moved to the next relay (SMTP_FALLBACK_URLS) after a relay problem met before the message was sent',
  labelNames: ['from', 'to', 'kind'],
  registers: [registry],
});

export const trackingEvents = new Counter({
  name: 'postier_tracking_events_total',
  help: 'Opens and clicks of tracked messages: opened and clicked (a person), opened_by_machine and clicked_by_machine (not counted)',
  labelNames: ['type'],
  registers: [registry],
});

export const domainVerified = new Gauge({
  name: 'postier_domain_dns_verified',
  help: "1 when the sending domain's last DNS check passed (DKIM key, SPF, DMARC; MX for the bounce domain), 0 when it did not",
  labelNames: ['domain'],
  registers: [registry],
});

export const relayState = new Gauge({
  name: 'postier_smtp_relay_problem',
  help: '1 while the relay has a problem (the last attempt that said anything about it met one), 0 once it works',
  labelNames: ['transport'],
  registers: [registry],
});

export const acceptLatency = new Histogram({
  name: 'postier_accept_duration_seconds',
  help: 'POST /api/v1/email/send, request to 201 (includes the durable commit)',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const deliveryLatency = new Histogram({
  name: 'postier_delivery_duration_seconds',
  help: 'Accepted to sent (queue wait, retries and SMTP time)',
  labelNames: ['template'],
  buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600],
  registers: [registry],
});

export const queueDepth = new Gauge({
  name: 'postier_queue_depth',
  help: 'Messages queued or being sent',
  registers: [registry],
});
export const queueOldestAge = new Gauge({
  name: 'postier_queue_oldest_age_seconds',
  help: 'Age of the oldest queued message (0 when empty)',
  registers: [registry],
});

export const buildBytes = new Gauge({
  name: 'postier_worker_build_bytes',
  help: 'Bytes the messages being built and sent are expected to hold (attachments, submitted MIME), against WORKER_MAX_BUILD_MB',
  registers: [registry],
});
export const buildWaiting = new Gauge({
  name: 'postier_worker_build_waiting',
  help: 'Leased messages waiting for room under WORKER_MAX_BUILD_MB before their build',
  registers: [registry],
});

export const searchIndexPending = new Gauge({
  name: 'postier_search_index_pending',
  help: 'SQLite: messages accepted but not yet in the search index (searches index them first)',
  registers: [registry],
});
export const searchIndexed = new Counter({
  name: 'postier_search_indexed_total',
  help: 'SQLite: messages added to the search index after their commit',
  registers: [registry],
});

/** A registry's counters as plain data (what the delivery thread sends to the serving thread). */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * This registry in the Prometheus text format, with the counters of `sources` (the delivery
 * thread) added in: one scrape sees the whole process.
 */
export async function metricsText(sources: Array<() => Promise<MetricsJson>>): Promise<string> {
  if (sources.length === 0) return registry.metrics();
  const [own, ...others] = await Promise.all([
    registry.getMetricsAsJSON(),
    ...sources.map((f) => f().catch(() => [] as MetricsJson)),
  ]);
  // Counters both keep are summed; what only this thread has (process metrics, some of which
  // prom-client would omit when aggregating) is taken as it is.
  const shared = new Set(others.flat().map((m) => m.name));
  for (const m of own) if (!shared.has(m.name)) m.aggregator = 'first';
  return AggregatorRegistry.aggregate([own, ...others]).metrics();
}
