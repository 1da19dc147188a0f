const MIN_MS = 1000;
const MAX_MS = 30_000;

/**
 * How long to wait before starting again something that died (the delivery thread, an HTTP
 * process): 1 s, then 2, 4… up to 30 s while it keeps dying, never giving up; back to 1 s once
 * it is up.
 */
export class RestartDelay {
  private ms = MIN_MS;

  /** The wait before this restart; the next one, if this fails too, waits twice as long. */
  next(): number {
    const ms = this.ms;
    this.ms = Math.min(MAX_MS, ms * 2);
    return ms;
  }

  /** It is up: the next failure restarts after the shortest wait again. */
  reset(): void {
    this.ms = MIN_MS;
  }
}
