import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ipcSend } from '../src/platform/ipc-send.js';

describe('ipcSend', () => {
  it('delivers to a live process', async () => {
    const child = spawn(
      process.execPath,
      ['-e', "process.on('message', (m) => process.send({ echo: m }, () => process.exit(0)))"],
      { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    const failures: Error[] = [];
    ipcSend(child, { hello: 1 }, (e) => failures.push(e));
    const [reply] = (await once(child, 'message')) as [unknown];
    expect(reply).toEqual({ echo: { hello: 1 } });
    await once(child, 'exit');
    expect(failures).toEqual([]);
  });

  it('reports a send to a process that has just died instead of raising an error event', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    await new Promise((r) => setTimeout(r, 200));
    const errorEvents: unknown[] = [];
    // Counted, not thrown: without ipcSend's callback this event would have no listener.
    child.on('error', (e) => errorEvents.push(e));
    child.kill('SIGKILL');
    // Large messages until the kernel refuses one (EPIPE), or the channel is seen closed.
    const failures: Error[] = [];
    const big = { pad: 'x'.repeat(256 * 1024) };
    for (let i = 0; i < 1000 && failures.length === 0; i++) {
      ipcSend(child, big, (e) => failures.push(e));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(failures.length).toBeGreaterThan(0);
    expect((failures[0] as NodeJS.ErrnoException).code).toMatch(/^(EPIPE|ECONNRESET|ERR_IPC_CHANNEL_CLOSED)$/);
    expect(errorEvents).toEqual([]);
  });

  it('reports a channel that does not exist', () => {
    const failures: Error[] = [];
    ipcSend({}, { x: 1 }, (e) => failures.push(e));
    expect(failures[0]?.message).toBe('no IPC channel');
  });
});
