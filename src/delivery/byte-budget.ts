/**
 * Bytes shared by the delivery worker's builds and sends. take() says whether `bytes` more fit
 * beside what is held: anything fits when nothing is held (so one task larger than the whole
 * budget still runs, alone), and 0 bytes always fit. The worker keeps what does not fit waiting,
 * in order, and asks again as others release.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get held(): number {
    return this.used;
  }

  take(bytes: number): boolean {
    if (bytes <= 0) return true;
    if (this.used > 0 && this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    if (bytes > 0) this.used -= bytes;
  }
}
