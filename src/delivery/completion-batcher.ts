import type { MessageRow } from '../platform/db/schema.js';
import type { Completion, CompletionStore } from './process-message.js';
import type { DeliveryStore } from './store.js';

interface Pending {
  item: { message: MessageRow; owner: string; completion: Completion };
  resolve: (applied: boolean) => void;
  reject: (e: unknown) => void;
}

/**
 * Gathers the results of sends that finish within a few milliseconds of each other into one
 * transaction. better-sqlite3 commits synchronously, so without this every result would pay
 * its own fsync while the event loop waits: a few hundred messages per second at most.
 * Nobody is told "recorded" before the commit that holds their row has returned.
 */
export class CompletionBatcher implements CompletionStore {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: DeliveryStore,
    private readonly maxBatch = 100,
    private readonly maxWaitMs = 10,
  ) {}

  complete(message: MessageRow, owner: string, completion: Completion): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({ item: { message, owner, completion }, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    this.store.completeMany(batch.map((p) => p.item)).then(
      (applied) => batch.forEach((p, i) => p.resolve(applied[i]!)),
      (e: unknown) => {
        if (batch.length === 1) return batch[0]!.reject(e);
        // One result the database refuses must not take the others with it (they would stay
        // `sending` and be sent again once their leases expired): each is tried alone.
        for (const p of batch)
          this.store.completeMany([p.item]).then(
            ([applied]) => p.resolve(applied!),
            (err: unknown) => p.reject(err),
          );
      },
    );
  }
}
