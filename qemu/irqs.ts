// vfio-user interrupt state: eventfds per IRQ index and vector, masks, and INTx's automasked level semantics.

import { IRQ_INTX, IRQ_MSI, IRQ_MSIX, IRQ_ERR, IRQ_REQ, PCI_NUM_IRQS } from './protocol.js';

/** Vector counts per IRQ index for the 82574L: INTx, MSI (1), MSI-X (5), ERR, REQ. */
export const IRQ_COUNTS = [1, 1, 5, 1, 1];

export interface IrqIo {
  /** Signals an eventfd (writes a u64 1). */
  signal(fd: number): void;
  closeFd(fd: number): void;
}

/** Per-connection interrupt wiring as SET_IRQS configured it. */
export class IrqState {
  readonly fds: (number | null)[][] = IRQ_COUNTS.map((n) => new Array<number | null>(n).fill(null));
  readonly masked: boolean[][] = IRQ_COUNTS.map((n) => new Array<boolean>(n).fill(false));
  readonly pending: boolean[][] = IRQ_COUNTS.map((n) => new Array<boolean>(n).fill(false));
  /** Messages delivered and dropped (no eventfd), per index. */
  readonly delivered = new Array<number>(PCI_NUM_IRQS).fill(0);
  readonly dropped = new Array<number>(PCI_NUM_IRQS).fill(0);
  private intxLevel = false;

  constructor(private readonly io: IrqIo) {}

  /** Replaces eventfds for [start, start+fds.length) of an index, closing the old ones. */
  setFds(index: number, start: number, fds: number[]): void {
    for (let i = 0; i < fds.length; i++) {
      const old = this.fds[index]![start + i];
      if (old !== null && old !== undefined) this.io.closeFd(old);
      this.fds[index]![start + i] = fds[i]!;
    }
  }

  /** Disables [start, start+count) (count 0 means the whole index). */
  disable(index: number, start: number, count: number): void {
    const n = count === 0 ? IRQ_COUNTS[index]! : count;
    const s = count === 0 ? 0 : start;
    for (let i = s; i < s + n; i++) {
      const fd = this.fds[index]![i];
      if (fd !== null && fd !== undefined) this.io.closeFd(fd);
      this.fds[index]![i] = null;
      this.masked[index]![i] = false;
      this.pending[index]![i] = false;
    }
  }

  mask(index: number, start: number, count: number): void {
    for (let i = start; i < start + count; i++) this.masked[index]![i] = true;
  }

  unmask(index: number, start: number, count: number): void {
    for (let i = start; i < start + count; i++) {
      this.masked[index]![i] = false;
      if (index === IRQ_INTX) {
        // Level-triggered: a line still asserted after the guest's EOI interrupts again.
        if (this.intxLevel) this.fire(IRQ_INTX, 0);
      } else if (this.pending[index]![i]) {
        this.pending[index]![i] = false;
        this.fire(index, i);
      }
    }
  }

  /** A message for (index, vector); false when nothing is wired to it. */
  signal(index: number, vector: number): boolean {
    if (index < 0 || index >= PCI_NUM_IRQS || vector < 0 || vector >= IRQ_COUNTS[index]!) return false;
    if (this.masked[index]![vector]) {
      this.pending[index]![vector] = true;
      return true;
    }
    return this.fire(index, vector);
  }

  /** INTx level from the device; a rising edge fires and automasks until UNMASK. */
  setIntxLevel(level: boolean): void {
    const rising = level && !this.intxLevel;
    this.intxLevel = level;
    if (rising && !this.masked[IRQ_INTX]![0]) this.fire(IRQ_INTX, 0);
  }

  private fire(index: number, vector: number): boolean {
    const fd = this.fds[index]![vector];
    if (fd === null || fd === undefined) {
      this.dropped[index]!++;
      return false;
    }
    if (index === IRQ_INTX) this.masked[IRQ_INTX]![0] = true; // automasked
    this.delivered[index]!++;
    this.io.signal(fd);
    return true;
  }

  /** Closes every eventfd (disconnect). */
  clear(): void {
    for (let i = 0; i < PCI_NUM_IRQS; i++) this.disable(i, 0, 0);
    this.intxLevel = false;
  }
}

export { IRQ_INTX, IRQ_MSI, IRQ_MSIX, IRQ_ERR, IRQ_REQ };
