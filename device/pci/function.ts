// A PCI Express function: config space, BARs and MSI / MSI-X / INTx signalling (PCI Local Bus 3.0 §6, PCIe Base 1.1 §7).

import { NULL_TRACE, type TraceSink } from '../trace.js';
import { guestAddr, type GuestAddr } from '../types.js';
import {
  ConfigSpace,
  layoutConfigSpace,
  PCI_BASE_ADDRESS_0,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_MSI_ADDRESS_LO,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_ENABLE,
  PCI_MSI_FLAGS_QMASK,
  PCI_MSI_FLAGS_QSIZE,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_ENABLE,
  PCI_MSIX_FLAGS_MASKALL,
  PCI_PM_CTRL,
  PCI_PM_CTRL_STATE_MASK,
  PCI_STATUS,
  PCI_STATUS_INTERRUPT,
  PCI_STATUS_W1C,
  type ConfigLayout,
  type PciFunctionConfig,
} from './config-space.js';
import { MsixTable } from './msix.js';

/** How the function delivers a message; the device wires this to DeviceHost.signalMsix/signalMsi/setIntx. */
export interface InterruptSink {
  msix(vector: number, addr: GuestAddr, data: number): void;
  msi(vector: number, addr: GuestAddr, data: number): void;
  intx(asserted: boolean): void;
}

/** Host-dependent behaviour of a function. */
export interface PciFunctionOptions {
  /**
   * The host emulates the MSI-X table and masking itself (vfio-user: QEMU does), so a raised
   * vector goes straight to the sink with address and data 0 whenever MSI-X is enabled.
   */
  msixTableInHost?: boolean;
}

const TWO_32 = 0x1_0000_0000;

/**
 * A generic type 0 PCIe function configured by the caller. Hosts route config cycles and the
 * MSI-X BAR here; the device asks it to raise interrupts and reads COMMAND through the getters.
 */
export class PciFunction {
  private readonly space: ConfigSpace;
  private layout: ConfigLayout;
  private readonly msix?: MsixTable;
  private readonly msixInHost: boolean;
  private intxLevel = false;
  private intxLine = false;

  constructor(
    private readonly cfg: PciFunctionConfig,
    private readonly sink: InterruptSink,
    private readonly trace: TraceSink = NULL_TRACE,
    opts: PciFunctionOptions = {},
  ) {
    this.space = new ConfigSpace(trace);
    this.layout = layoutConfigSpace(this.space, cfg);
    this.msixInHost = opts.msixTableInHost ?? false;
    if (cfg.msix) {
      this.msix = new MsixTable(
        cfg.msix,
        {
          enabled: () => this.msixEnabled(),
          functionMasked: () => (this.space.get(this.layout.msix! + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_MASKALL) !== 0,
          busMaster: () => this.busMaster,
        },
        (v, addr, data) => this.sink.msix(v, addr, data),
        trace,
      );
    }
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    const v = this.space.read(offset, size);
    if (this.trace.enabled('pci_config_read')) this.trace.emit('pci_config_read', { offset, size, value: v });
    return v;
  }

  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    if (this.trace.enabled('pci_config_write')) this.trace.emit('pci_config_write', { offset, size, value: value >>> 0 });
    const pm = this.layout.pm;
    const oldPower = this.powerState;
    if (!this.space.writeChecked(offset, size, value)) return;
    this.refreshCache();
    const touches = (o: number, len: number): boolean => offset < o + len && o < offset + size;

    if (pm !== undefined && touches(pm + PCI_PM_CTRL, 2)) {
      const ctrl = this.space.get(pm + PCI_PM_CTRL, 2);
      const state = ctrl & PCI_PM_CTRL_STATE_MASK;
      // PMC advertises no D1/D2: a write asking for them is ignored (PCI PM 1.2 §7.2.2).
      if (state === 1 || state === 2) this.space.set(pm + PCI_PM_CTRL, 2, (ctrl & ~PCI_PM_CTRL_STATE_MASK) | oldPower);
      else if (state !== oldPower && this.trace.enabled('pci_pm_state')) this.trace.emit('pci_pm_state', { from: oldPower, to: state });
    }
    const msi = this.layout.msi;
    if (msi && touches(msi.offset + PCI_MSI_FLAGS, 2)) {
      // Multiple Message Enable may not exceed Multiple Message Capable.
      const flags = this.space.get(msi.offset + PCI_MSI_FLAGS, 2);
      const capable = (flags & PCI_MSI_FLAGS_QMASK) >> 1;
      if ((flags & PCI_MSI_FLAGS_QSIZE) >> 4 > capable) {
        this.space.set(msi.offset + PCI_MSI_FLAGS, 2, (flags & ~PCI_MSI_FLAGS_QSIZE) | (capable << 4));
      }
    }
    // Any of COMMAND, MSI or MSI-X control may have unmasked something or changed who owns the interrupt.
    this.updateIntx();
    this.msix?.deliverPending();
    this.deliverMsiPending();
  }

  /** Back to power-up state (power-on or FLR): config space, BARs, MSI-X table and PBA; INTx deasserted. */
  reset(): void {
    if (this.trace.enabled('pci_reset')) this.trace.emit('pci_reset', {});
    this.layout = layoutConfigSpace(this.space, this.cfg);
    this.msix?.reset();
    this.intxLevel = false;
    this.refreshCache();
    this.updateIntx();
  }

  // COMMAND and the interrupt mode change only through configWrite and reset, and are read on
  // every DMA and interrupt: they are cached there (refreshCache).
  private cmdCache = 0;
  private modeCache: 'msix' | 'msi' | 'intx' = 'intx';

  private refreshCache(): void {
    this.cmdCache = this.command();
    this.modeCache = this.msixEnabled() ? 'msix' : this.msiEnabled() ? 'msi' : 'intx';
  }

  get memoryEnabled(): boolean {
    return (this.cmdCache & PCI_COMMAND_MEMORY) !== 0;
  }
  get ioEnabled(): boolean {
    return (this.cmdCache & PCI_COMMAND_IO) !== 0;
  }
  get busMaster(): boolean {
    return (this.cmdCache & PCI_COMMAND_MASTER) !== 0;
  }
  /** PMCSR power state: 0 = D0, 3 = D3hot (D1/D2 are not supported). 0 without a PM capability. */
  get powerState(): number {
    const pm = this.layout.pm;
    return pm === undefined ? 0 : this.space.get(pm + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK;
  }

  /** Programmed base address of BAR `index` (type bits stripped); 0 for an unused slot. */
  barAddress(index: number): number {
    const b = this.layout.bars[index];
    if (!b) return 0;
    const lo = this.space.get(PCI_BASE_ADDRESS_0 + 4 * index, 4);
    if (b.kind === 'io') return (lo & ~0x3) >>> 0;
    const base = (lo & ~0xf) >>> 0;
    return b.kind === 'mem64' ? this.space.get(PCI_BASE_ADDRESS_0 + 4 * index + 4, 4) * TWO_32 + base : base;
  }

  /** Size of BAR `index` in bytes; 0 for an unused slot or the upper half of a 64-bit BAR. */
  barSize(index: number): number {
    return this.layout.bars[index]?.size ?? 0;
  }

  /** Which message kind the function would use now: MSI-X if enabled, else MSI if enabled, else INTx. */
  interruptMode(): 'msix' | 'msi' | 'intx' {
    return this.modeCache;
  }

  /**
   * Signals MSI-X vector v: pending in the PBA while the vector or the function is masked (sent on
   * unmask), else sink.msix with the table's address and data. False if MSI-X is disabled, v is
   * out of range, or bus mastering is off (the message is dropped, as the bus would).
   */
  raiseMsix(vector: number): boolean {
    if (!this.msix) return false;
    if (this.msixInHost) {
      if (!this.msixEnabled() || !Number.isInteger(vector) || vector < 0 || vector >= this.msix.vectors) return false;
      if (this.trace.enabled('pci_msix_deliver')) this.trace.emit('pci_msix_deliver', { vector, host: true });
      this.sink.msix(vector, 0 as GuestAddr, 0);
      return true;
    }
    return this.msix.raise(vector);
  }

  /**
   * Signals MSI vector `vector` (0 by default) within the allocated block. With per-vector masking
   * a masked vector goes pending. False if MSI is disabled, the vector is out of range, or bus
   * mastering is off.
   */
  raiseMsi(vector = 0): boolean {
    const m = this.layout.msi;
    // With MSI-X enabled the function may not use MSI (PCI 3.0 §6.8.3.1).
    if (!m || !this.msiEnabled() || this.msixEnabled() || !Number.isInteger(vector) || vector < 0 || vector >= this.cfg.msi!.vectors) return false;
    const v = vector & (this.msiAllocated() - 1);
    if (m.mask !== undefined && m.pending !== undefined && ((this.space.get(m.mask, 4) >>> v) & 1) !== 0) {
      this.space.set(m.pending, 4, this.space.get(m.pending, 4) | (1 << v));
      if (this.trace.enabled('pci_msi_pending')) this.trace.emit('pci_msi_pending', { vector: v });
      return true;
    }
    if (!this.busMaster) {
      if (this.trace.enabled('pci_msi_dropped')) this.trace.emit('pci_msi_dropped', { vector: v, reason: 'bus master disabled' });
      return false;
    }
    this.sendMsi(v);
    return true;
  }

  /**
   * The function's internal interrupt level. STATUS.INTERRUPT follows it; the pin is asserted only
   * while COMMAND.INTX_DISABLE is clear and neither MSI nor MSI-X is enabled (PCI 3.0 §6.8.1.3).
   * sink.intx is called only when the visible line changes.
   */
  setIntxLevel(asserted: boolean): void {
    this.intxLevel = asserted;
    const st = this.space.get(PCI_STATUS, 2);
    this.space.set(PCI_STATUS, 2, asserted ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT);
    this.updateIntx();
  }

  /** Records errors the function detected (e.g. PCI_STATUS_REC_MASTER_ABORT on a failed DMA); software clears them with W1C. */
  setStatusBits(bits: number): void {
    this.space.set(PCI_STATUS, 2, this.space.get(PCI_STATUS, 2) | (bits & PCI_STATUS_W1C));
  }

  /** Reads the MSI-X table or PBA in BAR `bar` (default: the table's BAR). Unbacked bytes read 0. */
  msixBarRead(offset: number, size: 1 | 2 | 4, bar = this.cfg.msix?.tableBar ?? -1): number {
    return this.msix ? this.msix.barRead(bar, offset, size) : 0;
  }

  /** Writes the MSI-X table in BAR `bar` (default: the table's BAR); PBA and unbacked bytes ignore writes. */
  msixBarWrite(offset: number, size: 1 | 2 | 4, value: number, bar = this.cfg.msix?.tableBar ?? -1): void {
    this.msix?.barWrite(bar, offset, size, value);
  }

  private command(): number {
    return this.space.get(PCI_COMMAND, 2);
  }

  private msixEnabled(): boolean {
    const o = this.layout.msix;
    return o !== undefined && (this.space.get(o + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE) !== 0;
  }

  private msiEnabled(): boolean {
    const m = this.layout.msi;
    return m !== undefined && (this.space.get(m.offset + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE) !== 0;
  }

  private msiAllocated(): number {
    return 1 << ((this.space.get(this.layout.msi!.offset + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_QSIZE) >> 4);
  }

  private sendMsi(v: number): void {
    const m = this.layout.msi!;
    const addr = guestAddr(
      this.space.get(m.offset + PCI_MSI_ADDRESS_LO, 4),
      m.addrHi !== undefined ? this.space.get(m.addrHi, 4) : 0,
    );
    const n = this.msiAllocated();
    const data = (this.space.get(m.data, 2) & ~(n - 1)) | v;
    if (this.trace.enabled('pci_msi_deliver')) this.trace.emit('pci_msi_deliver', { vector: v, addr, data });
    this.sink.msi(v, addr, data);
  }

  private deliverMsiPending(): void {
    const m = this.layout.msi;
    if (!m || m.pending === undefined || m.mask === undefined || !this.msiEnabled() || !this.busMaster) return;
    let pending = this.space.get(m.pending, 4);
    if (pending === 0) return;
    const mask = this.space.get(m.mask, 4);
    for (let v = 0; v < 32; v++) {
      const bit = 1 << v;
      if (!(pending & bit) || mask & bit) continue;
      pending &= ~bit;
      this.space.set(m.pending, 4, pending);
      this.sendMsi(v);
    }
  }

  private updateIntx(): void {
    const line =
      this.intxLevel &&
      this.cfg.interruptPin !== 0 &&
      (this.command() & PCI_COMMAND_INTX_DISABLE) === 0 &&
      !this.msiEnabled() &&
      !this.msixEnabled();
    if (line === this.intxLine) return;
    this.intxLine = line;
    if (this.trace.enabled('pci_intx')) this.trace.emit('pci_intx', { asserted: line });
    this.sink.intx(line);
  }
}
