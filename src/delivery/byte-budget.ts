/**
 * Bytes shared by concurrent tasks (the delivery worker's builds and sends): acquire(n) waits
 * until n more bytes fit, first come first served. A task is always let in when no other holds
 * any, so one larger than the whole budget still runs, alone; a task of 0 bytes never waits.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: Array<{ bytes: number; resolve: (admitted: boolean) => void }> = [];

  constructor(
    readonly limit: number,
    /** Hears the bytes held and the tasks waiting after every change (metrics). */
    private readonly onChange?: (held: number, waiting: number) => void,
  ) {}

  get held(): number {
    return this.used;
  }

  /** Resolves true once the bytes are held (release them after), or false if cancel() came first. */
  acquire(bytes: number): Promise<boolean> {
    if (bytes <= 0) return Promise.resolve(true);
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      this.waiting.push({ bytes, resolve });
      this.changed();
    });
  }

  release(bytes: number): void {
    if (bytes <= 0) return;
    this.used -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.resolve(true);
    }
    this.changed();
  }

  /** Every task still waiting gets false: it never started (the worker stops). */
  cancel(): void {
    for (const w of this.waiting.splice(0)) w.resolve(false);
    this.changed();
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  private take(bytes: number): void {
    this.used += bytes;
    this.changed();
  }

  private changed(): void {
    this.onChange?.(this.used, this.waiting.length);
  }
}
