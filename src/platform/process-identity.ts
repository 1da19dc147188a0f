import { readFileSync } from 'node:fs';

/**
 * Names a process of this host exactly: Linux's boot id and the process's start time (clock
 * ticks since boot, field 22 of /proc/PID/stat). A pid alone is not enough: in a container the
 * restarted service often gets the same pid as the one that died. null where /proc is missing.
 */
export function processIdentity(pid: number = process.pid): string | null {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: fields 3… follow the last ')'.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
    return bootId && start ? `${bootId}:${start}` : null;
  } catch {
    return null;
  }
}

/**
 * Whether the process recorded as `pid` (and `identity`, when it was known) still runs on this
 * host. Unsure answers are true: a process that is in fact gone then misses its heartbeats and
 * is found dead that way, a little later.
 */
export function processRunning(pid: number, identity: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists, under another user.
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (identity === null) return true;
  const now = processIdentity(pid);
  return now === null || now === identity;
}
