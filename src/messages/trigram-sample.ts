import { type Kysely, sql } from 'kysely';
import type { DB } from '../platform/db/schema.js';

/** The columns of SQLite's message_search (migration 0018). */
export type SearchColumn = 'recipient' | 'sender' | 'subject' | 'tags';

/** A trigram in more than this share of the sampled messages is common: looking it up reads a long list. */
const COMMON_SHARE = 0.02;
/** At most this many trigrams are looked up: more would narrow little and cost one list each. */
const MAX_LOOKUPS = 4;

/**
 * Plain ASCII: SQLite's LIKE folds its case as FTS5 does, so such a fragment can be tested on the
 * row itself. Only those are looked up by some of their trigrams (rarest), and search.ts tests
 * exactly those on the row: one predicate, so the two never disagree.
 */
export const isAsciiFragment = (fragment: string) => /^[\x20-\x7e]+$/.test(fragment);

/** FTS5's trigram tokenizer on ASCII text, case folded: every run of 3 characters. */
export function trigramsOf(text: string): string[] {
  const lower = text.toLowerCase();
  const out = new Set<string>();
  for (let i = 0; i + 3 <= lower.length; i++) out.add(lower.slice(i, i + 3));
  return [...out];
}

interface Sample {
  rows: number;
  counts: Record<SearchColumn, Map<string, number>>;
}

/**
 * How common each trigram is in each search column, from messages picked at random (by rowid)
 * across the whole archive, taken again after `maxAgeMs`. A fragment's FTS5 phrase reads the
 * whole list of every one of its trigrams: with most addresses made like `client…@isp….bj`, the
 * list of `cli` holds nearly every message. Looking up only the fragment's rare trigrams, then
 * testing the fragment itself on those few messages, reads short lists only. The sample only
 * chooses which trigrams to look up; what matches is decided by the fragment, never by it.
 */
export class TrigramSample {
  private sample: Sample | null = null;
  private takenAt = 0;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly opts: { rows?: number; maxAgeMs?: number } = {},
  ) {}

  /**
   * The fragment's rarest trigrams in `columns` (at most 4, each in under 2 % of the sampled
   * messages), or null: the fragment is not plain ASCII of 4 characters or more, no sample is
   * there yet (one is being taken), or all its trigrams are common (the phrase is then as good).
   */
  rarest(columns: readonly SearchColumn[], fragment: string): string[] | null {
    this.refresh();
    const s = this.sample;
    if (!s || fragment.length < 4 || !isAsciiFragment(fragment)) return null;
    const share = (t: string) => columns.reduce((n, c) => n + (s.counts[c].get(t) ?? 0), 0) / Math.max(1, s.rows);
    const rare = trigramsOf(fragment)
      .map((t) => ({ t, share: share(t) }))
      .filter((x) => x.share < COMMON_SHARE)
      .sort((a, b) => a.share - b.share)
      .slice(0, MAX_LOOKUPS)
      .map((x) => x.t);
    return rare.length > 0 ? rare : null;
  }

  /** Takes a sample in the background when there is none or it is old; never waits for it. */
  private refresh(): void {
    if (this.loading || (this.sample && Date.now() - this.takenAt < (this.opts.maxAgeMs ?? 600_000))) return;
    this.loading = this.take()
      .then((s) => {
        this.sample = s;
        this.takenAt = Date.now();
      })
      // No sample: phrases are used, as before one existed.
      .catch(() => undefined)
      .finally(() => {
        this.loading = null;
      });
  }

  /**
   * Resolves once there is a sample: at once when there is one (an old one is replaced in the
   * background), else when the first is taken (a few tens of milliseconds on a large archive).
   */
  async ready(): Promise<void> {
    this.refresh();
    if (!this.sample) await this.loading;
  }

  private async take(): Promise<Sample> {
    const range = await sql<{ lo: number | null; hi: number | null }>`
      select min(rowid) as lo, max(rowid) as hi from email_messages`.execute(this.db);
    const { lo, hi } = range.rows[0] ?? { lo: null, hi: null };
    const counts: Sample['counts'] = { recipient: new Map(), sender: new Map(), subject: new Map(), tags: new Map() };
    if (lo === null || hi === null) return { rows: 0, counts };
    const wanted = new Set<number>();
    const n = Math.min(this.opts.rows ?? 4000, hi - lo + 1);
    while (wanted.size < n) wanted.add(lo + Math.floor(Math.random() * (hi - lo + 1)));
    const rows = await sql<{
      recipient_email: string;
      from_email: string | null;
      subject: string;
      tags: string | null;
    }>`
      select recipient_email, from_email, subject, tags from email_messages
      where rowid in (${sql.join([...wanted])})`.execute(this.db);
    const add = (c: SearchColumn, text: string | null) => {
      if (text) for (const t of trigramsOf(text)) counts[c].set(t, (counts[c].get(t) ?? 0) + 1);
    };
    for (const r of rows.rows) {
      add('recipient', r.recipient_email);
      add('sender', r.from_email);
      add('subject', r.subject);
      add('tags', r.tags);
    }
    return { rows: rows.rows.length, counts };
  }
}
