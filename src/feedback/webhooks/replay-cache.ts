/**
 * Where a verifier remembers the one-time tokens it has accepted (Mailgun's), so a captured request
 * cannot be played again. The wiring backs it with the database (an insert that conflicts on a
 * second sight); the in-memory one serves tests and single-process setups.
 */
export interface ReplayCache {
  /**
   * Remembers `key` until `expiresAt` (epoch ms) and answers true, or answers false when it was
   * already there. Must be atomic: two concurrent calls with one key, one true.
   */
  remember(key: string, expiresAt: number): Promise<boolean> | boolean;
}

/** A bounded in-memory ReplayCache: expired keys are dropped, and the oldest when it is full. */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  remember(key: string, expiresAt: number): boolean {
    const now = this.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.maxKeys) this.prune(now);
    this.seen.delete(key);
    this.seen.set(key, expiresAt);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    for (const [k, until] of this.seen) if (until <= now) this.seen.delete(k);
    // Still full: forget the oldest entries (Map keeps insertion order).
    for (const k of this.seen.keys()) {
      if (this.seen.size < this.maxKeys) break;
      this.seen.delete(k);
    }
  }
}
