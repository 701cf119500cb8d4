// Workqueues (struct work_struct, delayed_work; kernel/workqueue.c): process-context callbacks as clock events.

import { NSEC_PER_JIFFY, PRIO_WORKQUEUE, type EventHandle } from './clock.js';
import type { Kernel } from './kernel.js';
import type { PciDev } from './pci.js';

/** A work callback; it gets its work item. */
export type WorkFn = (work: WorkStruct) => void;

/** struct work_struct. Create with `new WorkStruct()`, then INIT_WORK. */
export class WorkStruct {
  func: WorkFn | null = null;
  kernel: Kernel | null = null;
  owner: PciDev | null = null;
  handle: EventHandle | null = null;
  running = false;
  /** Times it ran. */
  runs = 0;
  readonly fireCb: () => void;

  constructor() {
    this.fireCb = () => runWork(this);
  }
}

/** struct delayed_work: a work item queued after a delay. */
export class DelayedWork {
  readonly work = new WorkStruct();
}

function acct(w: WorkStruct, d: number): void {
  w.kernel!.globalAcct.workPending += d;
  if (w.owner) w.owner.acct.workPending += d;
}

function runWork(w: WorkStruct): void {
  const k = w.kernel!;
  w.handle = null;
  acct(w, -1);
  w.runs++;
  const prev = k.ctx;
  k.ctx = w.owner;
  w.running = true;
  try {
    w.func!(w);
  } finally {
    w.running = false;
    k.ctx = prev;
  }
}

function ready(w: WorkStruct, api: string): Kernel {
  if (w.kernel === null || w.func === null) throw new Error(`${api}: work was never initialised`);
  return w.kernel;
}

function queueAt(w: WorkStruct, delayNs: number): void {
  acct(w, 1);
  w.handle = w.kernel!.clock.schedule(delayNs, w.fireCb, PRIO_WORKQUEUE);
}

/** Binds a work item to its callback and kernel. */
export function INIT_WORK(kernel: Kernel, work: WorkStruct, fn: WorkFn): void {
  if (work.handle !== null) throw new Error('INIT_WORK: work is pending');
  work.kernel = kernel;
  work.func = fn;
  work.owner = kernel.ctx;
}

/** Binds a delayed work item; `fn` receives `dwork.work`. */
export function INIT_DELAYED_WORK(kernel: Kernel, dwork: DelayedWork, fn: WorkFn): void {
  INIT_WORK(kernel, dwork.work, fn);
}

/** Queues work on the system workqueue; false if it was already pending. */
export function schedule_work(work: WorkStruct): boolean {
  ready(work, 'schedule_work');
  if (work.handle !== null) return false;
  queueAt(work, 0);
  return true;
}

/** True while queued and not yet started. */
export function work_pending(work: WorkStruct): boolean {
  return work.handle !== null;
}

/** Dequeues pending work; returns whether it was pending. */
export function cancel_work_sync(work: WorkStruct): boolean {
  if (work.handle === null) return false;
  work.kernel!.clock.cancel(work.handle);
  work.handle = null;
  acct(work, -1);
  return true;
}

/** Waits (running the clock, like a sleep) until pending work has run. Returns whether it waited. */
export function flush_work(work: WorkStruct): boolean {
  if (work.handle === null) return false;
  const k = work.kernel!;
  if (k.inAtomic()) throw new Error('BUG: flush_work called from atomic context');
  for (let n = 0; work.handle !== null; n++) {
    if (n > 10_000_000) throw new Error('flush_work: work never ran');
    if (k.clock.run(Infinity, 1) === 0) throw new Error('flush_work: clock has no events but work is pending');
  }
  return true;
}

function jiffyDelayNs(k: Kernel, delay: number): number {
  if (delay <= 0) return 0;
  const now = k.clock.now();
  return (Math.floor(now / NSEC_PER_JIFFY) + delay) * NSEC_PER_JIFFY - now;
}

/** Queues work after `delay` jiffies; false if already pending. */
export function schedule_delayed_work(dwork: DelayedWork, delay: number): boolean {
  const k = ready(dwork.work, 'schedule_delayed_work');
  if (dwork.work.handle !== null) return false;
  queueAt(dwork.work, jiffyDelayNs(k, delay));
  return true;
}

/** (Re)queues work after `delay` jiffies; returns whether it was pending. */
export function mod_delayed_work(dwork: DelayedWork, delay: number): boolean {
  const k = ready(dwork.work, 'mod_delayed_work');
  const was = cancel_work_sync(dwork.work);
  queueAt(dwork.work, jiffyDelayNs(k, delay));
  return was;
}

/** Dequeues delayed work; returns whether it was pending. */
export function cancel_delayed_work(dwork: DelayedWork): boolean {
  return cancel_work_sync(dwork.work);
}

/** Same as cancel_delayed_work: nothing runs concurrently. */
export const cancel_delayed_work_sync = cancel_delayed_work;

/** True while queued. */
export function delayed_work_pending(dwork: DelayedWork): boolean {
  return dwork.work.handle !== null;
}

/** Runs pending delayed work now (skipping the rest of its delay) and waits for it. */
export function flush_delayed_work(dwork: DelayedWork): boolean {
  if (!cancel_work_sync(dwork.work)) return false;
  queueAt(dwork.work, 0);
  return flush_work(dwork.work);
}
