import { isIPv4, isIPv6 } from 'node:net';

/**
 * Failed logins per client: each failure is answered a little later than the previous one, and
 * after `maxFailures` within `lockoutMs` the client may not log in at all until `lockoutMs` after
 * its last failure. A password guesser gets a handful of tries per window, a mistyped key in an
 * application's settings a few slow refusals. One implementation for every door a key opens: the
 * SMTP submission listener's AUTH and the HTTP API's bearer tokens (each with its own guard).
 *
 * - A client is an IPv4 address or an IPv6 /64 (one host commonly owns a whole /64);
 *   IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, a dual-stack listener) count as IPv4.
 * - A successful login does not erase failures: they expire with their window, so holding one
 *   valid key does not buy more guesses at others.
 * - Logins under way count against the budget: at most `maxFailures` minus the failures so far
 *   are checked at once per client, the others wait for their outcome. Parallel connections do
 *   not guess more than one connection.
 * - Bounded: at most `maxTracked` clients are remembered. To make room the client whose last
 *   failure is oldest among those not locked out is forgotten; a lockout never is. When every
 *   remembered client is locked out, a client not remembered still has its key checked (a right
 *   key logs in: strangers' failures never lock out a client that made none), but its failure
 *   cannot be remembered, so it is answered after the longest delay (`remembered: false`).
 *   Whoever can fill the table holds that many addresses and gets their guesses anyway; keys
 *   are long random strings, and the admin token at least 24 characters.
 */
export interface LoginGuardOptions {
  maxFailures: number;
  lockoutMs: number;
  /** Added to the reply delay per failure so far, up to maxDelayMs. */
  delayStepMs?: number;
  maxDelayMs?: number;
  /** Clients remembered at most (10,000); briefly more when logins already under way fail. */
  maxTracked?: number;
  now?: () => number;
}

/** One login under way: ends with exactly one of fail, succeed or abandon (later calls do nothing). */
export interface LoginAttempt {
  /** The client it counts for: an IPv4 address, or an IPv6 /64 as `2001:db8:1:2::/64`. */
  readonly client: string;
  /**
   * The key was wrong: how long to wait before answering, whether the client is now locked out,
   * and whether the failure is remembered (not when the table is full of lockouts).
   */
  fail(): { delayMs: number; locked: boolean; remembered: boolean };
  /** The key was right. The client's failures stay until they expire. */
  succeed(): void;
  /** Neither: the key could not be checked (the database failed). Nothing is counted. */
  abandon(): void;
}

/** Why a login is refused before its key is looked at: the client is locked out. */
export type LoginRefusal = 'locked';

interface Entry {
  failures: number;
  last: number;
}

interface Flight {
  /** Attempts of the client under way. */
  n: number;
  /** Attempts waiting for those to end. */
  waiters: (() => void)[];
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad and a zone allowed), or null. */
function groupsOf(address: string): number[] | null {
  let s = address.replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16)));
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...left, ...Array<number>(missing).fill(0), ...right];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** An address of this machine (IPv4 127/8, ::1, or IPv4-mapped 127/8). */
export const isLoopback = (address: string): boolean =>
  address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');

/**
 * The client an address counts for: an IPv4 address as it is, an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, however written) as its IPv4 address, any other IPv6 address as its /64
 * (`2001:db8:1:2::/64`). Anything else as it is.
 */
export function loginClient(address: string): string {
  if (isIPv4(address) || !isIPv6(address)) return address;
  const g = groupsOf(address);
  if (!g) return address;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(':')}::/64`;
}

export class LoginGuard {
  /** Clients with failures, not locked out, oldest last failure first. */
  private readonly counting = new Map<string, Entry>();
  /** Clients locked out, oldest last failure first. */
  private readonly lockedOut = new Map<string, Entry>();
  private readonly flights = new Map<string, Flight>();
  private readonly now: () => number;
  private readonly maxTracked: number;

  constructor(private readonly options: LoginGuardOptions) {
    this.now = options.now ?? Date.now;
    this.maxTracked = options.maxTracked ?? 10_000;
  }

  /** Forgets the failures whose window has passed (the oldest are first in each map). */
  private expire(): void {
    const now = this.now();
    for (const map of [this.counting, this.lockedOut])
      for (const [client, e] of map) {
        if (now - e.last < this.options.lockoutMs) break;
        map.delete(client);
      }
  }

  private entry(client: string): Entry | undefined {
    const e = this.counting.get(client) ?? this.lockedOut.get(client);
    if (e && this.now() - e.last >= this.options.lockoutMs) {
      this.counting.delete(client);
      this.lockedOut.delete(client);
      return undefined;
    }
    return e;
  }

  /** True while the client of this address (its IPv6 /64) may not log in after failures. */
  locked(address: string): boolean {
    return (this.entry(loginClient(address))?.failures ?? 0) >= this.options.maxFailures;
  }

  /** How long until a login from this address may be tried again: the rest of its client's lockout, or 0. */
  retryAfterMs(address: string): number {
    this.expire();
    const e = this.entry(loginClient(address));
    return e && e.failures >= this.options.maxFailures
      ? Math.max(0, this.options.lockoutMs - (this.now() - e.last))
      : 0;
  }

  /**
   * A login from this address may have its key checked: an attempt to end with its outcome, once
   * the client's logins already under way leave room in its budget (it waits for them). A
   * refusal when the client is locked out.
   */
  async admit(address: string): Promise<LoginAttempt | LoginRefusal> {
    const client = loginClient(address);
    for (;;) {
      this.expire();
      const e = this.entry(client);
      if (e && e.failures >= this.options.maxFailures) return 'locked';
      const flight = this.flights.get(client) ?? { n: 0, waiters: [] };
      if ((e?.failures ?? 0) + flight.n < this.options.maxFailures) {
        flight.n++;
        this.flights.set(client, flight);
        return this.attempt(client, flight);
      }
      // flight.n > 0 here: it is in the map, and one of its attempts ends soon.
      await new Promise<void>((resolve) => flight.waiters.push(resolve));
    }
  }

  private attempt(client: string, flight: Flight): LoginAttempt {
    let done = false;
    const end = (): boolean => {
      if (done) return false;
      done = true;
      if (--flight.n === 0) this.flights.delete(client);
      for (const wake of flight.waiters.splice(0)) wake();
      return true;
    };
    return {
      client,
      fail: () => {
        // Recorded before the waiters wake, so they see this failure in the budget.
        const e = done ? undefined : this.record(client);
        if (!end()) return { delayMs: 0, locked: false, remembered: true };
        const maxDelayMs = this.options.maxDelayMs ?? 5000;
        if (!e) return { delayMs: maxDelayMs, locked: false, remembered: false };
        const delayMs = Math.min((this.options.delayStepMs ?? 500) * e.failures, maxDelayMs);
        return { delayMs, locked: e.failures >= this.options.maxFailures, remembered: true };
      },
      succeed: () => void end(),
      abandon: () => void end(),
    };
  }

  /** Counts a failure; undefined when the client is not remembered and every remembered client is locked out. */
  private record(client: string): Entry | undefined {
    const known = this.entry(client);
    if (!known && this.lockedOut.size >= this.maxTracked) return undefined;
    const e = known ?? { failures: 0, last: 0 };
    e.failures++;
    e.last = this.now();
    // Re-inserted: each map's order is the order of last failure, oldest first.
    this.counting.delete(client);
    this.lockedOut.delete(client);
    (e.failures >= this.options.maxFailures ? this.lockedOut : this.counting).set(client, e);
    // Room is made by forgetting the clients not locked out, oldest first; never a lockout.
    for (const key of this.counting.keys()) {
      if (this.counting.size + this.lockedOut.size <= this.maxTracked) break;
      this.counting.delete(key);
    }
    return e;
  }
}
