import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { ADMIN_TOKEN, backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';
import { childEnv } from './helpers/child-env.js';
import { startServe } from './support/processes.js';
import { SmtpSink } from './support/smtp-sink.js';

// The whole restart (two processes behind a load balancer, SIGTERM under load) is a case of
// `npm run test:chaos`; this holds what the API itself does once told to stop.
describe.each(backends)('an API process that is stopping, on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;

  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(backend, sink.env());
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });

  it('answers /readyz 503 STOPPING at once, still serves the requests that reach it, and closes their connections', async () => {
    let stopping = false;
    const app = await buildApp(t.services, { stopping: () => stopping });
    try {
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.headers.connection).not.toBe('close');

      stopping = true;
      const notReady = await app.inject({ method: 'GET', url: '/readyz' });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.json()).toEqual({
        status: 'unavailable',
        checks: { process: { status: 'fail', ms: 0, error: 'STOPPING' } },
      });
      const sent = await app.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        payload: incidentExample(),
      });
      expect(sent.statusCode).toBe(201);
      expect(sent.headers.connection).toBe('close');
    } finally {
      await app.close();
    }
  });

  it('`postier serve` drains and exits 0 when SIGTERM comes twice (systemd signals every process of the unit)', async () => {
    // The delay keeps it alive, stopping, when the second signal comes: that signal must not kill it.
    const p = await startServe({ env: childEnv(t, sink.env({ SHUTDOWN_DELAY_SECONDS: '1' })), args: ['--no-worker'] });
    p.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    expect(p.alive(), p.output()).toBe(true);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.child.signalCode).toBeNull();
  }, 90_000);
});
