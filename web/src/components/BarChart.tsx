import { type RefObject, useLayoutEffect, useRef, useState } from 'react';
import type { Stats } from '../api-types.js';
import { useI18n } from '../i18n/context.js';
import { niceScale } from '../lib/chart.js';
import { formatDay, formatDayOfMonth, formatShortDate, formatWeekday } from '../lib/format.js';

// Captured mail (no SMTP_HOST) is its own series: it reached nobody.
const SERIES = ['delivered', 'sent', 'captured', 'bounced', 'failed'] as const;

/**
 * The element's width in CSS pixels, followed as it changes. The chart is drawn in those units,
 * so its 12 px labels are 12 px on screen at any width (a fixed viewBox scaled them to ~7 px).
 */
function useWidth(initial: number): [RefObject<HTMLElement | null>, number] {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(initial);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setWidth(Math.max(240, Math.round(el.getBoundingClientRect().width)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** Sent, delivered, bounced and failed per day as grouped bars, with the numbers in a table for screen readers. */
export function BarChart({ series }: { series: Stats['series'] }) {
  const { t, lang } = useI18n();
  const [figure, W] = useWidth(640);
  const max = Math.max(0, ...series.flatMap((d) => SERIES.map((s) => d[s])));
  const scale = niceScale(max);
  const H = 220;
  const pad = { l: 40, r: 8, t: 8, b: 40 };
  const plotW = W - pad.l - pad.r;
  const plotH = H - pad.t - pad.b;
  const group = plotW / Math.max(1, series.length);
  const bar = Math.min(14, (group - 8) / SERIES.length);
  // "Nov 25" needs ~45 px at 12 px: a phone's narrower days show the day of the month only.
  const narrow = group < 56;
  const y = (v: number) => pad.t + plotH - (v / scale.max) * plotH;

  return (
    <figure className="chart" ref={figure}>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={t('dashboard.chartLabel')}
        preserveAspectRatio="xMidYMid meet"
      >
        {scale.ticks.map((v) => (
          <g key={v}>
            <line x1={pad.l} x2={W - pad.r} y1={y(v)} y2={y(v)} className="grid" />
            <text x={pad.l - 6} y={y(v) + 4} textAnchor="end" className="axis">
              {v}
            </text>
          </g>
        ))}
        {series.map((d, i) => {
          const x0 = pad.l + i * group + (group - bar * SERIES.length) / 2;
          return (
            <g key={d.day}>
              {SERIES.map((s, j) => (
                <rect
                  key={s}
                  x={x0 + j * bar}
                  y={y(d[s])}
                  width={bar - 2}
                  height={Math.max(0, pad.t + plotH - y(d[s]))}
                  className={`bar ${s}`}
                >
                  <title>{`${formatDay(d.day, lang)} · ${t(`status.${s}`)}: ${d[s]}`}</title>
                </rect>
              ))}
              {/* Weekday over date: two short lines fit a group even on a phone. */}
              <text x={pad.l + i * group + group / 2} y={H - 22} textAnchor="middle" className="axis">
                {formatWeekday(d.day, lang)}
              </text>
              <text x={pad.l + i * group + group / 2} y={H - 6} textAnchor="middle" className="axis">
                {narrow ? formatDayOfMonth(d.day, lang) : formatShortDate(d.day, lang)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {SERIES.map((s) => (
          <span key={s}>
            <i className={`swatch ${s}`} aria-hidden="true" /> {t(`status.${s}`)}
          </span>
        ))}
      </figcaption>
      <div className="sr-only">
        <table>
          <caption>{t('dashboard.chartLabel')}</caption>
          <thead>
            <tr>
              <th>{t('common.day')}</th>
              {SERIES.map((s) => (
                <th key={s}>{t(`status.${s}`)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {series.map((d) => (
              <tr key={d.day}>
                <td>{d.day}</td>
                {SERIES.map((s) => (
                  <td key={s}>{d[s]}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
