// PCI configuration space: type 0 header, capability chains, per-byte write masks (PCI Local Bus 3.0 §6, PCI PM 1.2, PCIe Base 1.1 §7).

import { NULL_TRACE, type TraceSink } from '../trace.js';

// Linux names (include/uapi/linux/pci_regs.h) so offsets read the same in the model and the driver.
export const PCI_CFG_SPACE_SIZE = 0x40;
export const PCI_CFG_SPACE_EXP_SIZE = 0x1000;
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_PARITY = 0x0040;
export const PCI_COMMAND_SERR = 0x0100;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;
export const PCI_STATUS = 0x06;
export const PCI_STATUS_INTERRUPT = 0x0008;
export const PCI_STATUS_CAP_LIST = 0x0010;
export const PCI_STATUS_PARITY = 0x0100;
export const PCI_STATUS_SIG_TARGET_ABORT = 0x0800;
export const PCI_STATUS_REC_TARGET_ABORT = 0x1000;
export const PCI_STATUS_REC_MASTER_ABORT = 0x2000;
export const PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000;
export const PCI_STATUS_DETECTED_PARITY = 0x8000;
/** STATUS bits software clears by writing 1. */
export const PCI_STATUS_W1C = 0xf900;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

export const PCI_CAP_ID_PM = 0x01;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;
export const PCI_EXT_CAP_ID_ERR = 0x0001;
export const PCI_EXT_CAP_ID_DSN = 0x0003;

export const PCI_PM_PMC = 2;
export const PCI_PM_CTRL = 4;
export const PCI_PM_CTRL_STATE_MASK = 0x0003;
export const PCI_PM_CTRL_NO_SOFT_RESET = 0x0008;
export const PCI_PM_CTRL_PME_ENABLE = 0x0100;
export const PCI_PM_CTRL_PME_STATUS = 0x8000;

export const PCI_MSI_FLAGS = 2;
export const PCI_MSI_FLAGS_ENABLE = 0x0001;
export const PCI_MSI_FLAGS_QMASK = 0x000e;
export const PCI_MSI_FLAGS_QSIZE = 0x0070;
export const PCI_MSI_FLAGS_64BIT = 0x0080;
export const PCI_MSI_FLAGS_MASKBIT = 0x0100;
export const PCI_MSI_ADDRESS_LO = 4;

export const PCI_MSIX_FLAGS = 2;
export const PCI_MSIX_FLAGS_QSIZE = 0x07ff;
export const PCI_MSIX_FLAGS_MASKALL = 0x4000;
export const PCI_MSIX_FLAGS_ENABLE = 0x8000;
export const PCI_MSIX_TABLE = 4;
export const PCI_MSIX_PBA = 8;
export const PCI_MSIX_BIR = 0x7;

export const PCI_EXP_FLAGS = 0x02;
export const PCI_EXP_DEVCAP = 0x04;
export const PCI_EXP_DEVCTL = 0x08;
export const PCI_EXP_DEVSTA = 0x0a;
export const PCI_EXP_LNKCAP = 0x0c;
export const PCI_EXP_LNKCTL = 0x10;
export const PCI_EXP_LNKCTL_ASPMC = 0x0003;
export const PCI_EXP_LNKSTA = 0x12;

export const PCI_ERR_UNCOR_STATUS = 0x04;
export const PCI_ERR_UNCOR_MASK = 0x08;
export const PCI_ERR_UNCOR_SEVER = 0x0c;
export const PCI_ERR_COR_STATUS = 0x10;
export const PCI_ERR_COR_MASK = 0x14;
export const PCI_ERR_CAP = 0x18;

/** A BAR's address space: 32-bit memory, 64-bit memory (takes two BAR slots) or I/O ports. */
export type BarKind = 'mem32' | 'mem64' | 'io';
/** One BAR: its slot, kind and size in bytes (a power of two). */
export interface BarSpec {
  index: number;
  kind: BarKind;
  size: number;
  prefetchable?: boolean;
}
/** Everything that differs between PCI functions built on this model. Offsets are config-space offsets. */
export interface PciFunctionConfig {
  vendorId: number;
  deviceId: number;
  revision: number;
  /** 24-bit base class, subclass, programming interface, e.g. 0x020000. */
  classCode: number;
  subsystemVendorId: number;
  subsystemId: number;
  /** 1 = INTA .. 4 = INTD, 0 = no INTx pin. */
  interruptPin: number;
  bars: BarSpec[];
  pm?: { offset: number };
  msi?: { offset: number; vectors: 1 | 2 | 4 | 8 | 16 | 32; is64: boolean; perVectorMask: boolean };
  pcie?: { offset: number; deviceType: 'endpoint'; linkSpeed: 1 | 2; linkWidth: number; maxPayload: 128 | 256 };
  msix?: { offset: number; vectors: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number };
  /** Extended capabilities live at or above 0x100. */
  aer?: { offset: number };
  dsn?: { offset: number; serial: [number, number] };
}

/**
 * Byte registers with per-byte write and write-1-to-clear masks. Per-byte because guests may
 * touch any byte of a dword field, and the mask then decides what sticks.
 */
export class MaskedRegisters {
  readonly bytes: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;

  constructor(readonly length: number) {
    this.bytes = new Uint8Array(length);
    this.wmask = new Uint8Array(length);
    this.w1cmask = new Uint8Array(length);
  }

  /** Little-endian value of `size` bytes at `off`, unsigned; no bounds policy (callers check). */
  get(off: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.bytes[off + i]!;
    return v;
  }

  /** Device-side store that ignores the guest masks (status bits, pending bits). */
  set(off: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.bytes[off + i] = (value >>> (8 * i)) & 0xff;
  }

  /** Defines a field's reset value and which bits the guest may write or clear. */
  define(off: number, size: number, value: number, wmask = 0, w1c = 0): void {
    for (let i = 0; i < size; i++) {
      this.bytes[off + i] = (value >>> (8 * i)) & 0xff;
      this.wmask[off + i] = (wmask >>> (8 * i)) & 0xff;
      this.w1cmask[off + i] = (w1c >>> (8 * i)) & 0xff;
    }
  }

  /** A guest write through the masks. Returns the bits it tried to change but could not. */
  write(off: number, size: number, value: number): number {
    let ro = 0;
    for (let i = 0; i < size; i++) {
      const b = (value >>> (8 * i)) & 0xff;
      const old = this.bytes[off + i]!;
      const wm = this.wmask[off + i]!;
      const c = this.w1cmask[off + i]!;
      this.bytes[off + i] = ((old & ~wm) | (b & wm)) & ~(b & c);
      ro |= ((b ^ old) & ~(wm | c) & 0xff) << (8 * i);
    }
    return ro >>> 0;
  }

  clear(): void {
    this.bytes.fill(0);
    this.wmask.fill(0);
    this.w1cmask.fill(0);
  }
}

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

/**
 * The 4 KiB PCIe configuration space with the access policy hardware gives: misaligned or
 * out-of-range accesses read all-ones and drop writes; read-only bits ignore writes. Both are traced.
 */
export class ConfigSpace extends MaskedRegisters {
  constructor(private readonly trace: TraceSink = NULL_TRACE) {
    super(PCI_CFG_SPACE_EXP_SIZE);
  }

  /** True for a naturally aligned 1/2/4-byte access inside the space. */
  static valid(offset: number, size: number): boolean {
    return (
      (size === 1 || size === 2 || size === 4) &&
      Number.isInteger(offset) &&
      offset >= 0 &&
      offset + size <= PCI_CFG_SPACE_EXP_SIZE &&
      offset % size === 0
    );
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (!ConfigSpace.valid(offset, size)) {
      this.bad('read', offset, size, undefined);
      return ALL_ONES[size] ?? 0xffffffff;
    }
    return this.get(offset, size);
  }

  /** Guest write; returns false (nothing written) for a bad access. */
  writeChecked(offset: number, size: 1 | 2 | 4, value: number): boolean {
    if (!ConfigSpace.valid(offset, size)) {
      this.bad('write', offset, size, value);
      return false;
    }
    const ro = this.write(offset, size, value);
    if (ro !== 0 && this.trace.enabled('pci_config_ro_write')) {
      this.trace.emit('pci_config_ro_write', { offset, size, value: value >>> 0, ignored: ro });
    }
    return true;
  }

  private bad(op: 'read' | 'write', offset: number, size: number, value: number | undefined): void {
    if (this.trace.enabled('pci_config_bad_access')) {
      this.trace.emit('pci_config_bad_access', { op, offset, size, value });
    }
  }
}

/** Where the pieces of a laid-out config space ended up, for the function's side effects. */
export interface ConfigLayout {
  /** BAR spec per slot 0..5; the upper slot of a mem64 BAR is undefined. */
  bars: (BarSpec | undefined)[];
  pm?: number;
  msi?: { offset: number; addrHi?: number; data: number; mask?: number; pending?: number; vectorBits: number };
  pcie?: number;
  msix?: number;
  aer?: number;
  dsn?: number;
}

function isPow2(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && Number.isInteger(Math.log2(n));
}

const TWO_32 = 0x1_0000_0000;

/** Writes the power-up state of a function's config space and returns where everything went. Throws on an inconsistent config (a bug in the caller). */
export function layoutConfigSpace(s: MaskedRegisters, cfg: PciFunctionConfig): ConfigLayout {
  s.clear();
  const owner = new Uint8Array(PCI_CFG_SPACE_EXP_SIZE);
  const claim = (off: number, len: number, what: string, lo: number, hi: number): void => {
    if (off % 4 !== 0 || off < lo || off + len > hi) throw new Error(`pci: ${what} at 0x${off.toString(16)} misplaced`);
    for (let i = off; i < off + len; i++) {
      if (owner[i]) throw new Error(`pci: ${what} at 0x${off.toString(16)} overlaps another structure`);
      owner[i] = 1;
    }
  };
  const layout: ConfigLayout = { bars: [undefined, undefined, undefined, undefined, undefined, undefined] };

  s.define(PCI_VENDOR_ID, 2, cfg.vendorId);
  s.define(PCI_DEVICE_ID, 2, cfg.deviceId);
  const hasIo = cfg.bars.some((b) => b.kind === 'io');
  const hasMem = cfg.bars.some((b) => b.kind !== 'io');
  const cmdMask =
    (hasIo ? PCI_COMMAND_IO : 0) |
    (hasMem ? PCI_COMMAND_MEMORY : 0) |
    PCI_COMMAND_MASTER |
    PCI_COMMAND_PARITY |
    PCI_COMMAND_SERR |
    (cfg.interruptPin ? PCI_COMMAND_INTX_DISABLE : 0);
  s.define(PCI_COMMAND, 2, 0, cmdMask);
  s.define(PCI_REVISION_ID, 1, cfg.revision);
  s.define(PCI_CLASS_PROG, 3, cfg.classCode);
  s.define(PCI_CACHE_LINE_SIZE, 1, 0, 0xff);
  s.define(PCI_SUBSYSTEM_VENDOR_ID, 2, cfg.subsystemVendorId);
  s.define(PCI_SUBSYSTEM_ID, 2, cfg.subsystemId);
  s.define(PCI_INTERRUPT_LINE, 1, 0, 0xff);
  s.define(PCI_INTERRUPT_PIN, 1, cfg.interruptPin);

  for (const b of cfg.bars) {
    const minSize = b.kind === 'io' ? 4 : 16;
    const slots = b.kind === 'mem64' ? 2 : 1;
    if (!Number.isInteger(b.index) || b.index < 0 || b.index + slots > 6) throw new Error(`pci: BAR${b.index} index`);
    if (!isPow2(b.size) || b.size < minSize || (b.kind !== 'mem64' && b.size > 0x8000_0000)) {
      throw new Error(`pci: BAR${b.index} size ${b.size}`);
    }
    for (let i = b.index; i < b.index + slots; i++) {
      if (owner[PCI_BASE_ADDRESS_0 + 4 * i]) throw new Error(`pci: BAR${i} defined twice`);
      owner[PCI_BASE_ADDRESS_0 + 4 * i] = 1;
    }
    layout.bars[b.index] = b;
    const off = PCI_BASE_ADDRESS_0 + 4 * b.index;
    if (b.kind === 'io') {
      s.define(off, 4, 0x1, (~(b.size - 1) & ~0x3) >>> 0);
    } else {
      const type = (b.kind === 'mem64' ? 0x4 : 0) | (b.prefetchable ? 0x8 : 0);
      const lo = b.size >= TWO_32 ? 0 : (~(b.size - 1) & ~0xf) >>> 0;
      s.define(off, 4, type, lo);
      if (b.kind === 'mem64') {
        s.define(off + 4, 4, 0, b.size <= TWO_32 ? 0xffffffff : ~(b.size / TWO_32 - 1) >>> 0);
      }
    }
  }

  // Standard capabilities, chained in this fixed order whatever their offsets.
  const caps: { id: number; off: number; len: number; body: (o: number) => void }[] = [];
  if (cfg.pm) {
    caps.push({
      id: PCI_CAP_ID_PM,
      off: cfg.pm.offset,
      len: 8,
      body: (o) => {
        // Version 2 (PM 1.1), DSI, no D1/D2, no PME sources: the model never wakes the system.
        s.define(o + PCI_PM_PMC, 2, 0x0022);
        // No_Soft_Reset: D3hot -> D0 keeps state, so the host need not reset the device on it.
        s.define(o + PCI_PM_CTRL, 2, PCI_PM_CTRL_NO_SOFT_RESET, PCI_PM_CTRL_STATE_MASK | PCI_PM_CTRL_PME_ENABLE, PCI_PM_CTRL_PME_STATUS);
        layout.pm = o;
      },
    });
  }
  if (cfg.msi) {
    const m = cfg.msi;
    if (![1, 2, 4, 8, 16, 32].includes(m.vectors)) throw new Error(`pci: MSI vectors ${m.vectors}`);
    const len = (m.is64 ? 0x0e : 0x0a) + (m.perVectorMask ? 0x0a : 0);
    caps.push({
      id: PCI_CAP_ID_MSI,
      off: m.offset,
      len: (len + 3) & ~3,
      body: (o) => {
        const flags =
          (Math.log2(m.vectors) << 1) | (m.is64 ? PCI_MSI_FLAGS_64BIT : 0) | (m.perVectorMask ? PCI_MSI_FLAGS_MASKBIT : 0);
        s.define(o + PCI_MSI_FLAGS, 2, flags, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
        s.define(o + PCI_MSI_ADDRESS_LO, 4, 0, 0xfffffffc);
        const vectorBits = m.vectors === 32 ? 0xffffffff : (1 << m.vectors) - 1;
        const msi: NonNullable<ConfigLayout['msi']> = { offset: o, data: o + (m.is64 ? 0x0c : 0x08), vectorBits };
        if (m.is64) {
          msi.addrHi = o + 8;
          s.define(o + 8, 4, 0, 0xffffffff);
        }
        s.define(msi.data, 2, 0, 0xffff);
        if (m.perVectorMask) {
          msi.mask = o + (m.is64 ? 0x10 : 0x0c);
          msi.pending = msi.mask + 4;
          s.define(msi.mask, 4, 0, vectorBits);
        }
        layout.msi = msi;
      },
    });
  }
  if (cfg.pcie) {
    const p = cfg.pcie;
    if (![1, 2, 4, 8, 12, 16, 32].includes(p.linkWidth)) throw new Error(`pci: PCIe link width ${p.linkWidth}`);
    caps.push({
      id: PCI_CAP_ID_EXP,
      off: p.offset,
      len: 0x14, // v1 endpoint: through LNKSTA; slot and root registers are absent
      body: (o) => {
        s.define(o + PCI_EXP_FLAGS, 2, 0x0001); // version 1, endpoint
        // Max payload, L0s acceptable latency < 512 ns, L1 < 64 us, role-based error reporting.
        s.define(o + PCI_EXP_DEVCAP, 4, (p.maxPayload === 256 ? 1 : 0) | (3 << 6) | (6 << 9) | (1 << 15));
        // Error reporting enables, relaxed ordering, payload, aux power, no snoop, read request size.
        s.define(o + PCI_EXP_DEVCTL, 2, 0x2810, 0x7cff);
        s.define(o + PCI_EXP_DEVSTA, 2, 0, 0, 0x000f);
        // ASPM L0s|L1 supported, L0s exit < 128 ns, L1 exit < 64 us.
        s.define(o + PCI_EXP_LNKCAP, 4, (p.linkSpeed | (p.linkWidth << 4) | (3 << 10) | (1 << 12) | (6 << 15)) >>> 0);
        // ASPM control, read completion boundary, common clock, extended sync.
        s.define(o + PCI_EXP_LNKCTL, 2, 0, 0x00cb);
        s.define(o + PCI_EXP_LNKSTA, 2, p.linkSpeed | (p.linkWidth << 4) | (1 << 12));
        layout.pcie = o;
      },
    });
  }
  if (cfg.msix) {
    const x = cfg.msix;
    const tb = layout.bars[x.tableBar];
    const pb = layout.bars[x.pbaBar];
    const tableLen = x.vectors * 16;
    const pbaLen = Math.ceil(x.vectors / 64) * 8;
    if (!Number.isInteger(x.vectors) || x.vectors < 1 || x.vectors > 2048) throw new Error(`pci: MSI-X vectors ${x.vectors}`);
    if (!tb || tb.kind === 'io' || !pb || pb.kind === 'io') throw new Error('pci: MSI-X table/PBA must be in a memory BAR');
    if (x.tableOffset % 8 || x.pbaOffset % 8 || x.tableOffset + tableLen > tb.size || x.pbaOffset + pbaLen > pb.size) {
      throw new Error('pci: MSI-X table/PBA placement');
    }
    if (x.tableBar === x.pbaBar && x.tableOffset < x.pbaOffset + pbaLen && x.pbaOffset < x.tableOffset + tableLen) {
      throw new Error('pci: MSI-X table and PBA overlap');
    }
    caps.push({
      id: PCI_CAP_ID_MSIX,
      off: x.offset,
      len: 0x0c,
      body: (o) => {
        s.define(o + PCI_MSIX_FLAGS, 2, x.vectors - 1, PCI_MSIX_FLAGS_MASKALL | PCI_MSIX_FLAGS_ENABLE);
        s.define(o + PCI_MSIX_TABLE, 4, (x.tableOffset | x.tableBar) >>> 0);
        s.define(o + PCI_MSIX_PBA, 4, (x.pbaOffset | x.pbaBar) >>> 0);
        layout.msix = o;
      },
    });
  }
  for (let i = 0; i < caps.length; i++) {
    const c = caps[i]!;
    claim(c.off, c.len, `capability 0x${c.id.toString(16)}`, PCI_CFG_SPACE_SIZE, 0x100);
    s.define(c.off, 1, c.id);
    s.define(c.off + 1, 1, caps[i + 1]?.off ?? 0);
    c.body(c.off);
  }
  s.define(PCI_CAPABILITY_LIST, 1, caps[0]?.off ?? 0);
  s.define(PCI_STATUS, 2, caps.length ? PCI_STATUS_CAP_LIST : 0, 0, PCI_STATUS_W1C);

  // Extended capabilities: the chain must start at 0x100; with none, 0x100 reads 0.
  const ext: { id: number; off: number; len: number; body: (o: number) => void }[] = [];
  if (cfg.aer) {
    ext.push({
      id: PCI_EXT_CAP_ID_ERR,
      off: cfg.aer.offset,
      len: 0x2c,
      body: (o) => {
        // PCIe 1.1 endpoint error bits: DLP, poisoned TLP .. unsupported request.
        const unc = 0x001ff010;
        const cor = 0x31c1;
        s.define(o + PCI_ERR_UNCOR_STATUS, 4, 0, 0, unc);
        s.define(o + PCI_ERR_UNCOR_MASK, 4, 0, unc);
        s.define(o + PCI_ERR_UNCOR_SEVER, 4, 0x00062010, unc);
        s.define(o + PCI_ERR_COR_STATUS, 4, 0, 0, cor);
        s.define(o + PCI_ERR_COR_MASK, 4, 0x2000, cor);
        layout.aer = o;
      },
    });
  }
  if (cfg.dsn) {
    const serial = cfg.dsn.serial;
    ext.push({
      id: PCI_EXT_CAP_ID_DSN,
      off: cfg.dsn.offset,
      len: 0x0c,
      body: (o) => {
        s.define(o + 4, 4, serial[0] >>> 0);
        s.define(o + 8, 4, serial[1] >>> 0);
        layout.dsn = o;
      },
    });
  }
  if (ext.length && ext[0]!.off !== 0x100) throw new Error('pci: the extended capability chain must start at 0x100');
  for (let i = 0; i < ext.length; i++) {
    const c = ext[i]!;
    claim(c.off, c.len, `extended capability 0x${c.id.toString(16)}`, 0x100, PCI_CFG_SPACE_EXP_SIZE);
    s.define(c.off, 4, (c.id | (1 << 16) | ((ext[i + 1]?.off ?? 0) << 20)) >>> 0);
    c.body(c.off);
  }
  return layout;
}
