import { readFileSync } from 'node:fs';

/** Whether a process of this host is alive: signal 0 reaches it (EPERM: alive, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When a process started, in clock ticks since boot: field 22 of /proc/<pid>/stat (Linux; undefined elsewhere or
 * when unreadable). Field 2, the command name, may hold spaces and parentheses, so fields are counted after its last ')'.
 */
export function processStartTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) " come fields 3, 4, …: field 22 is the 20th of them.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This boot of the host (Linux), so that a pid recorded before a reboot is never mistaken for a live one. */
function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

let identity: { start: string | undefined; boot: string | undefined } | undefined;

/** This process's start time and boot id, recorded in the locks it takes (read once). */
export function processIdentity(): { start: string | undefined; boot: string | undefined } {
  identity ??= { start: processStartTime('self'), boot: bootId() };
  return identity;
}

/**
 * Whether the process a lock names still runs: `'dead'` when its pid is gone, `'reused'` when the pid runs but is
 * another process (a different boot, or a different start time than the lock recorded), else `'alive'`.
 */
export function holderAlive(pid: number, start: string | undefined, boot: string | undefined): 'alive' | 'dead' | 'reused' {
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return 'dead';
  const here = processIdentity();
  if (boot !== undefined && here.boot !== undefined && boot !== here.boot) return 'reused';
  if (start !== undefined) {
    const now = processStartTime(pid);
    if (now !== undefined && now !== start) return 'reused';
  }
  return 'alive';
}
