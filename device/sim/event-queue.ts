// Virtual clock and discrete-event queue: integer nanoseconds, ties broken by (time, priority, sequence).

import type { EventHandle } from '../host.js';

interface QueuedEvent extends EventHandle {
  time: number;
  priority: number;
  seq: number;
  cb: (() => void) | null;
}

/**
 * A binary-heap event queue driving virtual time. Deterministic: two runs that schedule the
 * same events in the same order fire them in the same order.
 */
export class EventQueue {
  private heap: QueuedEvent[] = [];
  private seq = 0;
  private nextId = 1;
  private live = 0;
  private _now = 0;
  /** Events fired since creation (for bounded-run oracles and speed figures). */
  fired = 0;

  now(): number {
    return this._now;
  }

  /** Number of events still pending (cancelled ones excluded). */
  get pending(): number {
    return this.live;
  }

  schedule(delayNs: number, cb: () => void, priority = 0): EventHandle {
    if (!(delayNs >= 0)) delayNs = 0;
    const ev: QueuedEvent = {
      id: this.nextId++,
      time: this._now + Math.floor(delayNs),
      priority,
      seq: this.seq++,
      cb,
    };
    this.push(ev);
    this.live++;
    return ev;
  }

  /** Schedules at an absolute time (clamped to now). */
  scheduleAt(timeNs: number, cb: () => void, priority = 0): EventHandle {
    return this.schedule(Math.max(0, timeNs - this._now), cb, priority);
  }

  cancel(handle: EventHandle): void {
    const ev = handle as QueuedEvent;
    if (ev.cb !== null) {
      ev.cb = null;
      this.live--;
    }
  }

  /** Time of the next live event, or undefined when idle. */
  peekTime(): number | undefined {
    this.dropCancelled();
    return this.heap.length > 0 ? this.heap[0]!.time : undefined;
  }

  /** Fires the next event; returns false when there is none. */
  step(): boolean {
    this.dropCancelled();
    const ev = this.pop();
    if (ev === undefined) return false;
    this._now = ev.time;
    const cb = ev.cb!;
    ev.cb = null;
    this.live--;
    this.fired++;
    cb();
    return true;
  }

  /**
   * Runs events until the queue is empty, virtual time would pass `untilNs`, or `maxEvents`
   * have fired. Time is left at `untilNs` when that bound is reached. Returns events fired.
   */
  run(untilNs = Infinity, maxEvents = Infinity): number {
    let n = 0;
    while (n < maxEvents) {
      const t = this.peekTime();
      if (t === undefined || t > untilNs) break;
      this.step();
      n++;
    }
    if (untilNs !== Infinity && n < maxEvents && this._now < untilNs) this._now = untilNs;
    return n;
  }

  /** Advances by `ns` of virtual time, firing what falls due. */
  advance(ns: number, maxEvents = Infinity): number {
    return this.run(this._now + ns, maxEvents);
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cb === null) this.pop();
  }

  private less(a: QueuedEvent, b: QueuedEvent): boolean {
    if (a.time !== b.time) return a.time < b.time;
    if (a.priority !== b.priority) return a.priority < b.priority;
    return a.seq < b.seq;
  }

  private push(ev: QueuedEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!this.less(ev, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): QueuedEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        const t = h[i]!;
        h[i] = h[m]!;
        h[m] = t;
        i = m;
      }
    }
    return top;
  }
}
