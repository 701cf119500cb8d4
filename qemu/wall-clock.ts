// Time for a device under QEMU: the discrete-event queue, driven so its clock follows wall time.

import { EventQueue } from '../device/sim/event-queue.js';
import type { EventHandle } from '../device/host.js';

/** A precise wake-up on the event loop (a timerfd that libuv polls). */
export interface WakeTimer {
  /** Fire `ns` nanoseconds from now, then every `intervalNs` (0: once); `ns` 0 disarms. */
  set(ns: number, intervalNs: number): void;
  close(): void;
}

/** Makes a wake timer that calls `onFire`, or null where there is none (no addon: Node's timers then). */
export type WakeTimerFactory = (onFire: () => void) => WakeTimer | null;

/**
 * How far ahead of wall time device events run when the clock wakes, and the period of its
 * tick while events keep coming. Events due within this window run at once instead of each
 * waiting for its own wake-up: the device's virtual clock leads wall time by at most this
 * much, its timing in virtual time is unchanged, and under traffic the server wakes about
 * once per window instead of spinning or re-arming a timer per event (timerfd_settime costs
 * about 10 us in a nested VM, as much as a frame's work).
 */
export const DEFAULT_LOOKAHEAD_NS = 200_000;
/** Ticks with nothing due before the tick stops (the queue has gone quiet). */
const IDLE_TICKS = 40;

export interface WallClockOptions {
  wakeTimer?: WakeTimerFactory;
  lookaheadNs?: number;
}

/**
 * Device events run when wall time (plus the look-ahead) reaches them. Entry points (a message
 * from QEMU, a frame from the backend) call `sync()` first so the device sees the current
 * time, and events that fall due while they run are run when their callback returns. With a
 * timerfd: while events come closer together than the look-ahead, a periodic tick (one
 * timerfd_settime to start it) wakes the loop each window; an event further off gets a one-shot
 * expiry (a tick hands over to one as soon as the next event is that far); the tick stops once
 * nothing has been due for a while. Without one (no addon), sub-millisecond waits yield to I/O
 * with setImmediate and longer ones use setTimeout.
 */
export class WallClock {
  readonly queue = new EventQueue();
  private readonly t0 = process.hrtime.bigint();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private dueQueued = false;
  /** onWake is running sync(): it arms the timer itself afterwards. */
  private inWake = false;
  private stopped = false;
  private readonly wake: WakeTimer | null;
  /** The periodic tick is running. */
  private ticking = false;
  private idleTicks = 0;
  /** Wall ns a one-shot expiry is set for (Infinity: none). */
  private oneShotAt = Infinity;
  readonly lookaheadNs: number;
  /** Times the clock woke by itself (tick, timer, immediate) to run events (tests, diagnostics). */
  wakeups = 0;
  /** timerfd_settime calls made (each costs a trap in a VM). */
  timerSets = 0;

  constructor(o: WallClockOptions = {}) {
    this.lookaheadNs = o.lookaheadNs ?? DEFAULT_LOOKAHEAD_NS;
    this.wake = o.wakeTimer?.(() => this.onWake()) ?? null;
  }

  /** Nanoseconds since the clock started. */
  wallNs(): number {
    return Number(process.hrtime.bigint() - this.t0);
  }

  now(): number {
    return this.queue.now();
  }

  schedule(delayNs: number, cb: () => void, priority?: number): EventHandle {
    const h = this.queue.schedule(delayNs, cb, priority);
    this.arm();
    return h;
  }

  cancel(h: EventHandle): void {
    this.queue.cancel(h);
  }

  /** Runs everything due by now (plus the look-ahead) and advances the queue's clock to it. */
  sync(): void {
    this.queue.run(Math.max(this.queue.now(), this.wallNs() + this.lookaheadNs));
    this.arm();
  }

  private onWake(): void {
    this.wakeups++;
    if (!this.ticking) this.oneShotAt = Infinity;
    const next = this.queue.peekTime();
    const due = next !== undefined && next - this.lookaheadNs <= this.wallNs();
    this.inWake = true;
    try {
      this.sync();
    } finally {
      this.inWake = false;
    }
    // Choose how to wake next: a periodic tick while events come closer together than a
    // window (frames at line rate), a one-shot expiry for one further off (a TSO packet's wire
    // time, an ITR interval). A tick that finds nothing due costs a wake-up (about 20 us of CPU
    // in this nested VM), a one-shot a timerfd_settime (about 10 us).
    const after = this.queue.peekTime();
    if (after === undefined) {
      // Quiet: the tick runs on a little (more traffic tends to follow), then stops.
      if (this.ticking && (due ? (this.idleTicks = 0) : ++this.idleTicks) >= IDLE_TICKS) this.setTimer(0, 0);
      return;
    }
    const wait = after - this.lookaheadNs - this.wallNs();
    if (wait <= this.lookaheadNs) {
      // Due within a window (or already, the clock having moved on while events ran).
      if (!this.ticking) this.setTimer(Math.max(1, wait), this.lookaheadNs);
      this.idleTicks = 0;
    } else if (this.ticking || this.wallNs() + wait < this.oneShotAt - this.lookaheadNs / 2) this.setTimer(wait, 0);
  }

  private setTimer(ns: number, intervalNs: number): void {
    this.timerSets++;
    this.wake!.set(ns, intervalNs);
    this.ticking = ns > 0 && intervalNs > 0;
    this.oneShotAt = ns > 0 && intervalNs === 0 ? this.wallNs() + ns : Infinity;
    this.idleTicks = 0;
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.queue.peekTime();
    if (next === undefined) return;
    const wait = next - this.lookaheadNs - this.wallNs();
    if (wait <= 0) {
      // Due already (scheduled by a message or a frame just handled): run it when the entry
      // point's callback returns, before the event loop goes back to epoll. Every callback of
      // the addon's poll runs in a callback scope that drains microtasks. A loop iteration
      // costs more than it seems here: after a sleep, the first touch of each page costs
      // microseconds in a nested VM (docs/benchmarks.md), and setImmediate is one more lap.
      this.runDue();
      return;
    }
    if (this.wake) {
      // A running tick covers every event: one fires in any window of a look-ahead's length, and
      // runs what falls due within the next. onWake decides what follows a wake-up.
      if (this.ticking || this.inWake) return;
      if (this.wallNs() + wait < this.oneShotAt - this.lookaheadNs / 2) this.setTimer(wait, 0);
      return;
    }
    if (wait <= 1_000_000) {
      // Sub-millisecond without a timerfd: Node's timers are too coarse, so yield once to I/O and check again.
      this.runSoon();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wakeups++;
      this.sync();
    }, Math.floor(wait / 1e6));
  }

  /** A sync once the current callback returns (one microtask however many events fall due). */
  private runDue(): void {
    if (this.dueQueued) return;
    this.dueQueued = true;
    queueMicrotask(() => {
      this.dueQueued = false;
      if (this.stopped) return;
      this.sync();
    });
  }

  /** Once I/O has had its turn: a sync on the next loop iteration. */
  private runSoon(): void {
    if (this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.wakeups++;
      this.sync();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.wake?.close();
    this.ticking = false;
    this.oneShotAt = Infinity;
  }
}
