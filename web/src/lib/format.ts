/** Formatting for the operator's locale; every date on screen goes through here. */
export function formatDateTime(iso: string | null | undefined, lang: string): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'short', timeStyle: 'medium' }).format(d);
}

export function formatDay(day: string, lang: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  return new Intl.DateTimeFormat(lang, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' }).format(d);
}

/** The two lines of a chart's day label: "Mon" and "3 Mar". */
export const formatWeekday = (day: string, lang: string): string =>
  new Intl.DateTimeFormat(lang, { weekday: 'short', timeZone: 'UTC' }).format(new Date(`${day}T00:00:00Z`));
export const formatShortDate = (day: string, lang: string): string =>
  new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(
    new Date(`${day}T00:00:00Z`),
  );
export const formatDayOfMonth = (day: string, lang: string): string =>
  new Intl.DateTimeFormat(lang, { day: 'numeric', timeZone: 'UTC' }).format(new Date(`${day}T00:00:00Z`));

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** 42 s, 5 min, 3 h 20 min, 2 d 4 h: an age at a glance. */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds == null) return '—';
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export const formatNumber = (n: number, lang: string) => new Intl.NumberFormat(lang).format(n);

/** A `<input type="date">` value as the ISO instant at the start of that local day. */
export const dayStartIso = (date: string): string => new Date(`${date}T00:00:00`).toISOString();
/** …and the start of the next local day, for an inclusive "until" date. */
export const dayEndIso = (date: string): string => {
  const d = new Date(`${date}T00:00:00`);
  d.setDate(d.getDate() + 1);
  return d.toISOString();
};
