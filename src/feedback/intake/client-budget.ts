import { isLoopback, loginClient } from '../../platform/login-guard.js';

/**
 * What one client may store through the inbound listener: INBOUND_CLIENT_MB_PER_HOUR of reports,
 * as a leaky bucket (what it stored drains away at that rate, so it may send a burst, then that
 * rate). The listener takes mail from anyone, without AUTH: without a budget, one host could fill
 * the disk at line speed with 10 MB "reports". A client over its budget gets a temporary refusal
 * at MAIL FROM (`452 4.7.1`): a real relay keeps the report in its queue and tries again later.
 *
 * A client is an IPv4 address or an IPv6 /64, as for failed logins; this machine (a local MTA in
 * front, passing reports on) has no budget. At most `maxTracked`
 * clients are remembered (the one that stored longest ago is forgotten first): bounded memory,
 * and a host would need that many addresses to get around it, which buys as much anyway.
 */
export class ClientByteBudget {
  /** Bytes stored and not yet drained, per client, oldest update first. */
  private readonly owed = new Map<string, { bytes: number; at: number }>();
  private readonly now: () => number;
  private readonly maxTracked: number;
  /** Addresses with no budget: this machine's. */
  private readonly exempt: (address: string) => boolean;

  constructor(
    private readonly bytesPerHour: number,
    options: { maxTracked?: number; now?: () => number; exempt?: (address: string) => boolean } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.exempt = options.exempt ?? isLoopback;
    this.maxTracked = options.maxTracked ?? 10_000;
  }

  private owing(client: string, now: number): number {
    const e = this.owed.get(client);
    if (!e) return 0;
    return Math.max(0, e.bytes - ((now - e.at) * this.bytesPerHour) / 3_600_000);
  }

  /** May this address send a report now? Always, without a budget (0). */
  allows(address: string): boolean {
    return (
      this.bytesPerHour === 0 ||
      this.exempt(address) ||
      this.owing(loginClient(address), this.now()) < this.bytesPerHour
    );
  }

  /** A report of `bytes` from this address was stored. */
  spend(address: string, bytes: number): void {
    if (this.bytesPerHour === 0 || this.exempt(address)) return;
    const client = loginClient(address);
    const now = this.now();
    const bytesOwed = this.owing(client, now) + bytes;
    this.owed.delete(client);
    this.owed.set(client, { bytes: bytesOwed, at: now });
    for (const key of this.owed.keys()) {
      if (this.owed.size <= this.maxTracked) break;
      this.owed.delete(key);
    }
  }
}
