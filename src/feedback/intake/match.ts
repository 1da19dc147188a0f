/**
 * Which message a report is about: its VERP token first (signed: it cannot be forged to touch
 * another message), then our Message-ID in the returned headers. Nothing else in a report is
 * trusted to name a message; an unmatched report is kept all the same.
 */
import type { Kysely } from 'kysely';
import type { DB } from '../../platform/db/schema.js';
import { type MatchedMessage, messageByHeader, messageById } from '../apply.js';
import type { Classification } from '../types.js';

export type MatchMethod = 'verp' | 'message_id' | 'provider_id' | 'none';

export interface ReportMatch {
  message: MatchedMessage | null;
  method: MatchMethod;
}

/** `decodeVerp` gives the message id an address names, or null (see return-path.ts). */
export async function matchReport(
  db: Kysely<DB>,
  c: Classification,
  envelopeTo: string[],
  decodeVerp: (address: string) => string | null,
): Promise<ReportMatch> {
  // Where a VERP address shows: the listener's RCPT TO, the mailbox's Delivered-To / X-Original-To
  // (a report fetched by IMAP), the returned message's Return-Path.
  const addresses = [...envelopeTo, ...c.report.addressedTo, c.original.envelopeFrom].filter(
    (a): a is string => typeof a === 'string' && a.length > 0,
  );
  for (const a of addresses.slice(0, 20)) {
    const id = decodeVerp(a);
    if (!id) continue;
    const m = await messageById(db, id);
    if (m) return { message: m, method: 'verp' };
  }
  for (const candidate of c.original.messageIdCandidates.slice(0, 10)) {
    const m = await messageByHeader(db, candidate);
    if (m) return { message: m, method: 'message_id' };
  }
  return { message: null, method: 'none' };
}
