// Kernel timers (struct timer_list, kernel/time/timer.c) as clock events at jiffy boundaries.

import { NSEC_PER_JIFFY, PRIO_TIMER, type EventHandle } from './clock.js';
import type { Kernel } from './kernel.js';
import type { PciDev } from './pci.js';

/** A timer callback; it gets its timer (use a closure where Linux uses from_timer). */
export type TimerFn = (t: TimerList) => void;

/** struct timer_list. Create with `new TimerList()`, then timer_setup. */
export class TimerList {
  /** Absolute expiry in jiffies. */
  expires = 0;
  function: TimerFn | null = null;
  flags = 0;
  kernel: Kernel | null = null;
  owner: PciDev | null = null;
  /** Kernel-internal timers (the netdev TX watchdog) stay out of driver accounting. */
  internal = false;
  handle: EventHandle | null = null;
  /** Times the callback ran. */
  fired = 0;
  readonly fireCb: () => void;

  constructor() {
    this.fireCb = () => fireTimer(this);
  }
}

function acct(t: TimerList, d: number): void {
  if (t.internal) return;
  t.kernel!.globalAcct.timersPending += d;
  if (t.owner) t.owner.acct.timersPending += d;
}

function fireTimer(t: TimerList): void {
  const k = t.kernel!;
  t.handle = null;
  acct(t, -1);
  t.fired++;
  const prev = k.ctx;
  k.ctx = t.owner;
  k.softirqDepth++;
  try {
    t.function!(t);
  } finally {
    k.softirqDepth--;
    k.ctx = prev;
  }
}

/** Binds a timer to its callback and kernel. Re-initialising a pending timer throws. */
export function timer_setup(kernel: Kernel, timer: TimerList, fn: TimerFn, flags: number): void {
  if (timer.handle !== null) throw new Error('timer_setup: timer is pending');
  timer.kernel = kernel;
  timer.function = fn;
  timer.flags = flags;
  timer.owner = kernel.ctx;
}

function armed(timer: TimerList, api: string): Kernel {
  if (timer.kernel === null || timer.function === null) throw new Error(`${api}: timer was never set up`);
  return timer.kernel;
}

/**
 * (Re)arms `timer` to fire when jiffies reaches `expires` (an expiry already past fires at
 * the next tick). Returns 1 if it was pending, 0 if not.
 */
export function mod_timer(timer: TimerList, expires: number): number {
  const k = armed(timer, 'mod_timer');
  const was = timer.handle !== null;
  if (was) k.clock.cancel(timer.handle!);
  else acct(timer, 1);
  timer.expires = expires;
  const now = k.clock.now();
  const nowJ = Math.floor(now / NSEC_PER_JIFFY);
  const atJ = expires > nowJ ? expires : nowJ + 1;
  timer.handle = k.clock.schedule(atJ * NSEC_PER_JIFFY - now, timer.fireCb, PRIO_TIMER);
  return was ? 1 : 0;
}

/** Arms a timer that is not pending (arming a pending one is a bug and throws). */
export function add_timer(timer: TimerList): void {
  if (timer.handle !== null) throw new Error('add_timer: timer is already pending');
  mod_timer(timer, timer.expires);
}

/** Deactivates a timer; returns 1 if it was pending. */
export function del_timer(timer: TimerList): number {
  if (timer.handle === null) return 0;
  timer.kernel!.clock.cancel(timer.handle);
  timer.handle = null;
  acct(timer, -1);
  return 1;
}

/** Deactivates and waits for a running callback: nothing runs concurrently, so the same as del_timer. */
export const del_timer_sync = del_timer;
/** Newer name of del_timer. */
export const timer_delete = del_timer;
/** Newer name of del_timer_sync. */
export const timer_delete_sync = del_timer;
/** Deactivates for good (later arming still works here). */
export const timer_shutdown_sync = del_timer;

/** True while armed. */
export function timer_pending(timer: TimerList): boolean {
  return timer.handle !== null;
}

/** Current jiffies of `kernel`. */
export function jiffies(kernel: Kernel): number {
  return Math.floor(kernel.clock.now() / NSEC_PER_JIFFY);
}
