// What a process costs, from /proc: CPU time of any process, and this process's sleeps and wake-ups.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

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

/** utime + stime of a /proc/.../stat line, in microseconds. */
function statCpuUs(st: string): number {
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / ticksPerSecond();
}

/** CPU time (user + system) of a process from /proc/<pid>/stat, in microseconds; NaN when gone. */
export function procCpuUs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    return statCpuUs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
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

/**
 * CPU time of a QEMU process split by thread, in microseconds: its vCPU threads (named
 * "CPU n/TCG" or "CPU n/KVM") and everything else (the main loop, which under TCG runs device
 * back ends, TAP reads and irqfd handling, plus helpers). NaN when gone.
 */
export function qemuThreadCpuUs(pid: number | undefined): { vcpu: number; other: number } {
  if (!pid) return { vcpu: NaN, other: NaN };
  let vcpu = 0;
  let other = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const us = statCpuUs(st);
        if (/^CPU \d+\//.test(comm)) vcpu += us;
        else other += us;
      } catch {
        /* the thread ended */
      }
    }
  } catch {
    return { vcpu: NaN, other: NaN };
  }
  return { vcpu, other };
}
