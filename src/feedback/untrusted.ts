/**
 * What the public feedback routes do with values a client chose, before or without a signature
 * vouching for them: cut them short before they are echoed in an answer or a log line, store
 * their strings without the NUL characters PostgreSQL's text cannot hold (nor unpaired
 * surrogates), and keep an event's time to one that could be true (the database stores epoch
 * milliseconds; dates print with toISOString).
 */
import { SURROGATE_ESCAPE } from '../platform/json-check.js';
import { cutWhole, storable } from '../platform/storable.js';
import { DAY_MS } from '../platform/time.js';

/** The most characters of a client's value an error answer or a log line repeats. */
export const ECHO_MAX = 200;

/**
 * A client's value as text of at most `max` characters (then an ellipsis): an error answer or a
 * log line never grows with what the client sent. A value that is not text is named by its type.
 */
export function echo(v: unknown, max = ECHO_MAX): string {
  const s =
    typeof v === 'string'
      ? v
      : v === null || typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : `(${Array.isArray(v) ? 'array' : typeof v})`;
  return s.length <= max ? s : `${cutWhole(s, max)}…`;
}

/**
 * The parsed JSON `value` with every string, keys included, as the database can store it, in
 * place: a NUL character (PostgreSQL's text cannot hold one) or an unpaired surrogate (SQLite
 * would store invalid UTF-8) becomes U+FFFD, so a provider's event is kept rather than failing
 * the request. JSON carries either only as an escape (or, text parsed from a JSON string, an
 * unpaired surrogate itself): `text` (what was parsed) is searched for one first, and the value
 * walked only when there is one.
 */
export function storableStrings<T>(value: T, text: string): T {
  if (!text.includes('\\u0000') && !SURROGATE_ESCAPE.test(text) && text.isWellFormed()) return value;
  return storableValues(value);
}

/**
 * Every string of `value` (a string, or plain objects and arrays of them), keys included, as the
 * database can store it (NUL and unpaired surrogates become U+FFFD), in place.
 */
export function storableValues<T>(value: T): T {
  if (typeof value === 'string') return storable(value) as T;
  // Iterative: a body may be nested thousands deep.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    const o = v as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      const child = o[key];
      const clean = typeof child === 'string' ? storable(child) : child;
      const cleanKey = storable(key);
      if (cleanKey !== key) delete o[key];
      // defineProperty: a key named __proto__ (an own property in parsed JSON) stays a plain property.
      if (cleanKey !== key || clean !== child)
        Object.defineProperty(o, cleanKey, { value: clean, writable: true, enumerable: true, configurable: true });
      if (clean !== null && typeof clean === 'object') stack.push(clean);
    }
  }
  return value;
}

/** No relay reports feedback from before this (2000-01-01). */
const EARLIEST = Date.UTC(2000, 0, 1);
/** Clocks may be ahead by this much, no more. */
const AHEAD = DAY_MS;

/**
 * `t` (epoch ms) when it could be the time of an event received at `receivedAt`: from 2000 until a
 * day after it. Otherwise `receivedAt`: 1e300 or a date in the year 275,000 is no event's time,
 * and would fail PostgreSQL's bigint or toISOString later, on every read of the message.
 */
export function plausibleTime(t: number, receivedAt: number): number {
  return Number.isFinite(t) && t >= EARLIEST && t <= receivedAt + AHEAD ? Math.round(t) : receivedAt;
}
