// MSI-X table and pending-bit array inside a memory BAR (PCI Local Bus 3.0 §6.8.2).

import { guestAddr, type GuestAddr } from '../types.js';
import type { TraceSink } from '../trace.js';
import { MaskedRegisters } from './config-space.js';

export const PCI_MSIX_ENTRY_SIZE = 16;
export const PCI_MSIX_ENTRY_LOWER_ADDR = 0x0;
export const PCI_MSIX_ENTRY_UPPER_ADDR = 0x4;
export const PCI_MSIX_ENTRY_DATA = 0x8;
export const PCI_MSIX_ENTRY_VECTOR_CTRL = 0xc;
export const PCI_MSIX_ENTRY_CTRL_MASKBIT = 0x1;

/** Where the table and PBA sit (BAR index and byte offset inside it). */
export interface MsixPlacement {
  vectors: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** The function-level state a message depends on, read live from config space. */
export interface MsixFunctionState {
  enabled(): boolean;
  functionMasked(): boolean;
  busMaster(): boolean;
}

/**
 * The vector table and PBA. A message that finds its vector or the function masked is kept
 * as a pending bit and sent, lowest vector first, once nothing masks it any more.
 */
export class MsixTable {
  private readonly table: MaskedRegisters;
  private readonly pba: Uint8Array;
  private pendingCount = 0;
  private readonly tableLen: number;

  constructor(
    private readonly at: MsixPlacement,
    private readonly fn: MsixFunctionState,
    private readonly send: (vector: number, addr: GuestAddr, data: number) => void,
    private readonly trace: TraceSink,
  ) {
    this.tableLen = at.vectors * PCI_MSIX_ENTRY_SIZE;
    this.table = new MaskedRegisters(this.tableLen);
    this.pba = new Uint8Array(Math.ceil(at.vectors / 64) * 8);
    this.reset();
  }

  get vectors(): number {
    return this.at.vectors;
  }

  /** Power-up state: every vector masked, nothing pending. */
  reset(): void {
    for (let v = 0; v < this.at.vectors; v++) {
      const e = v * PCI_MSIX_ENTRY_SIZE;
      // Dword alignment of the message address is the function's to enforce, so bits 1:0 stay 0.
      this.table.define(e + PCI_MSIX_ENTRY_LOWER_ADDR, 4, 0, 0xfffffffc);
      this.table.define(e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0, 0xffffffff);
      this.table.define(e + PCI_MSIX_ENTRY_DATA, 4, 0, 0xffffffff);
      this.table.define(e + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, PCI_MSIX_ENTRY_CTRL_MASKBIT, PCI_MSIX_ENTRY_CTRL_MASKBIT);
    }
    this.pba.fill(0);
    this.pendingCount = 0;
  }

  vectorMasked(v: number): boolean {
    return (this.table.bytes[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL]! & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
  }

  pending(v: number): boolean {
    return (this.pba[v >> 3] & (1 << (v & 7))) !== 0;
  }

  /** Signals vector v. False when MSI-X is off, v is out of range, or bus mastering is off (message dropped). */
  raise(v: number): boolean {
    if (!this.fn.enabled() || !Number.isInteger(v) || v < 0 || v >= this.at.vectors) return false;
    if (this.fn.functionMasked() || this.vectorMasked(v)) {
      if (!this.pending(v)) {
        this.pba[v >> 3] |= 1 << (v & 7);
        this.pendingCount++;
      }
      if (this.trace.enabled('pci_msix_pending')) this.trace.emit('pci_msix_pending', { vector: v });
      return true;
    }
    if (!this.fn.busMaster()) {
      if (this.trace.enabled('pci_msix_dropped')) this.trace.emit('pci_msix_dropped', { vector: v, reason: 'bus master disabled' });
      return false;
    }
    this.deliver(v);
    return true;
  }

  /** Sends every pending vector that nothing masks any more, in ascending order. */
  deliverPending(): void {
    if (this.pendingCount === 0 || !this.fn.enabled() || this.fn.functionMasked() || !this.fn.busMaster()) return;
    for (let v = 0; v < this.at.vectors && this.pendingCount > 0; v++) {
      if (!this.pending(v) || this.vectorMasked(v)) continue;
      this.pba[v >> 3] &= ~(1 << (v & 7));
      this.pendingCount--;
      this.deliver(v);
    }
  }

  private deliver(v: number): void {
    const e = v * PCI_MSIX_ENTRY_SIZE;
    const addr = guestAddr(this.table.get(e + PCI_MSIX_ENTRY_LOWER_ADDR, 4), this.table.get(e + PCI_MSIX_ENTRY_UPPER_ADDR, 4));
    const data = this.table.get(e + PCI_MSIX_ENTRY_DATA, 4);
    if (this.trace.enabled('pci_msix_deliver')) this.trace.emit('pci_msix_deliver', { vector: v, addr, data });
    this.send(v, addr, data);
  }

  /** Reads `size` bytes at `offset` in BAR `bar`; bytes outside the table and PBA read 0. */
  barRead(bar: number, offset: number, size: number): number {
    if (!this.sizeOk(offset, size)) {
      this.bad('read', bar, offset, size, undefined);
      return 0;
    }
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.byteAt(bar, offset + i);
    return v;
  }

  /** Writes through the table masks; PBA and unbacked bytes ignore writes. Unmasking sends pending vectors. */
  barWrite(bar: number, offset: number, size: number, value: number): void {
    if (!this.sizeOk(offset, size)) {
      this.bad('write', bar, offset, size, value);
      return;
    }
    let ignored = false;
    for (let i = 0; i < size; i++) {
      const t = this.tableIndex(bar, offset + i);
      if (t < 0) ignored = true;
      else this.table.write(t, 1, (value >>> (8 * i)) & 0xff);
    }
    if (ignored) this.bad('write', bar, offset, size, value);
    this.deliverPending();
  }

  private sizeOk(offset: number, size: number): boolean {
    return (size === 1 || size === 2 || size === 4) && Number.isInteger(offset) && offset >= 0 && offset % size === 0;
  }

  private tableIndex(bar: number, off: number): number {
    const t = off - this.at.tableOffset;
    return bar === this.at.tableBar && t >= 0 && t < this.tableLen ? t : -1;
  }

  private byteAt(bar: number, off: number): number {
    const t = this.tableIndex(bar, off);
    if (t >= 0) return this.table.bytes[t]!;
    const p = off - this.at.pbaOffset;
    if (bar === this.at.pbaBar && p >= 0 && p < this.pba.length) return this.pba[p]!;
    return 0;
  }

  private bad(op: 'read' | 'write', bar: number, offset: number, size: number, value: number | undefined): void {
    if (this.trace.enabled('pci_msix_bar_ignored')) this.trace.emit('pci_msix_bar_ignored', { op, bar, offset, size, value });
  }
}
