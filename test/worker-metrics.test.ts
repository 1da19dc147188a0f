import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../src/app/serve.js';
import { wire } from '../src/app/wiring.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

describe('a worker-only process with WORKER_METRICS_PORT', () => {
  let sink: SmtpSink;
  let t: TestContext;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(
      'sqlite',
      sink.env({ WORKER_METRICS_PORT: '0', METRICS_TOKEN: 'scrape-secret-123', WORKER_POLL_MS: '20' }),
    );
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });

  it('serves its own delivery counters on /metrics, behind METRICS_TOKEN, and nothing else', async () => {
    // A second set of services on the same database plays the `postier worker` process.
    const workerServices = await wire(t.config, t.services.log, { migrate: false });
    const running = await serve(workerServices, { api: false, worker: true, retention: false });
    try {
      expect(running.app).toBeNull();
      const port = (running.metrics!.server.address() as AddressInfo).port;
      const [id] = await sendOk(t, { ...incidentExample(), to: 'ops@example.com' });
      await waitForStatus(t, [id!], ['sent']);
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      const res = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer scrape-secret-123' } });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/postier_emails_sent_total\{[^}]*template="incident_alert_critical"[^}]*\} [1-9]/);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/api/v1/email/messages`)).status).toBe(404);
    } finally {
      await running.stop();
      await workerServices.close();
    }
  });
});
