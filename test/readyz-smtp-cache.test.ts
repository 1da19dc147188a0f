import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildApp } from '../src/http/app.js';
import { createLogger } from '../src/platform/log.js';
import { createTestContext, type TestContext } from './helpers/context.js';

/**
 * GET /readyz is public and its smtp check logs in to the relay: the verdict is reused for a while
 * and shared by concurrent requests, so anonymous requests cannot make Postier hammer the relay's
 * AUTH. A real SMTP server (smtp-server) counts the connections and logins; the real app answers.
 * The database check does not depend on the backend here: SQLite only.
 */

const USER = 'postier';
const PASS = 'relay-secret-pass';

/** A relay that counts connections and logins; `refuseLogin` turns it into one that answers 535. */
class Relay {
  connections = 0;
  logins = 0;
  refuseLogin = false;
  port = 0;
  readonly server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    onConnect: (_session, callback) => {
      this.connections++;
      callback();
    },
    onAuth: (auth, _session, callback) => {
      this.logins++;
      if (this.refuseLogin || auth.username !== USER || auth.password !== PASS)
        return callback(Object.assign(new Error('Authentication throttled'), { responseCode: 535 }));
      callback(null, { user: auth.username });
    },
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('/readyz reuses the smtp check', () => {
  let relay: Relay;
  let t: TestContext;
  const apps: FastifyInstance[] = [];
  const lines: string[] = [];

  beforeAll(async () => {
    relay = await new Relay().start();
    t = await createTestContext('sqlite', {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(relay.port),
      SMTP_USE_TLS: 'false',
      SMTP_USER: USER,
      SMTP_PASSWORD: PASS,
    });
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    relay.connections = relay.logins = 0;
    relay.refuseLogin = false;
    lines.length = 0;
  });
  afterAll(async () => {
    await t.close();
    await relay.close();
  });

  /** A fresh app on the same services (a fresh cache), logging where the test reads it. */
  const app = async (opts: BuildOptions = {}) => {
    const out = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const a = await buildApp({ ...t.services, log: createLogger('warn', out) }, { checkResponses: true, ...opts });
    apps.push(a);
    return a;
  };
  const readyz = async (a: FastifyInstance) => {
    const res = await a.inject({ method: 'GET', url: '/readyz' });
    return { statusCode: res.statusCode, body: res.json() as unknown };
  };
  const failureLogs = () => lines.filter((l) => l.includes('readiness check failed'));

  it('logs in to the relay once for 20 parallel then 30 sequential requests (the default 15 s reuse)', async () => {
    const a = await app();
    const parallel = await Promise.all(Array.from({ length: 20 }, () => readyz(a)));
    expect(parallel.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    expect(parallel[0]!.body).toMatchObject({
      status: 'ok',
      checks: { database: { status: 'ok' }, smtp: { status: 'ok' } },
    });
    // Single flight: the 20 requests shared one check.
    expect(relay.connections).toBe(1);
    expect(relay.logins).toBe(1);

    for (let i = 0; i < 30; i++) expect((await readyz(a)).statusCode).toBe(200);
    // The verdict is reused: no new connection for 15 s.
    expect(relay.connections).toBe(1);
    expect(relay.logins).toBe(1);
  });

  it('checks the relay again once the reuse time has passed', async () => {
    const a = await app({ smtpCheckCache: { okMs: 300, failMs: 300 } });
    expect((await readyz(a)).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await readyz(a)).statusCode).toBe(200);
    expect(relay.logins).toBe(1);
    await sleep(400);
    expect((await readyz(a)).statusCode).toBe(200);
    expect(relay.connections).toBe(2);
    expect(relay.logins).toBe(2);
  });

  it('answers 503 while the relay refuses the login, logs the failure once per check, and recovers', async () => {
    const a = await app({ smtpCheckCache: { okMs: 300, failMs: 300 } });
    expect((await readyz(a)).statusCode).toBe(200);

    relay.refuseLogin = true;
    await sleep(400);
    const parallel = await Promise.all(Array.from({ length: 20 }, () => readyz(a)));
    for (let i = 0; i < 10; i++) parallel.push(await readyz(a));
    expect(parallel.map((r) => r.statusCode)).toEqual(Array(30).fill(503));
    // The response schema is unchanged: an error code only, the database still checked live.
    expect(parallel[0]!.body).toEqual({
      status: 'unavailable',
      checks: {
        database: { status: 'ok', ms: expect.any(Number) },
        smtp: { status: 'fail', ms: expect.any(Number), error: 'EAUTH' },
      },
    });
    expect(relay.logins).toBe(2);
    expect(failureLogs()).toHaveLength(1);
    expect(JSON.parse(failureLogs()[0]!)).toMatchObject({ check: 'smtp', level: 40 });

    // The failed verdict is reused too (no retry storm), then the relay is asked again.
    relay.refuseLogin = false;
    expect((await readyz(a)).statusCode).toBe(503);
    expect(relay.logins).toBe(2);
    await sleep(400);
    const back = await readyz(a);
    expect(back.statusCode).toBe(200);
    expect(back.body).toMatchObject({ status: 'ok', checks: { smtp: { status: 'ok' } } });
    expect(relay.logins).toBe(3);
    expect(failureLogs()).toHaveLength(1);
  });
});
