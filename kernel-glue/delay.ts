// Sleeping and busy-waiting (msleep, usleep_range, udelay...): virtual time advances by running the clock inline.

import { NSEC_PER_MSEC, NSEC_PER_USEC } from './clock.js';
import type { Kernel } from './kernel.js';

function sleepNs(kernel: Kernel, ns: number): void {
  const until = kernel.clock.now() + Math.max(0, Math.round(ns));
  kernel.clock.run(until);
}

/** Throws when called from hard IRQ or softirq context (Linux's might_sleep splat). */
export function might_sleep(kernel: Kernel): void {
  if (kernel.inAtomic()) {
    throw new Error('BUG: sleeping function called from invalid context (hard IRQ, softirq or timer)');
  }
}

/**
 * Sleeps `ms` milliseconds. Other events (IRQs, softirqs, timers, work) run meanwhile, as they
 * would on a CPU with interrupts enabled. Sleeping in atomic context throws.
 */
export function msleep(kernel: Kernel, ms: number): void {
  might_sleep(kernel);
  sleepNs(kernel, ms * NSEC_PER_MSEC);
}

/** Sleeps between `min` and `max` microseconds: here exactly `min`. */
export function usleep_range(kernel: Kernel, min: number, _max: number): void {
  might_sleep(kernel);
  sleepNs(kernel, min * NSEC_PER_USEC);
}

/**
 * Busy-waits `us` microseconds. Allowed in atomic context; pending events still run inline
 * (think of them as other CPUs), but an irq or softirq never re-enters itself.
 */
export function udelay(kernel: Kernel, us: number): void {
  sleepNs(kernel, us * NSEC_PER_USEC);
}

/** Busy-waits `ns` nanoseconds. */
export function ndelay(kernel: Kernel, ns: number): void {
  sleepNs(kernel, ns);
}

/** Busy-waits `ms` milliseconds. */
export function mdelay(kernel: Kernel, ms: number): void {
  sleepNs(kernel, ms * NSEC_PER_MSEC);
}
