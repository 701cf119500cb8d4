// What a process costs, from /proc: CPU time of any process, and this process's sleeps and wake-ups.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clkTck = 0;
/** Clock ticks per second of /proc/<pid>/stat times. */
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** CPU time (user + system) of a process from /proc/<pid>/stat, in microseconds; NaN when gone. */
export function procCpuUs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / ticksPerSecond();
  } catch {
    return NaN;
  }
}

/** This process's own CPU time in microseconds. */
export function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Voluntary context switches of this process's main (event-loop) thread: each one is a sleep
 * and a wake-up, so their rate is how often the loop woke; a spinning loop has almost none.
 */
export function ownWakeups(): number {
  try {
    const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}
