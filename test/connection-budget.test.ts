import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConnectionBudget, plannedConnections } from '../src/app/connection-budget.js';
import { loadConfig } from '../src/platform/config.js';
import { judgeBudget, serverConnections } from '../src/platform/db/connection-budget.js';
import { createLogger } from '../src/platform/log.js';
import { childEnv } from './helpers/child-env.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { spawnPostier } from './support/processes.js';

describe('the PostgreSQL connections of a process', () => {
  // Without the SMTP submission listener unless a case says otherwise (its ingester thread adds 2).
  const config = (env: Record<string, string> = {}) =>
    loadConfig({ DATABASE_URL: 'postgres://db.example/postier', SUBMISSION_ENABLED: 'false', ...env });

  it('are counted per process layout, as docs/scaling.md writes the formula', () => {
    expect(plannedConnections(config(), { api: true, worker: true }).total).toBe(10 + 5);
    expect(plannedConnections(config({ WORKER_THREAD: 'false' }), { api: true, worker: true }).total).toBe(10);
    expect(plannedConnections(config(), { api: true, worker: false }).total).toBe(10);
    expect(plannedConnections(config({ DATABASE_POOL_SIZE: '4' }), { api: false, worker: true }).total).toBe(4);
    const cluster = plannedConnections(config({ API_PROCESSES: '3', DATABASE_POOL_SIZE: '6' }), {
      api: true,
      worker: true,
    });
    expect(cluster).toEqual({ total: 6 * 4, detail: 'DATABASE_POOL_SIZE 6 × (1 primary + API_PROCESSES 3)' });
  });

  it('count the submission ingester thread where the listener runs', () => {
    const listening = (env: Record<string, string> = {}) => config({ SUBMISSION_ENABLED: 'true', ...env });
    expect(plannedConnections(listening(), { api: true, worker: true })).toEqual({
      total: 10 + 5 + 2,
      detail: 'DATABASE_POOL_SIZE 10 + WORKER_DATABASE_POOL_SIZE 5 (delivery thread) + 2 (submission ingester thread)',
    });
    expect(
      plannedConnections(listening({ SUBMISSION_INGEST_THREAD: 'false' }), { api: true, worker: true }).total,
    ).toBe(10 + 5);
    // `postier submission` alone; `postier worker` runs no listener.
    expect(plannedConnections(listening(), { api: false, worker: false, submissionOnly: true }).total).toBe(10 + 2);
    expect(plannedConnections(listening(), { api: false, worker: true }).total).toBe(10);
    expect(
      plannedConnections(listening({ API_PROCESSES: '2', DATABASE_POOL_SIZE: '6' }), { api: true, worker: true }).total,
    ).toBe(6 * 3 + 2);
  });

  it('fit, fit with little to spare (a warning), or are refused with the numbers that decided', () => {
    const server = { maxConnections: 100, reserved: 3, inUse: 40 };
    const planned = (total: number) => ({ total, detail: `${total} planned` });
    expect(judgeBudget(planned(15), server)).toEqual({ verdict: 'fits', free: 57, left: 42 });
    const tight = judgeBudget(planned(50), server);
    expect(tight).toMatchObject({ verdict: 'tight', free: 57, left: 7 });
    const refused = judgeBudget(planned(58), server);
    expect(refused.verdict).toBe('refused');
    expect(refused).toMatchObject({
      message: expect.stringContaining(
        '58 (58 planned), but max_connections 100 − 3 reserved − 40 in use by other clients = 57 free',
      ),
    });
    expect(judgeBudget(planned(57), server).verdict).toBe('tight');
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('the connection budget against PostgreSQL', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('postgres', { DATABASE_POOL_SIZE: '10000' });
  });
  afterAll(() => t.close());

  it("reads the server's limits and the connections other clients hold", async () => {
    const s = await serverConnections(t.services.db);
    const { rows } = await sql<{ max_connections: string }>`show max_connections`.execute(t.services.db);
    expect(s.maxConnections).toBe(Number(rows[0]!.max_connections));
    expect(s.reserved).toBeGreaterThanOrEqual(0);
    expect(s.inUse).toBeGreaterThanOrEqual(0);
    expect(s.inUse).toBeLessThan(s.maxConnections);
  });

  it('refuses a pool larger than the server allows', async () => {
    const log = createLogger('silent');
    await expect(checkConnectionBudget(t.services, { api: true, worker: false }, log)).rejects.toThrow(
      /PostgreSQL cannot take the connections this process may open: 10002 \(DATABASE_POOL_SIZE 10000 \+ 2 \(submission ingester thread\)\)/,
    );
  });

  it('`postier serve` with such a pool exits at start-up with that message, before listening', async () => {
    const p = spawnPostier('serve', { env: childEnv(t, { DATABASE_POOL_SIZE: '10000', PORT: '0' }) });
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/PostgreSQL cannot take the connections this process may open: 10007/);
    expect(p.output()).toMatch(/Lower DATABASE_POOL_SIZE/);
    expect(p.output()).not.toMatch(/Postier API listening/);
  }, 60_000);
});
