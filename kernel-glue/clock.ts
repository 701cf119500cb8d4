// Kernel time: the virtual clock interface, HZ/jiffies arithmetic and event priorities (include/linux/jiffies.h).

/** An event the clock scheduled; opaque. */
export interface EventHandle {
  readonly id: number;
}

/**
 * The virtual clock the kernel runs on. The testbed's EventQueue already has this shape.
 * Ties at the same time fire lower priority first, then in scheduling order.
 */
export interface KernelClock {
  /** Current virtual time in integer nanoseconds. */
  now(): number;
  schedule(delayNs: number, cb: () => void, priority?: number): EventHandle;
  cancel(h: EventHandle): void;
  /** Fires events up to `untilNs` (leaving time there) or until `maxEvents` fired. */
  run(untilNs?: number, maxEvents?: number): number;
}

/** Timer ticks per second. */
export const HZ = 1000;
/** Nanoseconds per jiffy. */
export const NSEC_PER_JIFFY = 1_000_000;
export const NSEC_PER_USEC = 1000;
export const NSEC_PER_MSEC = 1_000_000;
export const NSEC_PER_SEC = 1_000_000_000;
export const USEC_PER_SEC = 1_000_000;

/** Event priority of hard IRQ delivery: before anything else due at the same instant. */
export const PRIO_HARDIRQ = 0;
/** Event priority of softirq processing raised from irq_exit or process context. */
export const PRIO_SOFTIRQ = 10;
/** Event priority of timer callbacks (Linux runs them in TIMER_SOFTIRQ). */
export const PRIO_TIMER = 20;
/** Event priority of workqueue items (process context, may sleep). */
export const PRIO_WORKQUEUE = 30;
/**
 * Event priority of a softirq re-raised because work was left over (ksoftirqd): it queues
 * behind timers and work due at the same instant, so a busy NAPI cannot starve them.
 */
export const PRIO_KSOFTIRQD = 30;

/** Jiffies for a nanosecond timestamp. */
export function nsToJiffies(ns: number): number {
  return Math.floor(ns / NSEC_PER_JIFFY);
}

/** Converts milliseconds to jiffies, rounding up like Linux. */
export function msecs_to_jiffies(ms: number): number {
  return Math.ceil((ms * HZ) / 1000);
}

/** Converts microseconds to jiffies, rounding up. */
export function usecs_to_jiffies(us: number): number {
  return Math.ceil((us * HZ) / USEC_PER_SEC);
}

/** Converts jiffies to milliseconds. */
export function jiffies_to_msecs(j: number): number {
  return (j * 1000) / HZ;
}

/** Converts jiffies to microseconds. */
export function jiffies_to_usecs(j: number): number {
  return (j * USEC_PER_SEC) / HZ;
}

/** True when `a` is later than `b` (jiffies never wrap here: they are doubles). */
export function time_after(a: number, b: number): boolean {
  return a > b;
}
/** True when `a` is earlier than `b`. */
export function time_before(a: number, b: number): boolean {
  return a < b;
}
/** True when `a` is later than or equal to `b`. */
export function time_after_eq(a: number, b: number): boolean {
  return a >= b;
}
/** True when `a` is earlier than or equal to `b`. */
export function time_before_eq(a: number, b: number): boolean {
  return a <= b;
}

/**
 * Rounds an absolute jiffies value to a whole second so periodic timers batch up: down when
 * within the first quarter second, up otherwise (Linux's round_jiffies without the per-CPU skew).
 */
export function round_jiffies(j: number): number {
  const rem = j % HZ;
  return rem < HZ / 4 ? j - rem : j - rem + HZ;
}

/** Rounds an absolute jiffies value up to the next whole second. */
export function round_jiffies_up(j: number): number {
  const rem = j % HZ;
  return rem === 0 ? j : j - rem + HZ;
}
