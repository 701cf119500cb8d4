// A small fake PCI function for kernel-glue tests: config space with PM/MSI/PCIe/MSI-X capabilities and recording BARs.

import { EventQueue } from '../../device/sim/event-queue.js';
import { Kernel, type PciDeviceBackend } from '../../kernel-glue/index.js';

export interface BarSpec {
  kind: 'mem32' | 'mem64' | 'io';
  size: number;
}

export interface Access {
  bar: number;
  offset: number;
  size: number;
  write: boolean;
  value: number;
}

/** Capability offsets in the fake's config space. */
export const CAP_PM = 0xc8;
export const CAP_MSI = 0xd0;
export const CAP_PCIE = 0xe0;
export const CAP_MSIX = 0xa0;

export class FakePci implements PciDeviceBackend {
  readonly cfg = new Uint8Array(256);
  readonly wmask = new Uint8Array(256);
  readonly bars: (Uint8Array | null)[] = [null, null, null, null, null, null];
  readonly log: Access[] = [];
  configWrites = 0;

  constructor(
    opts: {
      vendor?: number;
      device?: number;
      bars?: Record<number, BarSpec>;
      msixVectors?: number;
      msixBar?: number;
      pin?: number;
    } = {},
  ) {
    const dv = new DataView(this.cfg.buffer);
    dv.setUint16(0, opts.vendor ?? 0x8086, true);
    dv.setUint16(2, opts.device ?? 0x10d3, true);
    dv.setUint32(8, 0x02000000, true); // ethernet controller, rev 0
    dv.setUint16(0x2c, 0x8086, true);
    dv.setUint16(0x2e, 0xa01f, true);
    this.cfg[0x3d] = opts.pin ?? 1;
    this.cfg[0x06] = 0x10; // capability list
    // command: IO, MEM, MASTER, INTX_DISABLE writable
    this.wmask[4] = 0x07;
    this.wmask[5] = 0x04;
    this.wmask[0x3c] = 0xff;
    const bars = opts.bars ?? { 0: { kind: 'mem32', size: 0x20000 }, 2: { kind: 'io', size: 32 }, 3: { kind: 'mem32', size: 0x4000 } };
    for (const [k, spec] of Object.entries(bars)) {
      const i = Number(k);
      const off = 0x10 + 4 * i;
      this.bars[i] = new Uint8Array(spec.size);
      if (spec.kind === 'io') {
        dv.setUint32(off, 1, true);
        dv.setUint32(off, 1, true);
        this.setMask32(off, ~(spec.size - 1) & ~3);
      } else {
        dv.setUint32(off, spec.kind === 'mem64' ? 4 : 0, true);
        this.setMask32(off, ~(spec.size - 1) & ~0xf);
        if (spec.kind === 'mem64') this.setMask32(off + 4, 0xffffffff);
      }
    }
    // Capabilities: 0x34 -> PM -> MSI -> PCIe -> MSI-X
    this.cfg[0x34] = CAP_PM;
    this.cfg[CAP_PM] = 0x01;
    this.cfg[CAP_PM + 1] = CAP_MSI;
    this.cfg[CAP_MSI] = 0x05;
    this.cfg[CAP_MSI + 1] = CAP_PCIE;
    dv.setUint16(CAP_MSI + 2, 0x0080, true); // 64-bit capable
    this.wmask[CAP_MSI + 2] = 0x71;
    for (let i = 4; i < 14; i++) this.wmask[CAP_MSI + i] = 0xff;
    this.cfg[CAP_PCIE] = 0x10;
    this.cfg[CAP_PCIE + 1] = CAP_MSIX;
    this.wmask[CAP_PCIE + 0x10] = 0xff; // LNKCTL
    this.wmask[CAP_PCIE + 0x08] = 0xff; // DEVCTL
    this.cfg[CAP_PCIE + 0x10] = 0x03; // ASPM L0s|L1 on
    this.cfg[CAP_MSIX] = 0x11;
    this.cfg[CAP_MSIX + 1] = 0;
    dv.setUint16(CAP_MSIX + 2, (opts.msixVectors ?? 5) - 1, true);
    this.wmask[CAP_MSIX + 3] = 0xc0;
    const bir = opts.msixBar ?? 3;
    dv.setUint32(CAP_MSIX + 4, bir, true); // table at offset 0
    dv.setUint32(CAP_MSIX + 8, 0x2000 | bir, true); // PBA
    // Table entries start masked.
    const tbl = this.bars[bir];
    if (tbl) for (let v = 0; v < (opts.msixVectors ?? 5); v++) tbl[v * 16 + 12] = 1;
  }

  private setMask32(off: number, m: number): void {
    new DataView(this.wmask.buffer).setUint32(off, m >>> 0, true);
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    const dv = new DataView(this.cfg.buffer);
    return size === 1 ? dv.getUint8(offset) : size === 2 ? dv.getUint16(offset, true) : dv.getUint32(offset, true);
  }

  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    this.configWrites++;
    for (let i = 0; i < size; i++) {
      const b = (value >>> (8 * i)) & 0xff;
      const m = this.wmask[offset + i]!;
      this.cfg[offset + i] = (this.cfg[offset + i]! & ~m) | (b & m);
    }
  }

  barRead(bar: number, offset: number, size: 1 | 2 | 4): number {
    const mem = this.bars[bar]!;
    const dv = new DataView(mem.buffer);
    const v = size === 1 ? dv.getUint8(offset) : size === 2 ? dv.getUint16(offset, true) : dv.getUint32(offset, true);
    this.log.push({ bar, offset, size, write: false, value: v });
    return v;
  }

  barWrite(bar: number, offset: number, size: 1 | 2 | 4, value: number): void {
    const mem = this.bars[bar]!;
    const dv = new DataView(mem.buffer);
    if (size === 1) dv.setUint8(offset, value);
    else if (size === 2) dv.setUint16(offset, value, true);
    else dv.setUint32(offset, value >>> 0, true);
    this.log.push({ bar, offset, size, write: true, value });
  }

  command(): number {
    return this.configRead(4, 2);
  }

  msixEntry(bar: number, idx: number): { addr: number; hi: number; data: number; ctrl: number } {
    const dv = new DataView(this.bars[bar]!.buffer);
    const b = idx * 16;
    return { addr: dv.getUint32(b, true), hi: dv.getUint32(b + 4, true), data: dv.getUint32(b + 8, true), ctrl: dv.getUint32(b + 12, true) };
  }

  /** Signals MSI-X vector `idx` the way a device would: reads its table entry, honours masks. */
  fireMsix(kernel: Kernel, idx: number, bar = 3): boolean {
    const ctrl = this.configRead(CAP_MSIX + 2, 2);
    if (!(ctrl & 0x8000) || ctrl & 0x4000) return false;
    const e = this.msixEntry(bar, idx);
    if (e.ctrl & 1) return false;
    kernel.msiWrite(e.addr, e.data);
    return true;
  }
}

export function makeKernel(ramBytes = 16 << 20): { q: EventQueue; k: Kernel } {
  const q = new EventQueue();
  const k = new Kernel({ clock: q, ramBytes });
  return { q, k };
}
