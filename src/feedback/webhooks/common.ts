/** What every provider's verifier and parser share: header lookup, constant-time checks, JSON reading. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { categorise } from '../category.js';
import type { BounceCategory, FeedbackEvent } from '../types.js';
import { plausibleTime } from '../untrusted.js';

/** Request headers as Node and Fastify give them (names in any case). */
export type HeaderBag = Record<string, string | string[] | undefined>;

export type VerifyFailure =
  | 'missing_credentials'
  | 'bad_credentials'
  | 'missing_signature'
  | 'bad_signature'
  | 'stale_timestamp'
  | 'replayed'
  | 'malformed';

/** A refusal says why, for the log and a machine-readable 401/403 code; never which part was close. */
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

export const ok: VerifyResult = { ok: true };
export const refuse = (reason: VerifyFailure): VerifyResult => ({ ok: false, reason });

export function header(headers: HeaderBag, name: string): string | null {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    return Array.isArray(v) ? (v[0] ?? null) : v;
  }
  return null;
}

/** Equality in time independent of where the strings differ (hashing first evens out their lengths). */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && Buffer.byteLength(a) === Buffer.byteLength(b);
}

export interface BasicCredentials {
  username: string;
  password: string;
}

/** Checks an Authorization: Basic header against the expected user and password, in constant time. */
export function checkBasicAuth(headers: HeaderBag, expected: BasicCredentials): VerifyResult {
  const value = header(headers, 'authorization');
  if (!value) return refuse('missing_credentials');
  const m = /^\s*basic\s+([A-Za-z0-9+/=._-]+)\s*$/i.exec(value);
  if (!m) return refuse('bad_credentials');
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return refuse('bad_credentials');
  // Both compared, always: no early exit telling which half was wrong.
  const user = safeEqual(decoded.slice(0, colon), expected.username);
  const pass = safeEqual(decoded.slice(colon + 1), expected.password);
  return user && pass ? ok : refuse('bad_credentials');
}

/** Checks a shared token given as Authorization: Bearer <token> or in a named header, in constant time. */
export function checkToken(headers: HeaderBag, expected: string, headerName = 'authorization'): VerifyResult {
  const value = header(headers, headerName);
  if (!value) return refuse('missing_credentials');
  const token =
    headerName.toLowerCase() === 'authorization' ? /^\s*bearer\s+(\S+)\s*$/i.exec(value)?.[1] : value.trim();
  if (!token) return refuse('bad_credentials');
  return safeEqual(token, expected) ? ok : refuse('bad_credentials');
}

type Json = Record<string, unknown>;
export const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown): string | null =>
  typeof v === 'string' && v.trim() !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : null;
export const num = (v: unknown): number | null => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : null;
};

/**
 * An ISO date, epoch seconds or epoch milliseconds to epoch milliseconds; `receivedAt` when it is
 * unreadable or could not be the event's time (1e300, before 2000, more than a day ahead).
 */
export function timeOf(v: unknown, receivedAt: number, unit: 's' | 'ms' | 'iso' = 'iso'): number {
  if (unit !== 'iso') {
    const n = num(v);
    return n === null ? receivedAt : plausibleTime(unit === 's' ? n * 1000 : n, receivedAt);
  }
  return plausibleTime(typeof v === 'string' ? Date.parse(v) : Number.NaN, receivedAt);
}

export const lowerEmail = (v: unknown): string | null => {
  const s = str(v)?.trim();
  if (!s) return null;
  const m = /<([^<>]+@[^<>]+)>/.exec(s);
  return (m?.[1] ?? s).trim().toLowerCase();
};

/** A Message-ID with its angle brackets, whether the provider gave them or not. */
export const bracketed = (v: unknown): string | null => {
  const s = str(v)?.trim();
  if (!s?.includes('@')) return null;
  return s.startsWith('<') ? s : `<${s}>`;
};

export function categoryOf(
  status: string | null,
  diagnostic: string | null,
  fallback?: BounceCategory,
): { category: BounceCategory; status: string | null } {
  const c = categorise(status, diagnostic);
  return { category: c.source === 'default' && fallback ? fallback : c.category, status: c.status };
}

export type EventInit = Omit<FeedbackEvent, 'category' | 'status' | 'diagnostic' | 'suppress' | 'final'> &
  Partial<FeedbackEvent>;

export function event(init: EventInit): FeedbackEvent {
  return { category: null, status: null, diagnostic: null, suppress: false, final: true, ...init };
}
