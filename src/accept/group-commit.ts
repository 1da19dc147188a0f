import { oncePerTurn } from '../platform/once-per-turn.js';

interface Submission<U, R> {
  units: U[];
  resolve: (results: R[]) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Groups committing at once (each holds a pooled connection for its transaction). */
  maxInFlight: number;
  /** Most units in one group. */
  maxUnits: number;
}

/**
 * Shares one transaction among the sends that arrive together, on a database where each
 * transaction costs round trips and a commit (PostgreSQL): what SQLite's CommitQueue does for
 * its single writer, without savepoints (each costs a round trip).
 *
 * Submissions made in one event-loop turn form a group, run by `run` (which stores them in one
 * transaction and answers each unit, see SendService). At most `maxInFlight` groups run at once;
 * while they do, new submissions wait and join the next group, so under load groups grow and
 * commits get fewer, and when idle a lone send goes at once. A submission is answered only when
 * its group's `run` resolved, that is after the commit.
 */
export class GroupCommit<U, R> {
  private pending: Array<Submission<U, R>> = [];
  private inFlight = 0;
  private readonly schedule = oncePerTurn(() => this.flush());

  constructor(
    private readonly run: (units: U[]) => Promise<R[]>,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(units: U[]): Promise<R[]> {
    if (units.length === 0) return Promise.resolve([]);
    return new Promise<R[]>((resolve, reject) => {
      this.pending.push({ units, resolve, reject });
      this.schedule();
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.pending.length > 0) {
      // Whole submissions only: a batch request's units stay together.
      const group: Array<Submission<U, R>> = [];
      let n = 0;
      while (
        this.pending.length > 0 &&
        (group.length === 0 || n + this.pending[0]!.units.length <= this.options.maxUnits)
      ) {
        const s = this.pending.shift()!;
        group.push(s);
        n += s.units.length;
      }
      this.inFlight++;
      void this.commit(group);
    }
  }

  private async commit(group: Array<Submission<U, R>>): Promise<void> {
    try {
      const results = await this.run(group.flatMap((s) => s.units));
      let at = 0;
      for (const s of group) {
        s.resolve(results.slice(at, at + s.units.length));
        at += s.units.length;
      }
    } catch (error) {
      for (const s of group) s.reject(error);
    } finally {
      this.inFlight--;
      if (this.pending.length > 0) this.schedule();
    }
  }
}
