import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  UnknownRow,
} from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../src/keys/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/context.js';

/**
 * Holds the answer of the next read of an api_keys row (a result with token_hash) until
 * released, so that a revocation can be made to land between a lookup's read and what it does
 * with the row. It holds a pool connection while it waits: PostgreSQL only (SQLite has one
 * connection, the revocation would wait behind the held read).
 */
class HoldNextKeyRead implements KyselyPlugin {
  private armed: { reached: () => void; released: Promise<void> } | null = null;

  arm(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => {
      reached = r;
    });
    const released = new Promise<void>((r) => {
      release = r;
    });
    this.armed = { reached, released };
    return { reached: reachedP, release };
  }

  transformQuery(args: PluginTransformQueryArgs) {
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const armed = this.armed;
    if (armed && args.result.rows.some((r) => 'token_hash' in r)) {
      this.armed = null;
      armed.reached();
      await armed.released;
    }
    return args.result;
  }
}

describe.skipIf(!process.env.TEST_DATABASE_URL)(
  'a key revoked while a request with it is being checked (postgres)',
  () => {
    let d: TestDatabase;
    beforeAll(async () => {
      d = await createTestDatabase('postgres');
    });
    afterAll(() => d.close());

    it('is refused by the next request, not served from a cache filled with the row read before the revocation', async () => {
      const hold = new HoldNextKeyRead();
      const keys = new ApiKeyService(d.db.withPlugin(hold), undefined);
      const { token, key } = await keys.create('billing', 'send', null);

      // A request's lookup reads the row (not revoked yet) and is held there…
      const gate = hold.arm();
      const inFlight = keys.authenticate(token);
      await gate.reached;
      // …while the key is revoked by this same process…
      const revoked = await keys.revoke(key.id);
      expect(revoked.revoked_at).not.toBeNull();
      // …then the lookup goes on: that request was checked before the revocation.
      gate.release();
      expect((await inFlight)?.keyId).toBe(key.id);

      // The docs promise: refused at once by the process that revoked it.
      expect(await keys.authenticate(token)).toBeUndefined();
    });
  },
);
