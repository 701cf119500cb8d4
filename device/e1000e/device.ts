// Intel 82574L Gigabit Ethernet controller (PCI 8086:10D3): register file, resets, NVM, PHY access and BAR routing.

import {
  REG, PCI_VENDOR_INTEL, PCI_DEVICE_82574L, CTRL_RST, CTRL_PHY_RST, CTRL_SLU, CTRL_GIO_MASTER_DISABLE,
  STATUS_FD, STATUS_LU, STATUS_TXOFF, STATUS_SPEED_1000, STATUS_ASDV_1000, STATUS_GIO_MASTER_ENABLE, STATUS_PHYRA,
  EERD_START, EERD_DONE, EERD_ADDR_SHIFT, EERD_DATA_SHIFT, MDIC_READY, MDIC_ERROR, MDIC_OP_READ, MDIC_OP_WRITE,
  MDIC_PHY_MASK, MDIC_PHY_SHIFT, MDIC_REG_MASK, MDIC_REG_SHIFT, MDIC_DATA_MASK, MDIC_INT_EN, MDIC_PHY_ADDR,
  CTRL_EXT_EE_RST, ICR_LSC, ICR_MDAC, RCTL_EN, TCTL_EN, NVM_WORDS, RCTL_LBM_MASK, RCTL_LBM_MAC,
  PACKET_BUFFER_KB,
} from './defs.js';
import { REGISTERS, REG_INDEX, MMIO_WORDS, Access, regName, type RegDef } from './registers.js';
import { buildNvmImage } from './nvm.js';
import { Phy, type PartnerPause } from './phy.js';
import { InterruptController } from './interrupts.js';
import { TxEngine } from './tx.js';
import { RxEngine } from './rx.js';
import { Stats } from './stats.js';
import { FlowControl } from './flow-control.js';
import { PciFunction, type PciFunctionConfig } from '../pci/index.js';
import type { DeviceHost, EventHandle } from '../host.js';
import type { GuestAddr } from '../types.js';
import { resolveTiming, type TimingParams } from '../sim/timing.js';

const W = (off: number): number => off >>> 2;
const CTRL = W(REG.CTRL);
const STATUS = W(REG.STATUS);
const EECD = W(REG.EECD);
const CTRL_EXT = W(REG.CTRL_EXT);
const RCTL = W(REG.RCTL);
const TCTL = W(REG.TCTL);

/** BAR numbers of the 82574L (see e1000e-82574l.md §1). */
export const BAR_MMIO = 0;
export const BAR_FLASH = 1;
export const BAR_IO = 2;
export const BAR_MSIX = 3;

/** The PCI identity and capability layout of an 82574L, as QEMU and real boards present it. */
export function e1000ePciConfig(mac: Uint8Array): PciFunctionConfig {
  return {
    vendorId: PCI_VENDOR_INTEL,
    deviceId: PCI_DEVICE_82574L,
    revision: 0,
    classCode: 0x020000,
    subsystemVendorId: PCI_VENDOR_INTEL,
    subsystemId: 0,
    interruptPin: 1,
    bars: [
      { index: 0, kind: 'mem32', size: 0x20000 },
      { index: 1, kind: 'mem32', size: 0x20000 },
      { index: 2, kind: 'io', size: 32 },
      { index: 3, kind: 'mem32', size: 0x4000 },
    ],
    pm: { offset: 0xc8 },
    msi: { offset: 0xd0, vectors: 1, is64: true, perVectorMask: false },
    pcie: { offset: 0xe0, deviceType: 'endpoint', linkSpeed: 1, linkWidth: 1, maxPayload: 256 },
    msix: { offset: 0xa0, vectors: 5, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
    aer: { offset: 0x100 },
    // The serial number is derived from the MAC, EUI-64 style, as Intel boards do.
    dsn: {
      offset: 0x140,
      serial: [
        ((mac[5]! | (mac[4]! << 8) | (mac[3]! << 16) | 0xfe000000) >>> 0),
        ((0xff | (mac[2]! << 8) | (mac[1]! << 16) | (mac[0]! << 24)) >>> 0),
      ],
    },
  };
}

/** How an E1000eDevice is made. */
export interface E1000eOptions {
  /** Station address stored in the NVM (and so in RAL0/RAH0 after reset). */
  mac: Uint8Array;
  /** Name used in trace records. */
  name?: string;
  timing?: Partial<TimingParams>;
  /** The host (QEMU's vfio-user client) emulates the MSI-X table itself. */
  msixTableInHost?: boolean;
  /** 802.3x pause the modeled link partner advertises in autonegotiation (default symmetric). */
  partnerPause?: PartnerPause;
}

/** Misbehaviour the device saw from its driver (never thrown; counted and traced). */
export interface DeviceDiag {
  unknownReads: number;
  unknownWrites: number;
  roWrites: number;
  dmaBlocked: number;
  dmaFaults: number;
  /** BAR accesses that arrived through the device's own DMA (dropped). */
  reentrantAccesses: number;
}

/**
 * One 82574L. Hosts call configRead/Write, barRead/Write, receiveFrame, setCarrier and reset;
 * the device reaches the world only through its DeviceHost.
 */
export class E1000eDevice {
  readonly mac = new Uint32Array(MMIO_WORDS);
  readonly pci: PciFunction;
  readonly phy: Phy;
  readonly irq: InterruptController;
  readonly tx: TxEngine;
  readonly rx: RxEngine;
  readonly stats: Stats;
  readonly fc: FlowControl;
  readonly name: string;
  readonly timing: TimingParams;
  readonly diag: DeviceDiag = { unknownReads: 0, unknownWrites: 0, roWrites: 0, dmaBlocked: 0, dmaFaults: 0, reentrantAccesses: 0 };
  private nvm: Uint16Array;
  private ioAddr = 0;
  private autonegEvent: EventHandle | null = null;
  private destroyed = false;

  private constructor(readonly host: DeviceHost, opts: E1000eOptions) {
    this.name = opts.name ?? 'e1000e';
    this.timing = resolveTiming(opts.timing);
    this.traceDmaRead = host.trace.enabled('e1000e_dma_read');
    this.traceDmaWrite = host.trace.enabled('e1000e_dma_write');
    this.nvm = buildNvmImage(opts.mac);
    this.pci = new PciFunction(
      e1000ePciConfig(opts.mac),
      {
        msix: (v, addr, data) => host.signalMsix(v, addr, data),
        msi: (v, addr, data) => host.signalMsi(v, addr, data),
        intx: (a) => host.setIntx(a),
      },
      host.trace,
      { msixTableInHost: opts.msixTableInHost ?? false },
    );
    this.stats = new Stats(this.mac);
    this.irq = new InterruptController(this);
    this.fc = new FlowControl(this);
    this.tx = new TxEngine(this);
    this.rx = new RxEngine(this);
    this.phy = new Phy(
      (up) => this.onPhyLink(up),
      (done) => {
        if (this.autonegEvent) host.cancel(this.autonegEvent);
        this.autonegEvent = host.schedule(this.timing.autonegNs, () => {
          this.autonegEvent = null;
          done();
        });
      },
      () => {
        if (this.autonegEvent) host.cancel(this.autonegEvent);
        this.autonegEvent = null;
      },
      opts.partnerPause ?? 'symmetric',
    );
    this.powerOnReset();
  }

  /** Creates a device in its power-on state. */
  static create(host: DeviceHost, opts: E1000eOptions): E1000eDevice {
    return new E1000eDevice(host, opts);
  }

  /** Power-on (cold) reset: PCI function, MAC, PHY. */
  reset(): void {
    this.powerOnReset();
  }

  /** Stops all activity; the device answers nothing useful afterwards. */
  destroy(): void {
    this.softReset(false);
    if (this.autonegEvent) this.host.cancel(this.autonegEvent);
    this.autonegEvent = null;
    this.destroyed = true;
  }

  private powerOnReset(): void {
    this.pci.reset();
    for (const d of REGISTERS) this.mac[W(d.offset)] = d.reset;
    this.softReset(true);
  }

  /** CTRL.RST: MAC registers to defaults except the packet buffer ones; PHY reset; NVM reload. */
  private softReset(resetPhy: boolean): void {
    for (const d of REGISTERS) if (!d.keepOnSwReset) this.mac[W(d.offset)] = d.reset;
    this.irq.reset();
    this.fc.reset();
    this.tx.reset();
    this.rx.reset();
    this.ioAddr = 0;
    this.loadMacFromNvm();
    if (resetPhy) this.phy.reset();
    this.trace('e1000e_reset', { kind: resetPhy ? 'full' : 'mac' });
  }

  /** Copies NVM words 0-2 to RAL0/RAH0 with Address Valid, as the hardware does after reset. */
  private loadMacFromNvm(): void {
    const w = this.nvm;
    this.mac[W(REG.RAL0)] = (w[0]! | (w[1]! << 16)) >>> 0;
    this.mac[W(REG.RAH0)] = (w[2]! | 0x80000000) >>> 0;
  }

  /** Cable state: a link partner is present. */
  setCarrier(present: boolean): void {
    if (this.destroyed) return;
    this.phy.setCarrier(present);
  }

  /** MAC-level link: PHY link and Set Link Up (MAC loopback needs no PHY link). */
  linkUp(): boolean {
    return (this.phy.link || this.macLoopback()) && (this.mac[CTRL]! & CTRL_SLU) !== 0;
  }

  /** RCTL.LBM = 01: transmitted frames turn around inside the MAC. */
  macLoopback(): boolean {
    return (this.mac[RCTL]! & RCTL_LBM_MASK) === RCTL_LBM_MAC;
  }

  /** PHY or MAC loopback: frames go back to the receive path, never to the wire, and the wire is not heard. */
  loopback(): boolean {
    return this.phy.loopback || this.macLoopback();
  }

  /** A transmitted frame in loopback: it arrives at the receiver once the transmit path has finished. */
  loopFrame(frame: Uint8Array): void {
    this.trace('e1000e_loopback_frame', { length: frame.length, kind: this.phy.loopback ? 'phy' : 'mac' });
    this.host.schedule(0, () => {
      if (!this.destroyed && this.loopback()) this.rx.receiveLooped(frame);
    });
  }

  msixMode(): boolean {
    return this.pci.interruptMode() === 'msix';
  }

  private onPhyLink(up: boolean): void {
    this.trace('e1000e_link', { up });
    this.irq.raise(ICR_LSC);
    if (up) this.tx.kick();
  }

  // ---- DMA, gated by Bus Master Enable ----

  /**
   * Set while one of our own DMAs is in the host's hands. A DMA aimed at the device's own BAR
   * (peer-to-peer to itself) would otherwise re-enter register handlers mid-operation without
   * bound (the QEMU CVE-2023-3019 class); such accesses are dropped and traced, as QEMU's
   * memory re-entrancy guard does.
   */
  private inDma = false;
  /** Whether the DMA trace points are on (decided once: the trace sink's patterns are fixed). */
  private traceDmaRead = false;
  private traceDmaWrite = false;

  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean {
    if (!this.pci.busMaster) {
      this.diag.dmaBlocked++;
      this.trace('e1000e_dma_blocked', { op: 'read', addr, length: dst.length });
      return false;
    }
    this.inDma = true;
    let ok: boolean;
    try {
      ok = this.host.dmaRead(addr, dst);
    } finally {
      this.inDma = false;
    }
    if (this.traceDmaRead) this.host.trace.emit('e1000e_dma_read', { dev: this.name, addr, length: dst.length, ok });
    if (ok) return true;
    this.diag.dmaFaults++;
    this.pci.setStatusBits(0x2000); // received master abort
    return false;
  }

  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    if (!this.pci.busMaster) {
      this.diag.dmaBlocked++;
      this.trace('e1000e_dma_blocked', { op: 'write', addr, length: src.length });
      return false;
    }
    this.inDma = true;
    let ok: boolean;
    try {
      ok = this.host.dmaWrite(addr, src);
    } finally {
      this.inDma = false;
    }
    if (this.traceDmaWrite) this.host.trace.emit('e1000e_dma_write', { dev: this.name, addr, length: src.length, ok });
    if (ok) return true;
    this.diag.dmaFaults++;
    this.pci.setStatusBits(0x2000);
    return false;
  }

  // ---- host-facing access surface ----

  configRead(offset: number, size: 1 | 2 | 4): number {
    return this.pci.configRead(offset, size);
  }

  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    const wasMaster = this.pci.busMaster;
    this.pci.configWrite(offset, size, value);
    // The interrupt mode may have changed: the INTx level follows ICR & IMS again.
    this.irq.refreshLevel();
    if (!wasMaster && this.pci.busMaster) {
      this.tx.kick();
      this.rx.drain();
    }
  }

  /** A frame (without FCS) arriving from the wire. */
  receiveFrame(frame: Uint8Array): void {
    if (this.destroyed) return;
    if (this.loopback()) {
      // In loopback the receiver hears only its own transmitter.
      this.rx.diag.loopbackIgnored++;
      this.trace('e1000e_rx_loopback_ignored', { length: frame.length });
      return;
    }
    this.rx.receive(frame);
  }

  /** Reads `size` bytes (1, 2, 4 or 8) at `offset` of BAR `bar`. Never throws. */
  barRead(bar: number, offset: number, size: number): number {
    if (this.inDma) {
      this.diag.reentrantAccesses++;
      this.trace('e1000e_reentrant_access', { op: 'read', bar, offset, size });
      return 0;
    }
    if (size === 8) return this.barRead(bar, offset, 4) + this.barRead(bar, offset + 4, 4) * 0x1_0000_0000;
    switch (bar) {
      case BAR_MMIO:
        return this.mmioReadSized(offset, size);
      case BAR_IO:
        if (offset === 0 && size === 4) return this.ioAddr;
        if (offset === 4 && size === 4) return this.mmioRead(this.ioAddr & 0x1fffc);
        this.trace('e1000e_io_bad_access', { offset, size });
        return 0;
      case BAR_MSIX:
        return this.pci.msixBarRead(offset, size as 1 | 2 | 4);
      default:
        this.trace('e1000e_bar_unmapped_read', { bar, offset, size });
        return 0;
    }
  }

  /** Writes `size` bytes (1, 2, 4 or 8) at `offset` of BAR `bar`. Never throws. */
  barWrite(bar: number, offset: number, size: number, value: number): void {
    if (this.inDma) {
      this.diag.reentrantAccesses++;
      this.trace('e1000e_reentrant_access', { op: 'write', bar, offset, size, value });
      return;
    }
    if (size === 8) {
      this.barWrite(bar, offset, 4, value % 0x1_0000_0000);
      this.barWrite(bar, offset + 4, 4, Math.floor(value / 0x1_0000_0000));
      return;
    }
    switch (bar) {
      case BAR_MMIO:
        this.mmioWriteSized(offset, size, value);
        return;
      case BAR_IO:
        if (offset === 0 && size === 4) this.ioAddr = value >>> 0;
        else if (offset === 4 && size === 4) this.mmioWrite(this.ioAddr & 0x1fffc, value >>> 0);
        else this.trace('e1000e_io_bad_access', { offset, size, value });
        return;
      case BAR_MSIX:
        this.pci.msixBarWrite(offset, size as 1 | 2 | 4, value);
        return;
      default:
        this.trace('e1000e_bar_unmapped_write', { bar, offset, size, value });
    }
  }

  private mmioReadSized(offset: number, size: number): number {
    if (offset < 0 || offset + size > 0x20000 || (size !== 1 && size !== 2 && size !== 4)) {
      this.trace('e1000e_mmio_bad_access', { offset, size });
      return 0;
    }
    if (size === 4 && (offset & 3) === 0) return this.mmioRead(offset);
    const word = this.mmioRead(offset & ~3);
    const shift = (offset & 3) * 8;
    return (word >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  private mmioWriteSized(offset: number, size: number, value: number): void {
    if (offset < 0 || offset + size > 0x20000 || (size !== 1 && size !== 2 && size !== 4)) {
      this.trace('e1000e_mmio_bad_access', { offset, size, value });
      return;
    }
    if (size === 4 && (offset & 3) === 0) {
      this.mmioWrite(offset, value >>> 0);
      return;
    }
    // Sub-dword writes merge into the stored value (no read side effects).
    const aligned = offset & ~3;
    const shift = (offset & 3) * 8;
    const mask = (size === 1 ? 0xff : 0xffff) << shift;
    const merged = ((this.mac[W(aligned)]! & ~mask) | ((value << shift) & mask)) >>> 0;
    this.mmioWrite(aligned, merged);
  }

  private trace(point: string, fields: Record<string, unknown>): void {
    const t = this.host.trace;
    if (t.enabled(point)) t.emit(point, { dev: this.name, ...fields });
  }

  /** Register read at a dword-aligned offset of BAR 0. */
  mmioRead(offset: number): number {
    const w = W(offset);
    const i = REG_INDEX[w] ?? -1;
    if (i < 0) {
      this.diag.unknownReads++;
      this.trace('e1000e_reg_unknown_read', { offset });
      return 0;
    }
    const def = REGISTERS[i]!;
    let v: number;
    switch (offset) {
      case REG.ICR:
        v = this.irq.readIcr();
        break;
      case REG.ICS:
        v = this.mac[W(REG.ICR)]!; // QEMU returns ICR here (VxWorks relies on it)
        break;
      case REG.STATUS:
        v = this.readStatus();
        break;
      case REG.PBA: {
        // RXA is the driver's; TXA (31:16, read-only) is what is left of the 40 KB packet buffer.
        const rxa = this.mac[W(REG.PBA)]! & 0xffff;
        v = (rxa | (Math.max(0, PACKET_BUFFER_KB - rxa) << 16)) >>> 0;
        break;
      }
      case REG.EECD:
        v = this.mac[EECD]!;
        v = (v & ~0x80) | ((v & 0x40) << 1); // GNT follows REQ: no other NVM master
        break;
      default:
        v = this.mac[w]!;
        if (def.access === Access.RC) this.mac[w] = 0;
        else if (def.access === Access.WO) {
          this.trace('e1000e_reg_wo_read', { reg: def.name });
          v = 0;
        }
    }
    const t = this.host.trace;
    if (t.enabled('e1000e_reg_read')) t.emit('e1000e_reg_read', { dev: this.name, reg: def.name, value: v >>> 0 });
    return v >>> 0;
  }

  private readStatus(): number {
    const s = this.mac[STATUS]! & STATUS_PHYRA;
    let v = s | STATUS_FD | STATUS_SPEED_1000 | STATUS_ASDV_1000;
    if (this.linkUp()) v |= STATUS_LU;
    if (this.fc.txPaused()) v |= STATUS_TXOFF;
    if (!(this.mac[CTRL]! & CTRL_GIO_MASTER_DISABLE)) v |= STATUS_GIO_MASTER_ENABLE;
    return v >>> 0;
  }

  /** Register write at a dword-aligned offset of BAR 0. */
  mmioWrite(offset: number, value: number): void {
    value >>>= 0;
    const w = W(offset);
    const i = REG_INDEX[w] ?? -1;
    if (i < 0) {
      this.diag.unknownWrites++;
      this.trace('e1000e_reg_unknown_write', { offset, value });
      return;
    }
    const def = REGISTERS[i]!;
    const t = this.host.trace;
    if (t.enabled('e1000e_reg_write')) t.emit('e1000e_reg_write', { dev: this.name, reg: def.name, value });
    switch (offset) {
      case REG.CTRL:
        return this.writeCtrl(value);
      case REG.STATUS:
        // PHYRA is cleared by writing 0; everything else is read-only.
        if (!(value & STATUS_PHYRA)) this.mac[STATUS] = this.mac[STATUS]! & ~STATUS_PHYRA;
        return;
      case REG.EERD:
        return this.writeEerd(value);
      case REG.EEWR:
        this.mac[w] = EERD_DONE;
        return;
      case REG.MDIC:
        return this.writeMdic(value);
      case REG.CTRL_EXT:
        this.mac[CTRL_EXT] = value & ~CTRL_EXT_EE_RST;
        if (value & CTRL_EXT_EE_RST) this.loadMacFromNvm();
        return;
      case REG.ICR:
        return this.irq.writeIcr(value);
      case REG.ICS:
        return this.irq.raise(value);
      case REG.IMS:
        return this.irq.writeIms(value);
      case REG.IMC:
        return this.irq.writeImc(value);
      case REG.TIDV:
      case REG.RDTR:
        this.mac[w] = value & 0xffff; // bit 31 (flush partial descriptor block) self-clears
        if (value & 0x80000000) this.irq.fireDelayed(offset === REG.RDTR ? 'rx' : 'tx');
        return;
      case REG.RCTL: {
        const was = this.mac[RCTL]!;
        const wasLink = this.linkUp();
        this.writeMasked(def, value);
        if (wasLink !== this.linkUp()) {
          this.irq.raise(ICR_LSC);
          if (this.linkUp()) this.tx.kick();
        }
        if (was & RCTL_EN && !(value & RCTL_EN)) this.rx.flush();
        if (!(was & RCTL_EN) && value & RCTL_EN) this.rx.drain();
        return;
      }
      case REG.TCTL: {
        const was = this.mac[TCTL]!;
        this.writeMasked(def, value);
        if (!(was & TCTL_EN) && value & TCTL_EN) this.tx.kick();
        return;
      }
      case REG.TDT0:
        this.writeMasked(def, value);
        this.tx.kick();
        return;
      case REG.TDBAL0:
      case REG.TDBAH0:
      case REG.TDLEN0:
      case REG.TDH0:
        this.writeMasked(def, value);
        this.tx.ringChanged();
        return;
      case REG.TARC0:
        this.writeMasked(def, value);
        this.tx.kick();
        return;
      case REG.RDT0:
        this.writeMasked(def, value);
        this.rx.drain();
        return;
      case REG.RDBAL0:
      case REG.RDBAH0:
      case REG.RDLEN0:
      case REG.RDH0:
        this.writeMasked(def, value);
        this.rx.ringChanged();
        return;
    }
    switch (def.access) {
      case Access.RW:
        this.writeMasked(def, value);
        return;
      case Access.W1C:
        this.mac[w] = (this.mac[w]! & ~value) >>> 0;
        return;
      default:
        this.diag.roWrites++;
        this.trace('e1000e_reg_ro_write', { reg: def.name, value });
    }
  }

  private writeMasked(def: RegDef, value: number): void {
    const w = W(def.offset);
    this.mac[w] = ((this.mac[w]! & ~def.mask) | (value & def.mask)) >>> 0;
  }

  private writeCtrl(value: number): void {
    if (value & CTRL_RST) {
      this.softReset(true);
      return;
    }
    if (value & CTRL_PHY_RST) {
      this.phy.reset();
      this.mac[STATUS] = this.mac[STATUS]! | STATUS_PHYRA;
    }
    const wasLink = this.linkUp();
    this.mac[CTRL] = value & ~(CTRL_RST | CTRL_PHY_RST);
    const isLink = this.linkUp();
    if (wasLink !== isLink) {
      this.irq.raise(ICR_LSC);
      if (isLink) this.tx.kick();
    }
  }

  private writeEerd(value: number): void {
    if (!(value & EERD_START)) {
      this.mac[W(REG.EERD)] = value & ~EERD_DONE;
      return;
    }
    const addr = (value >>> EERD_ADDR_SHIFT) & 0x3fff;
    let data = 0;
    if (addr < NVM_WORDS) data = this.nvm[addr]!;
    else this.trace('e1000e_nvm_bad_address', { addr });
    this.mac[W(REG.EERD)] = ((data << EERD_DATA_SHIFT) | (addr << EERD_ADDR_SHIFT) | EERD_DONE) >>> 0;
  }

  private writeMdic(value: number): void {
    const phyAddr = (value & MDIC_PHY_MASK) >>> MDIC_PHY_SHIFT;
    const reg = (value & MDIC_REG_MASK) >>> MDIC_REG_SHIFT;
    let result = value & ~(MDIC_READY | MDIC_ERROR);
    if (phyAddr !== MDIC_PHY_ADDR) {
      result |= MDIC_ERROR;
      this.trace('e1000e_mdic_bad_phy', { phyAddr, reg });
    } else if (value & MDIC_OP_READ) {
      result = (result & ~MDIC_DATA_MASK) | this.phy.read(reg);
      this.trace('e1000e_mdic_read', { reg, value: result & MDIC_DATA_MASK });
    } else if (value & MDIC_OP_WRITE) {
      this.phy.write(reg, value & MDIC_DATA_MASK);
      this.trace('e1000e_mdic_write', { reg, value: value & MDIC_DATA_MASK });
    } else {
      result |= MDIC_ERROR;
    }
    this.mac[W(REG.MDIC)] = (result | MDIC_READY) >>> 0;
    if (value & MDIC_INT_EN) this.irq.raise(ICR_MDAC);
  }

  /** Current value of a register by datasheet name, without side effects (tests, counters view). */
  peek(name: string): number {
    const d = REGISTERS.find((r) => r.name === name);
    if (!d) throw new Error(`unknown register ${name}`);
    return this.mac[W(d.offset)]!;
  }

  /** The datasheet name of a BAR 0 offset. */
  static regName(offset: number): string {
    return regName(offset);
  }
}
