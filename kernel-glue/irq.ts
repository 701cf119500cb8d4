// Interrupt handling: irq descriptors, request_irq/free_irq, hard IRQ dispatch as events, level-triggered INTx (kernel/irq/).

import { PRIO_HARDIRQ } from './clock.js';
import { EINVAL, EBUSY } from './errno.js';
import type { Kernel } from './kernel.js';
import type { PciDev } from './pci.js';

/** Handler return values (irqreturn_t). */
export const IRQ_NONE = 0;
export const IRQ_HANDLED = 1;
export const IRQ_WAKE_THREAD = 2;
/** irqreturn_t. */
export type IrqReturn = number;

/** The irq line may be shared with other devices. */
export const IRQF_SHARED = 0x80;
/** Accepted and ignored (no suspend here). */
export const IRQF_NO_SUSPEND = 0x4000;

/** A hard IRQ handler. */
export type IrqHandler = (irq: number, devId: unknown) => IrqReturn;

/** First irq number legacy INTx lines use (IO-APIC GSIs 16..19 after PCI swizzling). */
export const LEGACY_IRQ_BASE = 16;
/** First irq number handed to MSI/MSI-X vectors. */
export const MSI_IRQ_BASE = 24;

/** Consecutive "still asserted and handled" re-dispatches before we stop re-firing a level line. */
const LEVEL_STORM_LIMIT = 1000;
/**
 * Linux's note_interrupt: a line is disabled ("nobody cared") when more than 99,900 of a window
 * of 100,000 interrupts went unhandled; an unhandled interrupt more than HZ/10 after the previous
 * one restarts the unhandled count at 1.
 */
const SPURIOUS_WINDOW = 100_000;
const SPURIOUS_LIMIT = 99_900;
const SPURIOUS_GAP_NS = 100e6;

interface IrqAction {
  readonly handler: IrqHandler;
  readonly flags: number;
  readonly name: string;
  readonly devId: unknown;
  readonly owner: PciDev | null;
}

/** Kind of interrupt source behind an irq number. */
export type IrqKind = 'legacy' | 'msi' | 'msix';

/** One irq number (struct irq_desc). */
export class IrqDesc {
  /** Replaced, never mutated, so a handler freeing itself cannot disturb an ongoing dispatch. */
  actions: readonly IrqAction[] = [];
  /** Dispatches that reached handlers (/proc/interrupts). */
  count = 0;
  /** Dispatches with no handler installed. */
  spurious = 0;
  /** Dispatches where every handler said IRQ_NONE. */
  unhandled = 0;
  unhandledInRow = 0;
  /** note_interrupt's window: dispatches counted, unhandled ones in it, when the last one was. */
  irqCount = 0;
  irqsUnhandled = 0;
  lastUnhandledNs = -Infinity;
  /** disable_irq nesting. */
  depth = 0;
  /** Devices currently asserting this (level) line. */
  lineAsserters = 0;
  levelRepeat = 0;
  /** Set when the line was shut off as Linux's spurious-interrupt detector does (see SPURIOUS_LIMIT). */
  nobodyCared = false;
  scheduled = false;
  inProgress = false;
  replay = false;
  pendingWhileDisabled = false;
  readonly fire: () => void;

  constructor(
    private readonly table: IrqTable,
    readonly irq: number,
    readonly kind: IrqKind,
    readonly owner: PciDev | null,
  ) {
    this.fire = () => {
      this.scheduled = false;
      this.table.handle(this);
    };
  }
}

/** All irq descriptors of a kernel, plus the dispatch logic. */
export class IrqTable {
  private readonly descs: (IrqDesc | undefined)[] = [];
  private readonly msiFree: number[] = [];
  private nextMsi = MSI_IRQ_BASE;
  /** MSI messages whose data named no MSI irq. */
  spuriousMsi = 0;

  constructor(private readonly kernel: Kernel) {
    for (let i = 0; i < 4; i++) {
      this.descs[LEGACY_IRQ_BASE + i] = new IrqDesc(this, LEGACY_IRQ_BASE + i, 'legacy', null);
    }
  }

  get(irq: number): IrqDesc | undefined {
    return Number.isInteger(irq) && irq >= 0 ? this.descs[irq] : undefined;
  }

  /** Allocates an irq number for an MSI/MSI-X vector of `owner`. */
  allocMsi(kind: 'msi' | 'msix', owner: PciDev): number {
    const irq = this.msiFree.length > 0 ? this.msiFree.pop()! : this.nextMsi++;
    this.descs[irq] = new IrqDesc(this, irq, kind, owner);
    return irq;
  }

  /** Releases an MSI irq number; it must have no handlers left. */
  freeMsi(irq: number): void {
    const d = this.descs[irq];
    if (d === undefined || d.kind === 'legacy') throw new Error(`freeMsi: irq ${irq} is not an MSI irq`);
    if (d.scheduled) d.scheduled = false; // its pending event will find no descriptor
    this.descs[irq] = undefined;
    this.msiFree.push(irq);
    this.msiFree.sort((a, b) => b - a); // lowest number reused first, deterministically
  }

  /** Handlers requested on irqs (attributed to `owner`, or all when null). */
  countActions(owner: PciDev | null): number {
    let n = 0;
    for (const d of this.descs) {
      if (d === undefined) continue;
      for (const a of d.actions) if (owner === null || a.owner === owner) n++;
    }
    return n;
  }

  list(): { irq: number; name: string; count: number; spurious: number }[] {
    const out: { irq: number; name: string; count: number; spurious: number }[] = [];
    for (const d of this.descs) {
      if (d === undefined) continue;
      if (d.actions.length === 0 && d.count === 0 && d.spurious === 0) continue;
      out.push({ irq: d.irq, name: d.actions.map((a) => a.name).join(','), count: d.count, spurious: d.spurious });
    }
    return out;
  }

  /** Queues a hard IRQ dispatch for `desc` at the current time (coalescing like an APIC IRR bit). */
  trigger(desc: IrqDesc): void {
    if (desc.scheduled) return;
    desc.scheduled = true;
    this.kernel.clock.schedule(0, desc.fire, PRIO_HARDIRQ);
  }

  msiMessage(irq: number): void {
    const d = this.descs[irq];
    if (d === undefined || d.kind === 'legacy') {
      this.spuriousMsi++;
      const t = this.kernel.trace;
      if (t.enabled('kernel_irq_spurious')) t.emit('kernel_irq_spurious', { irq, source: 'msi' });
      return;
    }
    this.trigger(d);
  }

  /** Level change of one device's INTx contribution to a legacy line. */
  setLevel(desc: IrqDesc, asserted: boolean): void {
    desc.lineAsserters += asserted ? 1 : -1;
    if (desc.lineAsserters < 0) desc.lineAsserters = 0;
    if (desc.lineAsserters === 0) {
      desc.levelRepeat = 0;
      return;
    }
    if (!desc.nobodyCared) this.trigger(desc);
  }

  /** Runs the handlers of `desc` (hard IRQ context). */
  handle(desc: IrqDesc): void {
    const k = this.kernel;
    if (this.descs[desc.irq] !== desc) return; // freed while the event was pending
    if (desc.kind === 'legacy' && (desc.lineAsserters === 0 || desc.nobodyCared)) return;
    if (desc.depth > 0) {
      desc.pendingWhileDisabled = true;
      return;
    }
    if (desc.inProgress) {
      desc.replay = true;
      return;
    }
    const acts = desc.actions;
    if (acts.length === 0) {
      desc.spurious++;
      if (k.trace.enabled('kernel_irq_spurious')) k.trace.emit('kernel_irq_spurious', { irq: desc.irq, source: desc.kind });
      return;
    }
    desc.count++;
    desc.inProgress = true;
    const prevCtx = k.ctx;
    k.hardirqDepth++;
    let ret = IRQ_NONE;
    try {
      for (let i = 0; i < acts.length; i++) {
        const a = acts[i]!;
        k.ctx = a.owner;
        ret |= a.handler(desc.irq, a.devId);
      }
    } finally {
      k.hardirqDepth--;
      k.ctx = prevCtx;
      desc.inProgress = false;
    }
    if (ret === IRQ_NONE) {
      desc.unhandled++;
      desc.unhandledInRow++;
      const now = k.now();
      desc.irqsUnhandled = now - desc.lastUnhandledNs < SPURIOUS_GAP_NS ? desc.irqsUnhandled + 1 : 1;
      desc.lastUnhandledNs = now;
    } else desc.unhandledInRow = 0;
    if (++desc.irqCount >= SPURIOUS_WINDOW) {
      const dead = desc.irqsUnhandled > SPURIOUS_LIMIT;
      desc.irqCount = 0;
      desc.irqsUnhandled = 0;
      if (dead && desc.kind === 'legacy') {
        this.nobodyCared(desc);
        return;
      }
    }
    if (desc.kind === 'legacy') this.afterLevel(desc, ret);
    if (desc.replay) {
      desc.replay = false;
      this.trigger(desc);
    }
  }

  private nobodyCared(desc: IrqDesc): void {
    desc.nobodyCared = true;
    this.kernel.printk('err', `irq ${desc.irq}: nobody cared, disabling`);
    const t = this.kernel.trace;
    if (t.enabled('kernel_irq_nobody_cared')) t.emit('kernel_irq_nobody_cared', { irq: desc.irq });
  }

  private afterLevel(desc: IrqDesc, ret: IrqReturn): void {
    if (desc.lineAsserters === 0) return;
    const t = this.kernel.trace;
    if (ret === IRQ_NONE && desc.levelRepeat >= LEVEL_STORM_LIMIT && desc.unhandledInRow >= LEVEL_STORM_LIMIT) {
      // A line held asserted that no handler claims fires again at once, for ever: Linux's
      // detector (above) would see its 100,000-interrupt window (at most two) almost all
      // unhandled within microseconds. Skip to that end rather than dispatching them all.
      this.nobodyCared(desc);
      return;
    }
    if (++desc.levelRepeat > LEVEL_STORM_LIMIT) {
      if (t.enabled('kernel_irq_storm')) t.emit('kernel_irq_storm', { irq: desc.irq });
      return;
    }
    this.trigger(desc);
  }
}

/**
 * Installs `handler` on `irq`. Returns 0, -EINVAL (no such irq, no handler, shared without a
 * dev id) or -EBUSY (already taken without IRQF_SHARED on both sides).
 */
export function request_irq(
  kernel: Kernel,
  irq: number,
  handler: IrqHandler,
  flags: number,
  name: string,
  devId: unknown,
): number {
  const desc = kernel.irqs.get(irq);
  if (desc === undefined || typeof handler !== 'function') return -EINVAL;
  if (flags & IRQF_SHARED && (devId === null || devId === undefined)) return -EINVAL;
  if (desc.actions.length > 0) {
    const shared = (flags & IRQF_SHARED) !== 0 && desc.actions.every((a) => (a.flags & IRQF_SHARED) !== 0);
    if (!shared) return -EBUSY;
  }
  let owner = desc.owner ?? kernel.ctx;
  if (owner === null && desc.kind === 'legacy') {
    const on = kernel.pciBus.devices.filter((d) => d.legacyIrq === irq);
    if (on.length === 1) owner = on[0]!;
  }
  const first = desc.actions.length === 0;
  desc.actions = [...desc.actions, { handler, flags, name, devId, owner }];
  if (first) {
    desc.nobodyCared = false;
    desc.unhandledInRow = 0;
    desc.irqCount = 0;
    desc.irqsUnhandled = 0;
    desc.levelRepeat = 0;
    if (desc.kind === 'legacy' && desc.lineAsserters > 0) kernel.irqs.trigger(desc);
  }
  return 0;
}

/** Removes the handler installed with `devId`; returns its name. Freeing what was not requested throws. */
export function free_irq(kernel: Kernel, irq: number, devId: unknown): string {
  const desc = kernel.irqs.get(irq);
  const i = desc ? desc.actions.findIndex((a) => a.devId === devId) : -1;
  if (desc === undefined || i < 0) throw new Error(`free_irq: trying to free already-free IRQ ${irq}`);
  const name = desc.actions[i]!.name;
  desc.actions = desc.actions.filter((_, j) => j !== i);
  return name;
}

/** Masks `irq` (nesting); interrupts arriving meanwhile are replayed by enable_irq. */
export function disable_irq(kernel: Kernel, irq: number): void {
  const d = kernel.irqs.get(irq);
  if (d === undefined) throw new Error(`disable_irq: no irq ${irq}`);
  d.depth++;
}

/** Same as disable_irq: nothing runs concurrently here, so there is nothing to wait for. */
export const disable_irq_nosync = disable_irq;

/** Undoes one disable_irq; unbalanced calls throw. */
export function enable_irq(kernel: Kernel, irq: number): void {
  const d = kernel.irqs.get(irq);
  if (d === undefined) throw new Error(`enable_irq: no irq ${irq}`);
  if (d.depth === 0) throw new Error(`enable_irq: unbalanced enable for IRQ ${irq}`);
  if (--d.depth === 0 && (d.pendingWhileDisabled || (d.kind === 'legacy' && d.lineAsserters > 0))) {
    d.pendingWhileDisabled = false;
    kernel.irqs.trigger(d);
  }
}

/** Waits for running handlers of `irq`: with one simulated CPU none can be running elsewhere. */
export function synchronize_irq(_kernel: Kernel, _irq: number): void {}

/** True in hard IRQ or softirq context. */
export function in_interrupt(kernel: Kernel): boolean {
  return kernel.inAtomic();
}

/** True in hard IRQ context. */
export function in_irq(kernel: Kernel): boolean {
  return kernel.hardirqDepth > 0;
}
