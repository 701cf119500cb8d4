// PCI bus 0: enumeration and BAR assignment, MMIO decode, the pci_driver model, config helpers, ioremap/readl, MSI and MSI-X (drivers/pci/).

import { Counters } from './accounting.js';
import { EBUSY, EINVAL, ENOSPC } from './errno.js';
import type { Kernel } from './kernel.js';

/** What the testbed gives the bus for one PCI function (it adapts the device model to this). */
export interface PciDeviceBackend {
  configRead(offset: number, size: 1 | 2 | 4): number;
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void;
  barRead(bar: number, offset: number, size: 1 | 2 | 4): number;
  barWrite(bar: number, offset: number, size: 1 | 2 | 4, value: number): void;
  /** Optional fast answer to "is COMMAND.MEM set?" (otherwise config space is read on every access). */
  memoryEnabled?(): boolean;
}

// Config space registers (include/uapi/linux/pci_regs.h).
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;
export const PCI_COMMAND_INTX_DISABLE = 0x400;
export const PCI_STATUS = 0x06;
export const PCI_STATUS_CAP_LIST = 0x10;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_REVISION = 0x08;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_CAP_ID_PM = 0x01;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;
export const PCI_MSI_FLAGS = 2;
export const PCI_MSI_FLAGS_ENABLE = 0x1;
export const PCI_MSI_FLAGS_QSIZE = 0x70;
export const PCI_MSI_FLAGS_64BIT = 0x80;
export const PCI_MSI_ADDRESS_LO = 4;
export const PCI_MSIX_FLAGS = 2;
export const PCI_MSIX_FLAGS_QSIZE = 0x7ff;
export const PCI_MSIX_FLAGS_MASKALL = 0x4000;
export const PCI_MSIX_FLAGS_ENABLE = 0x8000;
export const PCI_MSIX_TABLE = 4;
export const PCI_MSIX_ENTRY_SIZE = 16;
export const PCI_MSIX_ENTRY_VECTOR_CTRL = 12;
export const PCI_MSIX_ENTRY_CTRL_MASKBIT = 0x1;
export const PCI_EXP_DEVCTL = 0x08;
export const PCI_EXP_DEVSTA = 0x0a;
export const PCI_EXP_LNKCAP = 0x0c;
export const PCI_EXP_LNKCTL = 0x10;
export const PCI_EXP_LNKCTL_ASPM_L0S = 0x1;
export const PCI_EXP_LNKCTL_ASPM_L1 = 0x2;
export const PCI_EXP_LNKSTA = 0x12;

/** Resource flags (include/linux/ioport.h). */
export const IORESOURCE_IO = 0x100;
export const IORESOURCE_MEM = 0x200;
export const IORESOURCE_PREFETCH = 0x2000;
export const IORESOURCE_MEM_64 = 0x100000;

/** Matches any vendor/device id. */
export const PCI_ANY_ID = 0xffffffff;
export const PCI_VENDOR_ID_INTEL = 0x8086;

/** Base of the interrupt message window MSI/MSI-X addresses point at. */
export const MSI_ADDRESS = 0xfee00000;
/** Where BAR assignment starts for memory BARs. */
export const PCI_MMIO_BASE = 0xe0000000;
const PCI_MMIO_LIMIT = 0xfec00000;
/** Where BAR assignment starts for I/O BARs. */
export const PCI_IO_BASE = 0xc000;

/** One BAR's assigned window (struct resource). */
export interface PciResource {
  start: number;
  len: number;
  flags: number;
}

/** An id_table entry. */
export interface PciDeviceId {
  vendor: number;
  device: number;
  subvendor?: number;
  subdevice?: number;
  driver_data?: number;
}

/** Builds an id_table entry (PCI_DEVICE). */
export function PCI_DEVICE(vendor: number, device: number, driver_data?: number): PciDeviceId {
  return driver_data === undefined ? { vendor, device } : { vendor, device, driver_data };
}

/** A PCI driver (struct pci_driver). probe returns 0 or -errno. */
export interface PciDriver {
  name: string;
  id_table: readonly PciDeviceId[];
  probe(pdev: PciDev, id: PciDeviceId): number;
  remove(pdev: PciDev): void;
  shutdown?(pdev: PciDev): void;
}

/** An MSI-X vector request (struct msix_entry): `entry` is the table index, `vector` is filled in. */
export interface MsixEntry {
  entry: number;
  vector: number;
}

interface Window {
  start: number;
  end: number;
  dev: PciDev;
  bar: number;
}

/** One function on bus 0 (struct pci_dev). */
export class PciDev {
  vendor = 0;
  device = 0;
  subsystem_vendor = 0;
  subsystem_device = 0;
  revision = 0;
  /** 24-bit class code (class, subclass, prog-if). */
  class = 0;
  /** Current irq: the legacy line, or the MSI irq once pci_enable_msi succeeded. */
  irq = 0;
  /** The INTx line's irq number (0 when the function has no interrupt pin). */
  legacyIrq = 0;
  /** Interrupt pin (1 = INTA ... 4 = INTD, 0 = none). */
  pin = 0;
  readonly resource: PciResource[] = [];
  pm_cap = 0;
  msi_cap = 0;
  msix_cap = 0;
  pcie_cap = 0;
  driver: PciDriver | null = null;
  /** Result of the last failed probe (0 when bound or never probed). */
  probeErrno = 0;
  driverData: unknown = null;
  enableCount = 0;
  is_busmaster = false;
  msi_enabled = false;
  msix_enabled = false;
  /** Kernel irqs of the enabled MSI-X vectors, in the order they were granted. */
  msixIrqs: number[] = [];
  /** MSI-X table indices matching msixIrqs. */
  msixTableIdx: number[] = [];
  /** BAR bitmask claimed via pci_request_*regions. */
  regionsRequested = 0;
  /** This function's INTx output. */
  intxAsserted = false;
  /** dma_map_single mappings: dma address -> live map count (0 = was mapped, now unmapped). */
  readonly dmaMaps = new Map<number, number>();
  dmaMask = Number.MAX_VALUE;
  /** Resources attributed to this device (see accounting.ts). */
  readonly acct = new Counters();
  private savedState: number[] | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly slot: number,
    readonly backend: PciDeviceBackend,
    readonly ownerIdx: number,
  ) {
    for (let i = 0; i < 6; i++) this.resource.push({ start: 0, len: 0, flags: 0 });
  }

  /** "0000:00:SS.0". */
  get name(): string {
    return `0000:00:${this.slot.toString(16).padStart(2, '0')}.0`;
  }

  cfgRead(off: number, size: 1 | 2 | 4): number {
    const v = this.backend.configRead(off, size);
    return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
  }

  cfgWrite(off: number, size: 1 | 2 | 4, v: number): void {
    this.backend.configWrite(off, size, size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff);
  }

  /** Saves the standard header (pci_save_state). */
  saveState(): void {
    const s: number[] = [];
    for (let off = 0; off < 64; off += 4) s.push(this.cfgRead(off, 4));
    this.savedState = s;
  }

  /** Writes back the saved header, command last (pci_restore_state). */
  restoreState(): void {
    const s = this.savedState;
    if (s === null) return;
    for (let i = 15; i >= 4; i--) this.cfgWrite(i * 4, 4, s[i]!);
    this.cfgWrite(PCI_COMMAND, 2, s[1]! & 0xffff);
  }
}

/** Bus 0 with its devices, address decode and registered drivers. */
export class PciBus {
  readonly devices: PciDev[] = [];
  readonly drivers: PciDriver[] = [];
  private windows: Window[] = [];
  private mmioNext = PCI_MMIO_BASE;
  private ioNext = PCI_IO_BASE;
  /** Reads that hit no enabled BAR (master aborts: all-ones). */
  unclaimedReads = 0;
  /** Writes that hit no enabled BAR (dropped). */
  unclaimedWrites = 0;

  constructor(private readonly kernel: Kernel) {}

  /**
   * Plugs a function into `slot`, enumerates it like firmware (ids, BAR sizing and assignment,
   * interrupt pin and line) and probes a matching registered driver.
   */
  attach(slot: number, backend: PciDeviceBackend): PciDev {
    if (this.devices.some((d) => d.slot === slot)) throw new Error(`pci: slot ${slot} is already occupied`);
    if (this.kernel.owners.length >= 64) throw new Error('pci: too many devices');
    const dev = new PciDev(this.kernel, slot, backend, this.kernel.owners.length);
    this.enumerate(dev);
    this.kernel.owners.push(dev);
    this.devices.push(dev);
    this.rebuildWindows();
    for (const drv of this.drivers) {
      if (dev.driver !== null) break;
      probeOne(dev, drv);
    }
    return dev;
  }

  /** Surprise removal: unbinds the driver, then the function vanishes (its BARs read all-ones). */
  detach(dev: PciDev): void {
    if (dev.driver !== null) removeOne(dev);
    const i = this.devices.indexOf(dev);
    if (i < 0) return;
    this.devices.splice(i, 1);
    if (dev.intxAsserted) this.setIntx(dev, false);
    this.rebuildWindows();
  }

  private enumerate(dev: PciDev): void {
    const vendor = dev.cfgRead(PCI_VENDOR_ID, 2);
    if (vendor === 0xffff || vendor === 0) throw new Error(`pci: no function answers in slot ${dev.slot}`);
    dev.vendor = vendor;
    dev.device = dev.cfgRead(PCI_DEVICE_ID, 2);
    const cr = dev.cfgRead(PCI_CLASS_REVISION, 4);
    dev.revision = cr & 0xff;
    dev.class = cr >>> 8;
    dev.subsystem_vendor = dev.cfgRead(PCI_SUBSYSTEM_VENDOR_ID, 2);
    dev.subsystem_device = dev.cfgRead(PCI_SUBSYSTEM_ID, 2);
    // Decode off while BARs hold sizing patterns, as firmware does.
    const cmd = dev.cfgRead(PCI_COMMAND, 2);
    dev.cfgWrite(PCI_COMMAND, 2, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    for (let i = 0; i < 6; i++) {
      const off = PCI_BASE_ADDRESS_0 + 4 * i;
      const orig = dev.cfgRead(off, 4);
      dev.cfgWrite(off, 4, 0xffffffff);
      const mask = dev.cfgRead(off, 4);
      dev.cfgWrite(off, 4, orig);
      if (mask === 0) continue;
      if (orig & 1) {
        let m = (mask & 0xfffffffc) >>> 0;
        if ((m & 0xffff0000) === 0) m = (m | 0xffff0000) >>> 0;
        const size = (~m >>> 0) + 1;
        const addr = alignUp(this.ioNext, size);
        this.ioNext = addr + size;
        dev.cfgWrite(off, 4, addr);
        dev.resource[i] = { start: addr, len: size, flags: IORESOURCE_IO };
        continue;
      }
      const is64 = ((orig >>> 1) & 3) === 2;
      const lo = (mask & 0xfffffff0) >>> 0;
      if (lo === 0) continue;
      let size = 0x100000000 - lo;
      if (is64) {
        const offHi = off + 4;
        const origHi = dev.cfgRead(offHi, 4);
        dev.cfgWrite(offHi, 4, 0xffffffff);
        const maskHi = dev.cfgRead(offHi, 4);
        dev.cfgWrite(offHi, 4, origHi);
        if (maskHi !== 0xffffffff) throw new Error(`pci: ${dev.name} BAR${i} is larger than 4 GiB`);
      }
      size = nextPow2(size);
      const addr = alignUp(this.mmioNext, size);
      if (addr + size > PCI_MMIO_LIMIT) throw new Error(`pci: MMIO window exhausted by ${dev.name} BAR${i}`);
      this.mmioNext = addr + size;
      dev.cfgWrite(off, 4, addr);
      let flags = IORESOURCE_MEM | (orig & 8 ? IORESOURCE_PREFETCH : 0);
      if (is64) {
        dev.cfgWrite(off + 4, 4, 0);
        flags |= IORESOURCE_MEM_64;
      }
      dev.resource[i] = { start: addr, len: size, flags };
      if (is64) i++;
    }
    dev.cfgWrite(PCI_COMMAND, 2, cmd);
    dev.pin = dev.cfgRead(PCI_INTERRUPT_PIN, 1);
    if (dev.pin >= 1 && dev.pin <= 4) {
      dev.legacyIrq = 16 + ((dev.slot + dev.pin - 1) & 3);
      dev.cfgWrite(PCI_INTERRUPT_LINE, 1, dev.legacyIrq);
      dev.irq = dev.legacyIrq;
    } else dev.pin = 0;
    dev.pm_cap = pci_find_capability(dev, PCI_CAP_ID_PM);
    dev.msi_cap = pci_find_capability(dev, PCI_CAP_ID_MSI);
    dev.msix_cap = pci_find_capability(dev, PCI_CAP_ID_MSIX);
    dev.pcie_cap = pci_find_capability(dev, PCI_CAP_ID_EXP);
  }

  /** Re-reads one BAR after software rewrote it, keeping the decode table current. */
  refreshBar(dev: PciDev, bar: number): void {
    const r = dev.resource[bar];
    if (r === undefined || r.len === 0) return;
    const v = dev.cfgRead(PCI_BASE_ADDRESS_0 + 4 * bar, 4);
    r.start = r.flags & IORESOURCE_IO ? (v & 0xfffffffc) >>> 0 : (v & 0xfffffff0) >>> 0;
    this.rebuildWindows();
  }

  private rebuildWindows(): void {
    const w: Window[] = [];
    for (const dev of this.devices) {
      dev.resource.forEach((r, bar) => {
        if (r.len > 0 && r.flags & IORESOURCE_MEM) w.push({ start: r.start, end: r.start + r.len, dev, bar });
      });
    }
    this.windows = w;
  }

  /**
   * Finds the memory BAR that claims `phys` (memory decode must be on in that function's
   * COMMAND register). A testbed can use it to route peer-to-peer DMA.
   */
  mmioDecode(phys: number): { pdev: PciDev; bar: number; offset: number } | null {
    const ws = this.windows;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      if (phys >= w.start && phys < w.end) {
        if ((w.dev.cfgRead(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY) === 0) return null;
        return { pdev: w.dev, bar: w.bar, offset: phys - w.start };
      }
    }
    return null;
  }

  /** A CPU memory read of `size` bytes at `phys`; all-ones when nothing claims it. */
  mmioRead(phys: number, size: 1 | 2 | 4): number {
    const ws = this.windows;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      if (phys >= w.start && phys + size <= w.end) {
        const b = w.dev.backend;
        if (b.memoryEnabled ? !b.memoryEnabled() : (b.configRead(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY) === 0) break;
        const v = b.barRead(w.bar, phys - w.start, size);
        return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
      }
    }
    this.unclaimedReads++;
    const t = this.kernel.trace;
    if (t.enabled('pci_mmio_unclaimed')) t.emit('pci_mmio_unclaimed', { phys, size, write: false });
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  /** A CPU memory write; dropped (and traced) when nothing claims it. */
  mmioWrite(phys: number, size: 1 | 2 | 4, value: number): void {
    const ws = this.windows;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      if (phys >= w.start && phys + size <= w.end) {
        const b = w.dev.backend;
        if (b.memoryEnabled ? !b.memoryEnabled() : (b.configRead(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY) === 0) break;
        b.barWrite(w.bar, phys - w.start, size, size === 4 ? value >>> 0 : size === 2 ? value & 0xffff : value & 0xff);
        return;
      }
    }
    this.unclaimedWrites++;
    const t = this.kernel.trace;
    if (t.enabled('pci_mmio_unclaimed')) t.emit('pci_mmio_unclaimed', { phys, size, write: true, value });
  }

  /** Drives a function's INTx output (level-triggered; lines may be shared). */
  setIntx(devOrSlot: PciDev | number, asserted: boolean): void {
    const dev = typeof devOrSlot === 'number' ? this.devices.find((d) => d.slot === devOrSlot) : devOrSlot;
    if (dev === undefined || dev.legacyIrq === 0) return;
    if (dev.intxAsserted === asserted) return;
    dev.intxAsserted = asserted;
    const desc = this.kernel.irqs.get(dev.legacyIrq);
    if (desc !== undefined) this.kernel.irqs.setLevel(desc, asserted);
  }
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

function nextPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

function matchId(dev: PciDev, ids: readonly PciDeviceId[]): PciDeviceId | null {
  for (const id of ids) {
    if (id.vendor !== PCI_ANY_ID && id.vendor !== dev.vendor) continue;
    if (id.device !== PCI_ANY_ID && id.device !== dev.device) continue;
    if (id.subvendor !== undefined && id.subvendor !== PCI_ANY_ID && id.subvendor !== dev.subsystem_vendor) continue;
    if (id.subdevice !== undefined && id.subdevice !== PCI_ANY_ID && id.subdevice !== dev.subsystem_device) continue;
    return id;
  }
  return null;
}

function probeOne(dev: PciDev, drv: PciDriver): void {
  const id = matchId(dev, drv.id_table);
  if (id === null) return;
  const k = dev.kernel;
  const prev = k.ctx;
  k.ctx = dev;
  let rc: number;
  try {
    rc = drv.probe(dev, id);
  } finally {
    k.ctx = prev;
  }
  if (rc === 0) {
    dev.driver = drv;
    dev.probeErrno = 0;
  } else {
    dev.probeErrno = rc;
    dev.driverData = null;
    k.printk('warn', `${drv.name} ${dev.name}: probe failed with error ${rc}`);
  }
  if (k.trace.enabled('pci_probe')) k.trace.emit('pci_probe', { dev: dev.name, driver: drv.name, rc });
}

function removeOne(dev: PciDev): void {
  const drv = dev.driver!;
  const k = dev.kernel;
  const prev = k.ctx;
  k.ctx = dev;
  try {
    drv.remove(dev);
  } finally {
    k.ctx = prev;
    dev.driver = null;
    dev.driverData = null;
  }
}

/** Registers a driver and probes every unbound matching device (synchronously). Returns 0. */
export function pci_register_driver(kernel: Kernel, drv: PciDriver): number {
  if (kernel.pciBus.drivers.includes(drv)) return -EBUSY;
  kernel.pciBus.drivers.push(drv);
  for (const dev of [...kernel.pciBus.devices]) if (dev.driver === null) probeOne(dev, drv);
  return 0;
}

/** Calls remove() on every device bound to `drv`, then forgets the driver. */
export function pci_unregister_driver(kernel: Kernel, drv: PciDriver): void {
  for (const dev of [...kernel.pciBus.devices]) if (dev.driver === drv) removeOne(dev);
  const i = kernel.pciBus.drivers.indexOf(drv);
  if (i >= 0) kernel.pciBus.drivers.splice(i, 1);
}

/** Stores driver-private data on the device. */
export function pci_set_drvdata(pdev: PciDev, data: unknown): void {
  pdev.driverData = data;
}

/** Returns what pci_set_drvdata stored. */
export function pci_get_drvdata<T>(pdev: PciDev): T {
  return pdev.driverData as T;
}

/** "0000:00:SS.0". */
export function pci_name(pdev: PciDev): string {
  return pdev.name;
}

function enableCommon(pdev: PciDev, bits: number): number {
  if (pdev.enableCount++ === 0) {
    const cmd = pdev.cfgRead(PCI_COMMAND, 2);
    if ((cmd & bits) !== bits) pdev.cfgWrite(PCI_COMMAND, 2, cmd | bits);
  }
  return 0;
}

/** Turns on memory decode (nesting). Returns 0. */
export function pci_enable_device_mem(pdev: PciDev): number {
  return enableCommon(pdev, PCI_COMMAND_MEMORY);
}

/** Turns on memory and I/O decode (nesting). Returns 0. */
export function pci_enable_device(pdev: PciDev): number {
  let bits = 0;
  for (const r of pdev.resource) {
    if (r.flags & IORESOURCE_MEM) bits |= PCI_COMMAND_MEMORY;
    if (r.flags & IORESOURCE_IO) bits |= PCI_COMMAND_IO;
  }
  return enableCommon(pdev, bits);
}

/** Drops one enable; the last one turns bus mastering off (decode stays on, as in Linux). */
export function pci_disable_device(pdev: PciDev): void {
  if (pdev.enableCount === 0) throw new Error(`pci_disable_device: ${pdev.name} disabling an already disabled device`);
  if (--pdev.enableCount === 0) pci_clear_master(pdev);
}

/** True while enabled. */
export function pci_is_enabled(pdev: PciDev): boolean {
  return pdev.enableCount > 0;
}

/** Sets COMMAND.MASTER. */
export function pci_set_master(pdev: PciDev): void {
  const cmd = pdev.cfgRead(PCI_COMMAND, 2);
  if (!(cmd & PCI_COMMAND_MASTER)) pdev.cfgWrite(PCI_COMMAND, 2, cmd | PCI_COMMAND_MASTER);
  pdev.is_busmaster = true;
}

/** Clears COMMAND.MASTER. */
export function pci_clear_master(pdev: PciDev): void {
  const cmd = pdev.cfgRead(PCI_COMMAND, 2);
  if (cmd & PCI_COMMAND_MASTER) pdev.cfgWrite(PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MASTER);
  pdev.is_busmaster = false;
}

/** Sets or clears COMMAND.INTX_DISABLE (enable = true lets INTx through). */
export function pci_intx(pdev: PciDev, enable: boolean): void {
  const cmd = pdev.cfgRead(PCI_COMMAND, 2);
  const next = enable ? cmd & ~PCI_COMMAND_INTX_DISABLE : cmd | PCI_COMMAND_INTX_DISABLE;
  if (next !== cmd) pdev.cfgWrite(PCI_COMMAND, 2, next);
}

/** Bitmask of BARs whose resource flags include `flags` (IORESOURCE_MEM / IORESOURCE_IO). */
export function pci_select_bars(pdev: PciDev, flags: number): number {
  let m = 0;
  pdev.resource.forEach((r, i) => {
    if (r.len > 0 && r.flags & flags) m |= 1 << i;
  });
  return m;
}

/** Claims the BARs in `bars`; -EBUSY if any is already claimed. */
export function pci_request_selected_regions(pdev: PciDev, bars: number, _name: string): number {
  if (pdev.regionsRequested & bars) return -EBUSY;
  pdev.regionsRequested |= bars;
  return 0;
}

/** Releases claimed BARs; releasing an unclaimed one throws. */
export function pci_release_selected_regions(pdev: PciDev, bars: number): void {
  if ((pdev.regionsRequested & bars) !== bars) {
    throw new Error(`pci_release_selected_regions: ${pdev.name} releasing BARs 0x${bars.toString(16)} that were not requested`);
  }
  pdev.regionsRequested &= ~bars;
}

/** Claims every BAR. */
export function pci_request_regions(pdev: PciDev, name: string): number {
  return pci_request_selected_regions(pdev, pci_select_bars(pdev, IORESOURCE_MEM | IORESOURCE_IO), name);
}

/** Releases every BAR claimed. */
export function pci_release_regions(pdev: PciDev): void {
  pci_release_selected_regions(pdev, pdev.regionsRequested);
}

/** Bus address of a BAR. */
export function pci_resource_start(pdev: PciDev, bar: number): number {
  return pdev.resource[bar]?.start ?? 0;
}

/** Size of a BAR (0 when unimplemented). */
export function pci_resource_len(pdev: PciDev, bar: number): number {
  return pdev.resource[bar]?.len ?? 0;
}

/** Last address of a BAR. */
export function pci_resource_end(pdev: PciDev, bar: number): number {
  const r = pdev.resource[bar];
  return r && r.len ? r.start + r.len - 1 : 0;
}

/** Resource flags of a BAR. */
export function pci_resource_flags(pdev: PciDev, bar: number): number {
  return pdev.resource[bar]?.flags ?? 0;
}

/** Config read (the value is returned rather than stored through a pointer). */
export function pci_read_config_byte(pdev: PciDev, where: number): number {
  return pdev.cfgRead(where, 1);
}
/** Config read of a 16-bit register. */
export function pci_read_config_word(pdev: PciDev, where: number): number {
  return pdev.cfgRead(where, 2);
}
/** Config read of a 32-bit register. */
export function pci_read_config_dword(pdev: PciDev, where: number): number {
  return pdev.cfgRead(where, 4);
}

function afterConfigWrite(pdev: PciDev, where: number, size: number): void {
  if (where + size > PCI_BASE_ADDRESS_0 && where < PCI_BASE_ADDRESS_0 + 24) {
    for (let bar = 0; bar < 6; bar++) pdev.kernel.pciBus.refreshBar(pdev, bar);
  }
}

/** Config write of a byte. Returns 0. */
export function pci_write_config_byte(pdev: PciDev, where: number, val: number): number {
  pdev.cfgWrite(where, 1, val);
  afterConfigWrite(pdev, where, 1);
  return 0;
}
/** Config write of a 16-bit register. Returns 0. */
export function pci_write_config_word(pdev: PciDev, where: number, val: number): number {
  pdev.cfgWrite(where, 2, val);
  afterConfigWrite(pdev, where, 2);
  return 0;
}
/** Config write of a 32-bit register. Returns 0. */
export function pci_write_config_dword(pdev: PciDev, where: number, val: number): number {
  pdev.cfgWrite(where, 4, val);
  afterConfigWrite(pdev, where, 4);
  return 0;
}

/** Walks the capability list; returns the offset of capability `cap` or 0. */
export function pci_find_capability(pdev: PciDev, cap: number): number {
  if (!(pdev.cfgRead(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST)) return 0;
  let pos = pdev.cfgRead(PCI_CAPABILITY_LIST, 1) & ~3;
  for (let ttl = 48; pos >= 0x40 && ttl > 0; ttl--) {
    if (pdev.cfgRead(pos, 1) === cap) return pos;
    pos = pdev.cfgRead(pos + 1, 1) & ~3;
  }
  return 0;
}

/** True for a PCI Express function. */
export function pci_is_pcie(pdev: PciDev): boolean {
  return pdev.pcie_cap !== 0;
}

/** Reads a register of the PCIe capability (0 when there is none). */
export function pcie_capability_read_word(pdev: PciDev, pos: number): number {
  return pdev.pcie_cap ? pdev.cfgRead(pdev.pcie_cap + pos, 2) : 0;
}

/** Read-modify-write of a PCIe capability register. Returns 0 (or -EINVAL without the capability). */
export function pcie_capability_clear_and_set_word(pdev: PciDev, pos: number, clear: number, set: number): number {
  if (!pdev.pcie_cap) return -EINVAL;
  const v = pdev.cfgRead(pdev.pcie_cap + pos, 2);
  pdev.cfgWrite(pdev.pcie_cap + pos, 2, (v & ~clear) | set);
  return 0;
}

/** Clears bits of a PCIe capability register. */
export function pcie_capability_clear_word(pdev: PciDev, pos: number, clear: number): number {
  return pcie_capability_clear_and_set_word(pdev, pos, clear, 0);
}

/** Sets bits of a PCIe capability register. */
export function pcie_capability_set_word(pdev: PciDev, pos: number, set: number): number {
  return pcie_capability_clear_and_set_word(pdev, pos, 0, set);
}

/** Saves the config header for a later pci_restore_state. Returns 0. */
export function pci_save_state(pdev: PciDev): number {
  pdev.saveState();
  return 0;
}

/** Restores the config header saved by pci_save_state. */
export function pci_restore_state(pdev: PciDev): void {
  pdev.restoreState();
}

// ---- ioremap and MMIO accessors (include/asm-generic/io.h) ----

/** A CPU mapping of a physical MMIO range (what `void __iomem *` points at). */
export class IoMem {
  unmapped = false;
  constructor(
    readonly kernel: Kernel,
    readonly phys: number,
    readonly len: number,
    readonly owner: PciDev | null,
  ) {}
}

/** Maps `len` bytes of MMIO at `phys`. Accounted against the device owning that BAR. */
export function ioremap(kernel: Kernel, phys: number, len: number): IoMem {
  if (!(len > 0)) throw new Error(`ioremap: bad length ${len}`);
  let owner: PciDev | null = kernel.ctx;
  for (const d of kernel.pciBus.devices) {
    if (d.resource.some((r) => r.len > 0 && phys >= r.start && phys < r.start + r.len)) owner = d;
  }
  kernel.globalAcct.ioremaps++;
  if (owner) owner.acct.ioremaps++;
  return new IoMem(kernel, phys, len, owner);
}

/** ioremap of a whole BAR. */
export function pci_ioremap_bar(pdev: PciDev, bar: number): IoMem | null {
  const r = pdev.resource[bar];
  if (!r || r.len === 0 || !(r.flags & IORESOURCE_MEM)) return null;
  return ioremap(pdev.kernel, r.start, r.len);
}

/** Undoes ioremap; unmapping twice throws. */
export function iounmap(io: IoMem): void {
  if (io.unmapped) throw new Error(`iounmap: 0x${io.phys.toString(16)} unmapped twice`);
  io.unmapped = true;
  io.kernel.globalAcct.ioremaps--;
  if (io.owner) io.owner.acct.ioremaps--;
}

function ioCheck(io: IoMem, off: number, size: number, api: string): void {
  if (io.unmapped || !(off >= 0 && off + size <= io.len)) {
    throw new Error(
      io.unmapped
        ? `${api}: access through an unmapped ioremap (0x${io.phys.toString(16)})`
        : `${api}: offset 0x${off.toString(16)} outside the ${io.len}-byte mapping`,
    );
  }
}

/** 32-bit MMIO read (unsigned). */
export function readl(io: IoMem, off: number): number {
  ioCheck(io, off, 4, 'readl');
  return io.kernel.pciBus.mmioRead(io.phys + off, 4);
}
/** 16-bit MMIO read. */
export function readw(io: IoMem, off: number): number {
  ioCheck(io, off, 2, 'readw');
  return io.kernel.pciBus.mmioRead(io.phys + off, 2);
}
/** 8-bit MMIO read. */
export function readb(io: IoMem, off: number): number {
  ioCheck(io, off, 1, 'readb');
  return io.kernel.pciBus.mmioRead(io.phys + off, 1);
}
/** 32-bit MMIO write (Linux argument order: value first). */
export function writel(value: number, io: IoMem, off: number): void {
  ioCheck(io, off, 4, 'writel');
  io.kernel.pciBus.mmioWrite(io.phys + off, 4, value);
}
/** 16-bit MMIO write. */
export function writew(value: number, io: IoMem, off: number): void {
  ioCheck(io, off, 2, 'writew');
  io.kernel.pciBus.mmioWrite(io.phys + off, 2, value);
}
/** 8-bit MMIO write. */
export function writeb(value: number, io: IoMem, off: number): void {
  ioCheck(io, off, 1, 'writeb');
  io.kernel.pciBus.mmioWrite(io.phys + off, 1, value);
}
/** Alias of readl. */
export const ioread32 = readl;
/** Alias of writel. */
export const iowrite32 = writel;

// ---- MSI / MSI-X (drivers/pci/msi/) ----

/**
 * Enables MSI-X with between `minvec` and `maxvec` vectors: allocates irqs, programs the table
 * entries (address 0xFEE00000, data = irq, unmasked) through MMIO and sets the enable bit.
 * Returns the vector count or -errno; fills `entries[i].vector`.
 */
export function pci_enable_msix_range(pdev: PciDev, entries: MsixEntry[], minvec: number, maxvec: number): number {
  const cap = pdev.msix_cap;
  if (!cap || pdev.msix_enabled || pdev.msi_enabled || pdev.enableCount === 0) return -EINVAL;
  if (maxvec < minvec || minvec < 1) return -EINVAL;
  const ctrl = pdev.cfgRead(cap + PCI_MSIX_FLAGS, 2);
  const tableSize = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
  let nvec = Math.min(maxvec, entries.length, tableSize);
  if (nvec < minvec) return -ENOSPC;
  const seen = new Set<number>();
  for (let i = 0; i < nvec; i++) {
    const e = entries[i]!.entry;
    if (!Number.isInteger(e) || e < 0 || e >= tableSize || seen.has(e)) return -EINVAL;
    seen.add(e);
  }
  const tbl = pdev.cfgRead(cap + PCI_MSIX_TABLE, 4);
  const bir = tbl & 7;
  const res = pdev.resource[bir];
  if (!res || res.len === 0 || !(res.flags & IORESOURCE_MEM)) return -EINVAL;
  const tableBase = res.start + ((tbl & ~7) >>> 0);
  const bus = pdev.kernel.pciBus;
  // Linux sets ENABLE|MASKALL while it programs the entries, then drops MASKALL.
  pdev.cfgWrite(cap + PCI_MSIX_FLAGS, 2, ctrl | PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  pdev.msixIrqs = [];
  pdev.msixTableIdx = [];
  for (let i = 0; i < nvec; i++) {
    const irq = pdev.kernel.irqs.allocMsi('msix', pdev);
    const base = tableBase + entries[i]!.entry * PCI_MSIX_ENTRY_SIZE;
    bus.mmioWrite(base, 4, MSI_ADDRESS);
    bus.mmioWrite(base + 4, 4, 0);
    bus.mmioWrite(base + 8, 4, irq);
    const vc = bus.mmioRead(base + PCI_MSIX_ENTRY_VECTOR_CTRL, 4);
    bus.mmioWrite(base + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, vc & ~PCI_MSIX_ENTRY_CTRL_MASKBIT);
    entries[i]!.vector = irq;
    pdev.msixIrqs.push(irq);
    pdev.msixTableIdx.push(entries[i]!.entry);
  }
  pci_intx(pdev, false);
  pdev.cfgWrite(cap + PCI_MSIX_FLAGS, 2, (ctrl | PCI_MSIX_FLAGS_ENABLE) & ~PCI_MSIX_FLAGS_MASKALL);
  pdev.msix_enabled = true;
  return nvec;
}

/** Enables exactly `nvec` MSI-X vectors; 0 or -errno. */
export function pci_enable_msix_exact(pdev: PciDev, entries: MsixEntry[], nvec: number): number {
  const rc = pci_enable_msix_range(pdev, entries, nvec, nvec);
  return rc < 0 ? rc : 0;
}

function assertNoHandlers(pdev: PciDev, irqs: number[], api: string): void {
  for (const irq of irqs) {
    const d = pdev.kernel.irqs.get(irq);
    if (d && d.actions.length > 0) {
      throw new Error(`${api}: ${pdev.name} irq ${irq} still has handler '${d.actions[0]!.name}' (free_irq first)`);
    }
  }
}

/** Masks the table entries, clears MSI-X enable and frees the irqs. Handlers still installed throw. */
export function pci_disable_msix(pdev: PciDev): void {
  if (!pdev.msix_enabled) return;
  assertNoHandlers(pdev, pdev.msixIrqs, 'pci_disable_msix');
  const cap = pdev.msix_cap;
  const tbl = pdev.cfgRead(cap + PCI_MSIX_TABLE, 4);
  const res = pdev.resource[tbl & 7]!;
  const tableBase = res.start + ((tbl & ~7) >>> 0);
  const bus = pdev.kernel.pciBus;
  for (const idx of pdev.msixTableIdx) {
    const a = tableBase + idx * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL;
    bus.mmioWrite(a, 4, bus.mmioRead(a, 4) | PCI_MSIX_ENTRY_CTRL_MASKBIT);
  }
  const ctrl = pdev.cfgRead(cap + PCI_MSIX_FLAGS, 2);
  pdev.cfgWrite(cap + PCI_MSIX_FLAGS, 2, ctrl & ~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL));
  pci_intx(pdev, true);
  for (const irq of pdev.msixIrqs) pdev.kernel.irqs.freeMsi(irq);
  pdev.msixIrqs = [];
  pdev.msixTableIdx = [];
  pdev.msix_enabled = false;
}

/** Enables single-message MSI; sets pdev.irq to the new irq. 0 or -errno. */
export function pci_enable_msi(pdev: PciDev): number {
  const cap = pdev.msi_cap;
  if (!cap || pdev.msi_enabled || pdev.msix_enabled || pdev.enableCount === 0) return -EINVAL;
  const ctrl = pdev.cfgRead(cap + PCI_MSI_FLAGS, 2);
  const irq = pdev.kernel.irqs.allocMsi('msi', pdev);
  pdev.cfgWrite(cap + PCI_MSI_ADDRESS_LO, 4, MSI_ADDRESS);
  if (ctrl & PCI_MSI_FLAGS_64BIT) {
    pdev.cfgWrite(cap + 8, 4, 0);
    pdev.cfgWrite(cap + 12, 2, irq);
  } else pdev.cfgWrite(cap + 8, 2, irq);
  pci_intx(pdev, false);
  pdev.cfgWrite(cap + PCI_MSI_FLAGS, 2, (ctrl & ~PCI_MSI_FLAGS_QSIZE) | PCI_MSI_FLAGS_ENABLE);
  pdev.msi_enabled = true;
  pdev.irq = irq;
  return 0;
}

/** Disables MSI and returns pdev.irq to the legacy line. Handlers still installed throw. */
export function pci_disable_msi(pdev: PciDev): void {
  if (!pdev.msi_enabled) return;
  assertNoHandlers(pdev, [pdev.irq], 'pci_disable_msi');
  const cap = pdev.msi_cap;
  const ctrl = pdev.cfgRead(cap + PCI_MSI_FLAGS, 2);
  pdev.cfgWrite(cap + PCI_MSI_FLAGS, 2, ctrl & ~PCI_MSI_FLAGS_ENABLE);
  pci_intx(pdev, true);
  pdev.kernel.irqs.freeMsi(pdev.irq);
  pdev.msi_enabled = false;
  pdev.irq = pdev.legacyIrq;
}

/** Which enabled memory BAR claims `phys` on `kernel`'s bus (for routing peer-to-peer DMA), or null. */
export function mmioDecode(kernel: Kernel, phys: number): { pdev: PciDev; bar: number; offset: number } | null {
  return kernel.pciBus.mmioDecode(phys);
}
