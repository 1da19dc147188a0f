import type { MetricsJson } from '../platform/metrics.js';

/**
 * Asks another thread or process for its metrics over a message channel: each question gets an
 * id, its answer comes back with it. A question unanswered after `timeoutMs` (or that could
 * not be sent: the other side is exiting) gets no metrics rather than holding up the scrape.
 */
export class MetricsAsker {
  private nextId = 0;
  private readonly waiting = new Map<number, (m: MetricsJson) => void>();

  constructor(private readonly timeoutMs: number) {}

  /** `send` posts the question with its id, in the channel's own message shape. */
  ask(send: (id: number) => void, timeoutMs = this.timeoutMs): Promise<MetricsJson> {
    return new Promise((resolve) => {
      const id = ++this.nextId;
      const timer = setTimeout(() => this.answer(id, []), timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(m);
      });
      try {
        send(id);
      } catch {
        this.answer(id, []);
      }
    });
  }

  answer(id: number, metrics: MetricsJson): void {
    this.waiting.get(id)?.(metrics);
  }

  /** The other side is gone: every open question gets no metrics. */
  answerAll(metrics: MetricsJson): void {
    for (const id of [...this.waiting.keys()]) this.answer(id, metrics);
  }
}
