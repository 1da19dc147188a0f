import { describe, expect, it } from 'vitest';
import { bucketStats, dayLabel, dayOf } from '../src/messages/stats.js';

describe('stats bucketing', () => {
  it('places an instant on the local day of the viewer', () => {
    const t = Date.UTC(2026, 1, 21, 23, 30);
    expect(dayLabel(dayOf(t, 0))).toBe('2026-02-21');
    expect(dayLabel(dayOf(t, 60 * 60_000))).toBe('2026-02-22');
    expect(dayLabel(dayOf(t, -5 * 60 * 60_000))).toBe('2026-02-21');
  });

  it('zero-fills every day of the window, oldest first, and keeps rows outside it out', () => {
    const today = dayOf(Date.UTC(2026, 1, 21, 12), 0);
    const r = bucketStats(
      [
        { day: today, status: 'delivered', n: 3 },
        { day: today, status: 'queued', n: 2 },
        { day: today - 2, status: 'failed', n: 1 },
        { day: today - 2, status: 'complaint', n: 4 },
        { day: today - 9, status: 'delivered', n: 100 },
        { day: today, status: 'not_a_status', n: 5 },
      ],
      today - 6,
      today,
    );
    expect(r.series.map((p) => p.day)).toEqual([
      '2026-02-15',
      '2026-02-16',
      '2026-02-17',
      '2026-02-18',
      '2026-02-19',
      '2026-02-20',
      '2026-02-21',
    ]);
    expect(r.series[6]).toEqual({ day: '2026-02-21', sent: 0, captured: 0, delivered: 3, bounced: 0, failed: 0 });
    expect(r.series[4]).toEqual({ day: '2026-02-19', sent: 0, captured: 0, delivered: 0, bounced: 0, failed: 1 });
    expect(r.today).toMatchObject({ delivered: 3, queued: 2, failed: 0 });
    expect(r.period).toMatchObject({ delivered: 3, queued: 2, failed: 1, complaint: 4 });
  });
});
