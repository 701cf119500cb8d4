// Time for a device under QEMU: the discrete-event queue, driven so its clock follows wall time.

import { EventQueue } from '../device/sim/event-queue.js';
import type { EventHandle } from '../device/host.js';

/**
 * Device events run when wall time reaches them. Entry points (a message from QEMU, a frame
 * from the backend) call `sync()` first so the device sees the current time; a timer or an
 * immediate wakes the queue for events due later.
 */
export class WallClock {
  readonly queue = new EventQueue();
  private readonly t0 = process.hrtime.bigint();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private stopped = false;

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

  /** Runs everything due by now and advances the queue's clock to wall time. */
  sync(): void {
    this.queue.run(Math.max(this.queue.now(), this.wallNs()));
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.queue.peekTime();
    if (next === undefined) return;
    const wait = next - this.wallNs();
    if (wait <= 1_000_000) {
      // Sub-millisecond: Node's timers are too coarse, so yield once to I/O and check again.
      if (!this.immediate) {
        this.immediate = setImmediate(() => {
          this.immediate = null;
          this.sync();
        });
      }
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.sync();
    }, Math.floor(wait / 1e6));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }
}
