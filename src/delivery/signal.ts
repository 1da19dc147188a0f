/**
 * In-process doorbell: the send path rings it after a commit that queued messages, so a worker
 * in the same process leases them at once instead of at its next poll. Workers in other
 * processes still find them by polling (WORKER_POLL_MS).
 */
export class OutboxSignal {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const fn of this.listeners) fn();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
