/**
 * Failed logins per client address: each failure is answered a little later than the previous
 * one, and after `maxFailures` within `lockoutMs` the address may not log in at all until
 * `lockoutMs` after its last failure. A password guesser gets a handful of tries per window, a
 * mistyped key in an application's settings a few slow refusals. Bounded: the oldest addresses
 * are forgotten first when `maxTracked` are known.
 */
export interface LoginGuardOptions {
  maxFailures: number;
  lockoutMs: number;
  /** Added to the reply delay per failure so far, up to maxDelayMs. */
  delayStepMs?: number;
  maxDelayMs?: number;
  maxTracked?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  last: number;
}

export class LoginGuard {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: LoginGuardOptions) {
    this.now = options.now ?? Date.now;
  }

  private entry(address: string): Entry | undefined {
    const e = this.entries.get(address);
    if (e && this.now() - e.last >= this.options.lockoutMs) {
      this.entries.delete(address);
      return undefined;
    }
    return e;
  }

  /** True while the address may not log in. */
  locked(address: string): boolean {
    return (this.entry(address)?.failures ?? 0) >= this.options.maxFailures;
  }

  /** Records a failure; returns how long to wait before answering it, and whether the address is now locked. */
  fail(address: string): { delayMs: number; locked: boolean } {
    const e = this.entry(address) ?? { failures: 0, last: 0 };
    e.failures++;
    e.last = this.now();
    // Re-inserted: the map's order is the order of last failure, oldest first.
    this.entries.delete(address);
    this.entries.set(address, e);
    const max = this.options.maxTracked ?? 10_000;
    for (const key of this.entries.keys()) {
      if (this.entries.size <= max) break;
      this.entries.delete(key);
    }
    const delayMs = Math.min((this.options.delayStepMs ?? 500) * e.failures, this.options.maxDelayMs ?? 5000);
    return { delayMs, locked: e.failures >= this.options.maxFailures };
  }

  succeed(address: string): void {
    this.entries.delete(address);
  }
}
