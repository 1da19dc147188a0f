/** A "nice" axis maximum (1, 2, 5 × 10ⁿ) at or above the largest value, and its ticks. */
export function niceScale(max: number, ticks = 4): { max: number; ticks: number[] } {
  if (max <= 0) return { max: ticks, ticks: Array.from({ length: ticks + 1 }, (_, i) => i) };
  const rough = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(rough));
  // Counts are whole messages: never a tick step below 1.
  const step = Math.max(1, ([1, 2, 5, 10].find((m) => m * pow >= rough) ?? 10) * pow);
  const top = Math.ceil(max / step) * step;
  return { max: top, ticks: Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step) };
}
