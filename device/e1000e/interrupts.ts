// 82574L interrupt logic: ICR/ICS/IMS/IMC/IAM/EIAC/IVAR, auto-mask, MSI-X routing, ITR/EITR throttling (datasheet §7.4, §10.2.4).

import {
  REG, ICR_OTHER_CAUSES, ICR_OTHER, ICR_INT_ASSERTED, ICR_RXQ0, ICR_RXQ1, ICR_TXQ0, ICR_TXQ1,
  CTRL_EXT_IAME, IVAR_VALID, IVAR_RXQ0_SHIFT, IVAR_RXQ1_SHIFT, IVAR_TXQ0_SHIFT, IVAR_TXQ1_SHIFT,
  IVAR_OTHER_SHIFT, icrBitNames,
} from './defs.js';
import type { EventHandle } from '../host.js';
import type { E1000eDevice } from './device.js';

const MSIX_VECTORS = 5;
/** Slot used for the single MSI/INTx throttle (ITR) next to the five EITR slots. */
const LEGACY_SLOT = MSIX_VECTORS;

/** MSI-X causes in IVAR order with their IVAR field shifts. */
const MSIX_CAUSES: readonly [number, number][] = [
  [ICR_RXQ0, IVAR_RXQ0_SHIFT],
  [ICR_RXQ1, IVAR_RXQ1_SHIFT],
  [ICR_TXQ0, IVAR_TXQ0_SHIFT],
  [ICR_TXQ1, IVAR_TXQ1_SHIFT],
  [ICR_OTHER, IVAR_OTHER_SHIFT],
];

const W = (off: number): number => off >>> 2;
const ICR = W(REG.ICR);
const IMS = W(REG.IMS);
const IAM = W(REG.IAM);
const EIAC = W(REG.EIAC);
const IVAR = W(REG.IVAR);
const ITR = W(REG.ITR);
const EITR0 = W(REG.EITR0);
const CTRL_EXT = W(REG.CTRL_EXT);
const RDTR = W(REG.RDTR);
const RADV = W(REG.RADV);
const TIDV = W(REG.TIDV);
const TADV = W(REG.TADV);

/** One packet timer + absolute timer pair (RDTR/RADV or TIDV/TADV), counting 1.024 us units. */
interface DelayPair {
  cause: number;
  packet: EventHandle | null;
  absolute: EventHandle | null;
}

/** Counts kept for tests and benchmarks: messages actually sent per vector. */
export interface InterruptCounts {
  msix: number[];
  msi: number;
  intxAssertions: number;
  throttled: number;
}

/** Interrupt cause, mask and message logic of one 82574L. */
export class InterruptController {
  readonly counts: InterruptCounts = { msix: [0, 0, 0, 0, 0], msi: 0, intxAssertions: 0, throttled: 0 };
  private lastFire = new Float64Array(MSIX_VECTORS + 1).fill(-Infinity);
  private deferred: (EventHandle | null)[] = new Array(MSIX_VECTORS + 1).fill(null);
  private intxLevel = false;
  private readonly delays: Record<'rx' | 'tx', DelayPair> = {
    rx: { cause: 0, packet: null, absolute: null },
    tx: { cause: 0, packet: null, absolute: null },
  };

  constructor(private readonly dev: E1000eDevice) {}

  /**
   * Raises RXT0 (rx) or TXDW (tx) through the interrupt delay timers (datasheet §7.4.4). Under
   * MSI-X, or with the timers off or zero, the cause is raised at once. The packet timer restarts
   * with each completion; the absolute timer, armed by the first one, bounds the total wait.
   */
  raiseDelayed(kind: 'rx' | 'tx', cause: number): void {
    const m = this.dev.mac;
    const pkt = (kind === 'rx' ? m[RDTR]! : m[TIDV]!) & 0xffff;
    const abs = (kind === 'rx' ? m[RADV]! : m[TADV]!) & 0xffff;
    if (this.msix || !this.dev.timing.interruptDelayTimers || pkt === 0) {
      this.raise(cause);
      return;
    }
    const d = this.delays[kind];
    d.cause |= cause;
    const host = this.dev.host;
    const fire = () => this.fireDelayed(kind);
    if (d.packet) host.cancel(d.packet);
    d.packet = host.schedule(pkt * 1024, fire);
    if (!d.absolute && abs > 0) d.absolute = host.schedule(abs * 1024, fire);
  }

  /** A delay timer expired, or software flushed it (FPD): raise what was held back. */
  fireDelayed(kind: 'rx' | 'tx'): void {
    const d = this.delays[kind];
    if (d.packet) this.dev.host.cancel(d.packet);
    if (d.absolute) this.dev.host.cancel(d.absolute);
    d.packet = d.absolute = null;
    const c = d.cause;
    d.cause = 0;
    if (c) this.raise(c);
  }

  reset(): void {
    for (const k of ['rx', 'tx'] as const) {
      const d = this.delays[k];
      if (d.packet) this.dev.host.cancel(d.packet);
      if (d.absolute) this.dev.host.cancel(d.absolute);
      d.packet = d.absolute = null;
      d.cause = 0;
    }
    for (let i = 0; i <= MSIX_VECTORS; i++) {
      const h = this.deferred[i];
      if (h) this.dev.host.cancel(h);
      this.deferred[i] = null;
      this.lastFire[i] = -Infinity;
    }
    this.setIntx(false);
  }

  private get msix(): boolean {
    return this.dev.pci.interruptMode() === 'msix';
  }

  /** Raises causes (hardware events and ICS writes). */
  raise(cause: number): void {
    const m = this.dev.mac;
    const msix = this.msix;
    if (msix && cause & ICR_OTHER_CAUSES) cause |= ICR_OTHER;
    const old = m[ICR]! & m[IMS]!;
    m[ICR] = (m[ICR]! | cause) >>> 0;
    this.fixAsserted();
    const t = this.dev.host.trace;
    if (t.enabled('e1000e_irq_raise')) t.emit('e1000e_irq_raise', { dev: this.dev.name, cause: icrBitNames(cause), ICR: icrBitNames(m[ICR]!), IMS: icrBitNames(m[IMS]!) });
    const newly = (m[ICR]! & m[IMS]! & ~old) >>> 0;
    this.deliver(newly, msix);
  }

  /** ICR read, with the clear-on-read rules of the 82574 (datasheet §10.2.4.1). */
  readIcr(): number {
    const m = this.dev.mac;
    const v = m[ICR]!;
    let clear = false;
    if (m[IMS] === 0) clear = true;
    if (!this.msix) clear = true;
    if (v & ICR_INT_ASSERTED) {
      if (m[CTRL_EXT]! & CTRL_EXT_IAME) {
        m[IMS] = (m[IMS]! & ~m[IAM]!) >>> 0;
        clear = true;
      } else if (v & m[IMS]!) {
        clear = true;
      }
    }
    if (clear) m[ICR] = 0;
    this.updateLevel();
    return v;
  }

  /** ICR write: write 1 to clear. */
  writeIcr(v: number): void {
    const m = this.dev.mac;
    m[ICR] = (m[ICR]! & ~v) >>> 0;
    this.fixAsserted();
    this.updateLevel();
  }

  writeIms(v: number): void {
    const m = this.dev.mac;
    const old = m[ICR]! & m[IMS]!;
    m[IMS] = (m[IMS]! | v) >>> 0;
    const newly = (m[ICR]! & m[IMS]! & ~old) >>> 0;
    this.deliver(newly, this.msix);
  }

  writeImc(v: number): void {
    const m = this.dev.mac;
    m[IMS] = (m[IMS]! & ~v) >>> 0;
    this.updateLevel();
  }

  private fixAsserted(): void {
    const m = this.dev.mac;
    const c = m[ICR]! & ~ICR_INT_ASSERTED;
    m[ICR] = (c !== 0 ? c | ICR_INT_ASSERTED : 0) >>> 0;
  }

  private deliver(newly: number, msix: boolean): void {
    if (msix) {
      if (newly === 0) return;
      const m = this.dev.mac;
      const ivar = m[IVAR]!;
      for (const [bit, shift] of MSIX_CAUSES) {
        if (!(newly & bit)) continue;
        const ent = (ivar >>> shift) & 0xf;
        if (ent & IVAR_VALID && (ent & 7) >= MSIX_VECTORS) {
          // Vectors 5-7 do not exist on the 82574L: the message goes nowhere.
          const t = this.dev.host.trace;
          if (t.enabled('e1000e_irq_bad_vector')) t.emit('e1000e_irq_bad_vector', { dev: this.dev.name, cause: bit, vector: ent & 7 });
          continue;
        }
        if (!(ent & IVAR_VALID)) {
          const t = this.dev.host.trace;
          if (t.enabled('e1000e_irq_ivar_invalid')) t.emit('e1000e_irq_ivar_invalid', { dev: this.dev.name, cause: bit, ivar });
          continue;
        }
        this.fire(ent & 7);
      }
      const eff = m[EIAC]! & newly;
      if (eff) {
        m[ICR] = (m[ICR]! & ~eff) >>> 0;
        if (!(m[CTRL_EXT]! & CTRL_EXT_IAME)) m[IMS] = (m[IMS]! & ~eff) >>> 0;
        this.fixAsserted();
      }
      return;
    }
    if (this.dev.pci.interruptMode() === 'msi') {
      if (newly !== 0) this.fire(LEGACY_SLOT);
      return;
    }
    this.updateLevel();
  }

  /**
   * Recomputes the INTx level: ICR & IMS, whatever the mode (the PCI function keeps the pin
   * deasserted while MSI or MSI-X is enabled, and raises it if they are turned off with a
   * cause pending).
   */
  private updateLevel(): void {
    const m = this.dev.mac;
    this.setIntx((m[ICR]! & m[IMS]!) !== 0);
  }

  /** After a config write (interrupt mode changes). */
  refreshLevel(): void {
    this.updateLevel();
  }

  private setIntx(level: boolean): void {
    if (level === this.intxLevel) return;
    this.intxLevel = level;
    if (level) this.counts.intxAssertions++;
    this.dev.pci.setIntxLevel(level);
  }

  /** Interval for a slot in ns: EITR/ITR count 256 ns units. */
  private intervalNs(slot: number): number {
    if (!this.dev.timing.interruptThrottling) return 0;
    const m = this.dev.mac;
    const v = slot === LEGACY_SLOT ? m[ITR]! & 0xffff : m[EITR0 + slot]! & 0xffff;
    return v * 256;
  }

  /** The ICR causes IVAR routes to MSI-X vector `slot`, by name (for traces). */
  private vectorCauses(slot: number): string {
    const ivar = this.dev.mac[IVAR]!;
    let bits = 0;
    for (const [bit, shift] of MSIX_CAUSES) if (((ivar >>> shift) & 0xf) === (IVAR_VALID | slot)) bits |= bit;
    return icrBitNames(bits);
  }

  private fire(slot: number): void {
    if (slot >= MSIX_VECTORS && slot !== LEGACY_SLOT) {
      const t = this.dev.host.trace;
      if (t.enabled('e1000e_irq_bad_vector')) t.emit('e1000e_irq_bad_vector', { dev: this.dev.name, vector: slot });
      return;
    }
    if (this.deferred[slot]) return; // a message is already due: causes coalesce into it
    const now = this.dev.host.now();
    const due = this.lastFire[slot]! + this.intervalNs(slot);
    if (now < due) {
      this.counts.throttled++;
      this.deferred[slot] = this.dev.host.schedule(due - now, () => {
        this.deferred[slot] = null;
        this.send(slot);
      });
      return;
    }
    this.send(slot);
  }

  private send(slot: number): void {
    this.lastFire[slot] = this.dev.host.now();
    const t = this.dev.host.trace;
    // A message held back by throttling goes out only if its mode still holds.
    const mode = this.dev.pci.interruptMode();
    if (slot === LEGACY_SLOT ? mode !== 'msi' : mode !== 'msix') {
      if (t.enabled('e1000e_irq_stale')) t.emit('e1000e_irq_stale', { dev: this.dev.name, slot, mode });
      if (mode === 'intx') this.updateLevel();
      return;
    }
    if (slot === LEGACY_SLOT) {
      this.counts.msi++;
      if (t.enabled('e1000e_irq_msi')) t.emit('e1000e_irq_msi', { dev: this.dev.name });
      this.dev.pci.raiseMsi(0);
      return;
    }
    this.counts.msix[slot]!++;
    if (t.enabled('e1000e_irq_msix')) t.emit('e1000e_irq_msix', { dev: this.dev.name, vector: slot, causes: this.vectorCauses(slot), EITR: this.dev.mac[EITR0 + slot]! & 0xffff });
    this.dev.pci.raiseMsix(slot);
  }
}
