import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { smtpTarget, startWorker } from '../../src/delivery/start.js';
import type { Worker, WorkerOptions } from '../../src/delivery/worker.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { type Backend, createTestContext, type TestContext } from './context.js';

export interface DeliveryHarness {
  /** Starts a worker on the test's services (stopped after each test). */
  run(overrides?: Partial<WorkerOptions>): Worker;
  /** Stops the running worker, if any. */
  stop(): Promise<void>;
  /** Adds an address to the suppression list through the API. */
  suppress(email: string, scope?: string): Promise<void>;
  /** The addresses of every RCPT TO the sink received since the last test, as sent. */
  rcpts(): string[];
}

/**
 * A test context delivering to an SMTP sink in the test process, with a worker each test starts
 * (run) and that is stopped after it, the sink's record cleared. `ready` gets the context and the
 * sink once they exist (a describe block keeps them in its own variables).
 */
export function deliveryHarness(
  backend: Backend,
  env: Record<string, string>,
  ready: (made: { t: TestContext; sink: SmtpSink }) => void | Promise<void>,
): DeliveryHarness {
  let t: TestContext;
  let sink: SmtpSink;
  let worker: Worker | null = null;
  const stop = async () => {
    await worker?.stop();
    worker = null;
  };
  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(backend, sink.env(env));
    await ready({ t, sink });
  });
  afterEach(async () => {
    await stop();
    sink.reset();
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });
  return {
    run(overrides = {}) {
      worker = startWorker(t.services, smtpTarget(t.services, null), overrides);
      return worker;
    },
    stop,
    async suppress(email, scope = 'all') {
      const res = await t.inject({ method: 'POST', url: '/api/v1/email/suppressions', payload: { email, scope } });
      expect(res.statusCode).toBe(201);
    },
    rcpts: () =>
      sink.commands.map((c) => /^RCPT TO:\s*<([^>]*)>/i.exec(c.line)?.[1]).filter((a): a is string => a !== undefined),
  };
}
