/**
 * `fn` run at the end of this event-loop turn, once however many times the result is called
 * during the turn (a doorbell rung by every commit that queued messages).
 */
export function oncePerTurn(fn: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      fn();
    });
  };
}
