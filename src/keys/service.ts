import type { Kysely } from 'kysely';
import type { ApiKeyRow, DB } from '../platform/db/schema.js';
import { parseAllowedFrom } from '../accept/index.js';
import { AppError } from '../platform/errors.js';
import type { Principal, Scope } from '../platform/http/auth.js';
import { newId } from '../platform/ids.js';
import { iso } from '../platform/time.js';
import { generateToken, hashToken, sameHash, tokenPrefix } from './tokens.js';

export const keyView = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  scope: k.scope,
  prefix: k.token_prefix,
  allowed_from: k.allowed_from ? (JSON.parse(k.allowed_from) as string[]) : null,
  created_by: k.created_by,
  created_at: iso(k.created_at),
  last_used_at: iso(k.last_used_at),
  revoked_at: iso(k.revoked_at),
});

export class ApiKeyService {
  private readonly adminTokenHash: string | undefined;
  // Known-good hashes for a few seconds, so a busy sender costs no query per request.
  // Revocation in this process clears it at once; other processes see it within TTL_MS.
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private static readonly TTL_MS = 5000;
  private lastUsedWrites = new Map<string, number>();
  // Bumped by each revocation: a lookup that started before it may not fill the cache after it.
  private generation = 0;

  /** `adminToken`: POSTIER_ADMIN_TOKEN, an admin credential that is not a stored key. */
  constructor(
    private readonly db: Kysely<DB>,
    adminToken: string | undefined,
  ) {
    this.adminTokenHash = adminToken ? hashToken(adminToken) : undefined;
  }

  /** `allowedFrom`: the From addresses or domains the key may use (within FROM_ALLOWED_DOMAINS); absent: any of those. */
  async create(
    name: string,
    scope: Scope,
    createdBy: string | null,
    allowedFrom?: readonly string[] | null,
  ): Promise<{ token: string; key: ReturnType<typeof keyView> }> {
    const allowed = allowedFrom ? parseAllowedFrom(allowedFrom) : null;
    if (allowed !== null && allowed.length === 0) {
      throw new AppError('validation_failed', 'allowed_from: give at least one domain or address, or leave it out', {
        field: 'allowed_from',
      });
    }
    const token = generateToken();
    const row: ApiKeyRow = {
      id: newId(),
      name,
      scope,
      token_hash: hashToken(token),
      token_prefix: tokenPrefix(token),
      created_by: createdBy,
      allowed_from: allowed ? JSON.stringify(allowed) : null,
      created_at: Date.now(),
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return { token, key: keyView(row) };
  }

  async list(): Promise<ReturnType<typeof keyView>[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().orderBy('created_at', 'desc').execute();
    return rows.map(keyView);
  }

  /**
   * By id, or by token prefix when that prefix is one key's only: two keys may share a prefix
   * (36 random bits), and revoking whichever row came first could leave the leaked key working.
   * An ambiguous prefix revokes nothing (conflict, naming the keys it matches, to revoke by id).
   */
  async revoke(idOrPrefix: string): Promise<ReturnType<typeof keyView>> {
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrPrefix), eb('token_prefix', '=', idOrPrefix)]))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    // An id is a UUID and a prefix starts pst_: a key's id never equals another's prefix.
    const row = rows.find((r) => r.id === idOrPrefix) ?? (rows.length === 1 ? rows[0] : undefined);
    if (!row && rows.length > 1) {
      const matches = rows.map((r) => ({ id: r.id, name: r.name, prefix: r.token_prefix }));
      throw new AppError(
        'conflict',
        `Token prefix ${JSON.stringify(idOrPrefix)} matches ${rows.length} API keys, so none was revoked: ` +
          `${matches.map((m) => `${m.id} (${m.name})`).join(', ')}. Revoke the one you mean by its id.`,
        { reason: 'ambiguous_prefix', matches },
      );
    }
    if (!row) throw new AppError('not_found', `No API key ${JSON.stringify(idOrPrefix)}`);
    const now = row.revoked_at ?? Date.now();
    // Before and after the write: a lookup overlapping it in any way sees a change.
    this.generation++;
    await this.db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', row.id).execute();
    this.generation++;
    this.cache.clear();
    return keyView({ ...row, revoked_at: now });
  }

  async countActive(): Promise<number> {
    const r = await this.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('revoked_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    if (!token.startsWith('pst_') && !this.adminTokenHash) return undefined;
    const hash = hashToken(token);
    if (this.adminTokenHash && sameHash(hash, this.adminTokenHash)) {
      return { keyId: null, name: 'POSTIER_ADMIN_TOKEN', scope: 'admin' };
    }
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.principal;
    const generation = this.generation;
    const row = await this.db.selectFrom('api_keys').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    if (!row || row.revoked_at !== null || !sameHash(row.token_hash, hash)) return undefined;
    const principal: Principal = {
      keyId: row.id,
      name: row.name,
      scope: row.scope,
      allowedFrom: row.allowed_from ? (JSON.parse(row.allowed_from) as string[]) : null,
    };
    // A revocation while the row was read: the row may be the key before it, so it is not kept
    // (this request was checked before the revocation; the next one reads the row again).
    if (generation === this.generation) this.cache.set(hash, { principal, until: now + ApiKeyService.TTL_MS });
    this.touch(row.id, now);
    return principal;
  }

  /** last_used_at at most once a minute per key: an audit hint, not a hot-path write. */
  private touch(id: string, now: number): void {
    if ((this.lastUsedWrites.get(id) ?? 0) > now - 60_000) return;
    this.lastUsedWrites.set(id, now);
    this.db
      .updateTable('api_keys')
      .set({ last_used_at: now })
      .where('id', '=', id)
      .execute()
      .catch(() => {});
  }
}
