/** A process's IPC channel: `process` in a child, a `ChildProcess` or cluster `Worker` in the parent. */
export interface IpcChannel {
  send?(message: unknown, callback: (error: Error | null) => void): boolean;
}

/**
 * Sends a message over an IPC channel, reporting a failure to `onFailure` instead of letting
 * it escape. Sent without a callback, a message to a process that has just died (its pipe
 * broken before its 'disconnect' is seen: EPIPE) becomes an 'error' event on the channel, and
 * with no listener that event ends the sending process: one API process killed would take the
 * cluster's primary, and its delivery worker, down with it.
 */
export function ipcSend(channel: IpcChannel, message: unknown, onFailure: (error: Error) => void = () => {}): void {
  if (!channel.send) return onFailure(new Error('no IPC channel'));
  // A closed channel or a broken pipe comes to the callback; what throws here is a message
  // that cannot be serialized, a bug that must not be swallowed.
  channel.send(message, (error) => error && onFailure(error));
}
