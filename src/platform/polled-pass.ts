/**
 * Background work done in passes: a pass runs at once when rung, else every `pollMs` (work
 * another process left, retries that came due). One pass at a time: a ring during a pass runs
 * another right after it. stop() waits for the pass in hand; none starts after it.
 */
export class PolledPass {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
    private readonly pollMs: number,
  ) {}

  start(): void {
    this.stopped = false;
    this.notify();
  }

  /** There is work: a pass now rather than at the next poll. */
  notify(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.pass()
      .then(() => undefined)
      .catch(this.onError)
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.notify();
          return;
        }
        this.timer = setTimeout(() => this.notify(), this.pollMs);
        this.timer.unref();
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** The pass running now, if one is. */
  get current(): Promise<void> | null {
    return this.running;
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
