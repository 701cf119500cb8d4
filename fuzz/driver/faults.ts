// A hostile 82574L: faults injected between a driver and the (correct) device model, in both hosts.

import * as D from '../../device/e1000e/defs.js';
import type { E1000eDevice } from '../../device/e1000e/device.js';
import type { EventHandle } from '../../device/host.js';
import type { GuestAddr } from '../../device/types.js';
import { FaultKind, FAULT_NAMES, faultRng, type FaultSpec } from './scenario.js';

/**
 * The real paths a fault layer sits on: the device's host-facing surface (what the driver's
 * MMIO reaches, what the wire delivers) and the DeviceHost behaviour (DMA, interrupts).
 */
export interface FaultLower {
  readonly device: E1000eDevice;
  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean;
  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean;
  signalMsix(vector: number, addr: GuestAddr, data: number): void;
  signalMsi(vector: number, addr: GuestAddr, data: number): void;
  setIntx(asserted: boolean): void;
  barRead(bar: number, offset: number, size: number): number;
  barWrite(bar: number, offset: number, size: number, value: number): void;
  receiveFrame(frame: Uint8Array): void;
  setCarrier(present: boolean): void;
  now(): number;
  schedule(delayNs: number, cb: () => void): EventHandle;
  cancel(h: EventHandle): void;
}

export interface FaultLayerOptions {
  /** The hostile NIC's own MAC and its link partner's (random frames are sometimes addressed to it). */
  mac: Uint8Array;
  peerMac?: Uint8Array;
  /** Multiplies tick periods (the wall-clock host cannot tick every 100 us cheaply). */
  tickScale?: number;
}

const RX_BAD_LENGTHS = [0, 1, 13, 14, 59, 60, 1518, 1522, 1523, 1536, 2047, 2048, 2049, 4096, 9018, 16383, 65535];
const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];
const PERIODIC = new Set<FaultKind>([FaultKind.RxFakeDd, FaultKind.TxFakeDd, FaultKind.IrqStorm, FaultKind.CarrierFlap, FaultKind.RandomFrames]);

interface Active {
  spec: FaultSpec;
  rnd: () => number;
}

/**
 * Decides, fault by fault, what the device does wrong. Faults act only between `startPhase()`
 * and `stop()`, each inside its own window; per-fault random streams come from the seed and
 * the fault alone, so a run replays exactly in virtual time and shrinking a schedule keeps
 * the remaining faults' decisions.
 */
export class FaultLayer {
  /** Faults injected, by kind name. */
  readonly injected: Record<string, number> = {};
  /** MMIO writes the device lost (surprise removal, write drops): its configuration may now differ from the driver's. */
  lostWrites = 0;
  private readonly faults: Active[];
  private t0 = 0;
  private on = false;
  private ticks: EventHandle[] = [];
  /** The device's own INTx level and carrier, restored when faults stop. */
  private devIntx = false;
  private lineIntx = false;
  private carrier = true;
  private carrierForced: boolean | null = null;
  private lastMsix = new Map<number, { addr: GuestAddr; data: number }>();
  private lastMsi: { addr: GuestAddr; data: number } | null = null;
  private readonly scale: number;
  private readonly wb8 = new Uint8Array(8);
  private readonly wb8v = new DataView(this.wb8.buffer);

  constructor(
    private readonly lower: FaultLower,
    faults: FaultSpec[],
    seed: number,
    private readonly opts: FaultLayerOptions,
  ) {
    const seen = new Map<string, number>();
    this.faults = faults.map((spec) => {
      const key = JSON.stringify(spec);
      const n = seen.get(key) ?? 0;
      seen.set(key, n + 1);
      return { spec, rnd: faultRng(seed, spec, n) };
    });
    this.scale = opts.tickScale ?? 1;
  }

  /** When the fault phase started (host time, ns). */
  get phaseStart(): number {
    return this.t0;
  }

  /** Starts the fault phase now: windows are relative to this instant. */
  startPhase(): void {
    this.t0 = this.lower.now();
    this.on = true;
    for (const f of this.faults) {
      if (!PERIODIC.has(f.spec.kind)) continue;
      const period = 100_000 * (1 + (f.spec.param & 0xff)) * this.scale;
      const end = this.t0 + (f.spec.startMs + f.spec.durMs) * 1e6;
      const tick = (): void => {
        if (!this.on || this.lower.now() > end) {
          if (f.spec.kind === FaultKind.CarrierFlap) this.restoreCarrier();
          return;
        }
        this.periodic(f);
        this.ticks.push(this.lower.schedule(period, tick));
      };
      this.ticks.push(this.lower.schedule(f.spec.startMs * 1e6, tick));
      if (f.spec.kind === FaultKind.CarrierFlap) {
        this.ticks.push(this.lower.schedule((f.spec.startMs + f.spec.durMs) * 1e6 + 1, () => this.restoreCarrier()));
      }
    }
  }

  /** Ends all faults: the device is correct from here on (lines and carrier back to its own state). */
  stop(): void {
    this.on = false;
    for (const t of this.ticks) this.lower.cancel(t);
    this.ticks = [];
    this.restoreCarrier();
    if (this.lineIntx !== this.devIntx) {
      this.lineIntx = this.devIntx;
      this.lower.setIntx(this.devIntx);
    }
  }

  /** Whether any fault of these kinds was scheduled (for oracles that must make allowances). */
  has(...kinds: FaultKind[]): boolean {
    return this.faults.some((f) => kinds.includes(f.spec.kind));
  }

  private count(kind: FaultKind): void {
    const k = FAULT_NAMES[kind]!;
    this.injected[k] = (this.injected[k] ?? 0) + 1;
  }

  /** The first active fault of `kind` whose coin comes up, or null. */
  private hit(kind: FaultKind): Active | null {
    if (!this.on) return null;
    const t = this.lower.now();
    for (const f of this.faults) {
      const s = f.spec;
      if (s.kind !== kind) continue;
      const a = this.t0 + s.startMs * 1e6;
      if (t < a || t > a + s.durMs * 1e6) continue;
      if (f.rnd() < (s.rate + 1) / 256) {
        this.count(kind);
        return f;
      }
    }
    return null;
  }

  // ---- host-facing surface (MMIO, wire) ----

  barRead(bar: number, offset: number, size: number): number {
    if (!this.on) return this.lower.barRead(bar, offset, size);
    if ((bar === 0 || bar === 3) && this.hit(FaultKind.SurpriseRemoval)) return ONES[size] ?? 0xffffffff;
    let v = this.lower.barRead(bar, offset, size);
    if (bar !== 0 || size !== 4) return v;
    let f: Active | null;
    if ((f = this.hit(FaultKind.RegGarbage))) {
      const sel = f.spec.param & 3;
      const match = sel === 0 || (sel === 1 && offset === D.REG.ICR) || (sel === 2 && offset === D.REG.STATUS) || (sel === 3 && (offset === D.REG.MDIC || offset === D.REG.EERD || offset === D.REG.EXTCNF_CTRL));
      if (match) v = f.rnd() < 0.2 ? 0xffffffff : Math.floor(f.rnd() * 0x1_0000_0000);
    }
    if (offset === D.REG.STATUS && (f = this.hit(FaultKind.StatusFlap))) {
      v ^= D.STATUS_LU;
      if (f.rnd() < 0.3) v = (v & ~0xc0) | (Math.floor(f.rnd() * 4) << 6);
      if (f.rnd() < 0.2) v ^= D.STATUS_FD;
    }
    if (offset === D.REG.ICR && (f = this.hit(FaultKind.IcrRandom))) {
      v |= Math.floor(f.rnd() * 0x1_0000_0000) & 0x01f7c2df;
      if (f.rnd() < 0.8) v |= D.ICR_INT_ASSERTED;
    }
    return v >>> 0;
  }

  barWrite(bar: number, offset: number, size: number, value: number): void {
    if (this.on) {
      if ((bar === 0 || bar === 3) && this.hit(FaultKind.SurpriseRemoval)) {
        this.lostWrites++;
        return;
      }
      if (bar === 0) {
        const f = this.peekActive(FaultKind.WriteDrop);
        if (f) {
          const sel = f.spec.param & 3;
          const match = sel === 0 || sel === 3 || (sel === 1 && (offset === D.REG.RDT0 || offset === D.REG.TDT0)) || (sel === 2 && (offset === D.REG.IMS || offset === D.REG.IMC || offset === D.REG.ICS));
          if (match && this.hit(FaultKind.WriteDrop)) {
            this.lostWrites++;
            return;
          }
        }
      }
    }
    this.lower.barWrite(bar, offset, size, value);
  }

  private peekActive(kind: FaultKind): Active | null {
    const t = this.lower.now();
    for (const f of this.faults) {
      const s = f.spec;
      const a = this.t0 + s.startMs * 1e6;
      if (s.kind === kind && t >= a && t <= a + s.durMs * 1e6) return f;
    }
    return null;
  }

  receiveFrame(frame: Uint8Array): void {
    this.lower.receiveFrame(frame);
  }

  /** The wire's carrier (the real cable state; a flap fault overrides it while active). */
  setCarrier(present: boolean): void {
    this.carrier = present;
    if (this.carrierForced === null) this.lower.setCarrier(present);
  }

  private restoreCarrier(): void {
    if (this.carrierForced === null) return;
    this.carrierForced = null;
    this.lower.setCarrier(this.carrier);
  }

  // ---- DeviceHost: DMA ----

  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean {
    return this.lower.dmaRead(addr, dst);
  }

  private ring(rx: boolean): { base: number; count: number } {
    const d = this.lower.device;
    const lo = d.peek(rx ? 'RDBAL0' : 'TDBAL0') & ~0xf;
    const hi = d.peek(rx ? 'RDBAH0' : 'TDBAH0');
    const len = d.peek(rx ? 'RDLEN0' : 'TDLEN0');
    return { base: hi * 0x1_0000_0000 + lo, count: len >>> 4 };
  }

  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    if (!this.on) return this.lower.dmaWrite(addr, src);
    if (src.length === 16) {
      const r = this.ring(true);
      const off = addr - r.base;
      if (r.count > 0 && off >= 0 && off < r.count * 16 && off % 16 === 0) return this.rxWriteback(addr, src, r, off / 16);
    } else if (src.length <= 4) {
      const r = this.ring(false);
      const off = addr - r.base;
      if (r.count > 0 && off >= 0 && off < r.count * 16 && off % 16 === 12) {
        if (this.hit(FaultKind.TxWritebackDrop)) return true;
        const ok = this.lower.dmaWrite(addr, src);
        const f = this.hit(FaultKind.TxFakeDd);
        if (f) this.fakeTxDd(f, (off - 12) / 16 + 1);
        return ok;
      }
    }
    return this.lower.dmaWrite(addr, src);
  }

  private extended(): boolean {
    return (this.lower.device.peek('RFCTL') & D.RFCTL_EXTEN) !== 0;
  }

  private rxWriteback(addr: GuestAddr, src: Uint8Array, r: { base: number; count: number }, index: number): boolean {
    if (this.hit(FaultKind.RxWritebackDrop)) return true;
    const wb = src.slice();
    const v = new DataView(wb.buffer);
    const ext = this.extended();
    let staterr = ext ? v.getUint32(8, true) : wb[12]! | (wb[13]! << 24);
    let len = ext ? v.getUint16(12, true) : v.getUint16(8, true);
    let vlan = v.getUint16(14, true);
    let f: Active | null;
    if ((f = this.hit(FaultKind.RxBadLength))) len = f.rnd() < 0.7 ? RX_BAD_LENGTHS[Math.floor(f.rnd() * RX_BAD_LENGTHS.length)]! : Math.floor(f.rnd() * 65536);
    if ((f = this.hit(FaultKind.RxBadEop))) staterr ^= D.RXD_STAT_EOP;
    if ((f = this.hit(FaultKind.RxErrorBits))) staterr |= (Math.floor(f.rnd() * 256) << 24) >>> 0;
    if ((f = this.hit(FaultKind.RxRandomStatus))) {
      staterr = (staterr & ~0x7c) | (Math.floor(f.rnd() * 32) << 2);
      if (f.rnd() < 0.3) staterr |= (D.RXDEXT_ERR_TCPE | D.RXDEXT_ERR_IPE) & (Math.floor(f.rnd() * 0x1_0000_0000));
      vlan = Math.floor(f.rnd() * 65536);
    }
    if (ext) {
      v.setUint32(8, staterr >>> 0, true);
      v.setUint16(12, len, true);
    } else {
      wb[12] = staterr & 0xff;
      wb[13] = (staterr >>> 24) & 0xff;
      v.setUint16(8, len, true);
    }
    v.setUint16(14, vlan, true);
    const ok = this.lower.dmaWrite(addr, wb);
    if ((f = this.hit(FaultKind.RxFakeDd))) this.fakeRxDd(f, index + 1, r);
    return ok;
  }

  /** DD on descriptors the device never processed: a run of 1 + (param >> 8) starting at `from`. */
  private fakeRxDd(f: Active, from: number, r = this.ring(true)): void {
    if (r.count === 0) return;
    const n = Math.min(r.count, 1 + (f.spec.param >> 8));
    const ext = this.extended();
    const start = f.rnd() < 0.8 ? from : Math.floor(f.rnd() * r.count);
    for (let k = 0; k < n; k++) {
      const i = (start + k) % r.count;
      let staterr = D.RXD_STAT_DD | (f.rnd() < 0.85 ? D.RXD_STAT_EOP : 0);
      if (f.rnd() < 0.2) staterr |= Math.floor(f.rnd() * 128) << 1;
      const len = f.rnd() < 0.8 ? 60 + Math.floor(f.rnd() * 1455) : RX_BAD_LENGTHS[Math.floor(f.rnd() * RX_BAD_LENGTHS.length)]!;
      // Only the status half: the buffer address the driver wrote stays (a device that
      // scribbles over addresses too would make every later DMA go astray).
      const b = this.wb8v;
      if (ext) {
        b.setUint32(0, staterr >>> 0, true);
        b.setUint16(4, len, true);
        b.setUint16(6, 0, true);
      } else {
        b.setUint16(0, len, true);
        b.setUint16(2, 0, true);
        b.setUint8(4, staterr & 0xff);
        b.setUint8(5, 0);
        b.setUint16(6, 0, true);
      }
      this.lower.dmaWrite((r.base + i * 16 + 8) as GuestAddr, this.wb8);
    }
  }

  private fakeTxDd(f: Active, from: number): void {
    const r = this.ring(false);
    if (r.count === 0) return;
    const n = Math.min(r.count, 1 + (f.spec.param >> 8));
    const start = f.rnd() < 0.8 ? from : Math.floor(f.rnd() * r.count);
    const dd = new Uint8Array([D.TXD_STAT_DD]);
    for (let k = 0; k < n; k++) this.lower.dmaWrite((r.base + ((start + k) % r.count) * 16 + 12) as GuestAddr, dd);
  }

  // ---- DeviceHost: interrupts ----

  private deliverLater(f: Active | null, fire: () => void): void {
    if (!f) return fire();
    const ns = Math.floor(f.rnd() * 100_000 * (1 + (f.spec.param & 0xff)));
    this.lower.schedule(ns, fire);
  }

  signalMsix(vector: number, addr: GuestAddr, data: number): void {
    this.lastMsix.set(vector, { addr, data });
    if (!this.on) return this.lower.signalMsix(vector, addr, data);
    if (this.hit(FaultKind.IrqDrop)) return;
    this.deliverLater(this.hit(FaultKind.IrqDelay), () => this.lower.signalMsix(vector, addr, data));
    if (this.hit(FaultKind.IrqStorm)) this.lower.signalMsix(vector, addr, data);
  }

  signalMsi(vector: number, addr: GuestAddr, data: number): void {
    this.lastMsi = { addr, data };
    if (!this.on) return this.lower.signalMsi(vector, addr, data);
    if (this.hit(FaultKind.IrqDrop)) return;
    this.deliverLater(this.hit(FaultKind.IrqDelay), () => this.lower.signalMsi(vector, addr, data));
    if (this.hit(FaultKind.IrqStorm)) this.lower.signalMsi(vector, addr, data);
  }

  setIntx(asserted: boolean): void {
    this.devIntx = asserted;
    if (this.on && this.hit(FaultKind.IrqDrop)) return;
    const f = this.on ? this.hit(FaultKind.IrqDelay) : null;
    this.deliverLater(f, () => {
      if (this.lineIntx === this.devIntx) return;
      this.lineIntx = this.devIntx;
      this.lower.setIntx(this.devIntx);
    });
  }

  // ---- periodic faults ----

  private periodic(f: Active): void {
    const s = f.spec;
    if (f.rnd() >= (s.rate + 1) / 256) return;
    this.count(s.kind);
    const dev = this.lower.device;
    switch (s.kind) {
      case FaultKind.RxFakeDd:
        this.fakeRxDd(f, dev.peek('RDH0'));
        return;
      case FaultKind.TxFakeDd:
        this.fakeTxDd(f, dev.peek('TDH0'));
        return;
      case FaultKind.IrqStorm:
        return this.storm(f);
      case FaultKind.CarrierFlap: {
        const cur = this.carrierForced ?? this.carrier;
        this.carrierForced = !cur;
        this.lower.setCarrier(!cur);
        return;
      }
      case FaultKind.RandomFrames:
        return this.randomFrames(f);
    }
  }

  private storm(f: Active): void {
    const dev = this.lower.device;
    const n = 1 + Math.floor(f.rnd() * 8);
    const mode = dev.pci.interruptMode();
    for (let i = 0; i < n; i++) {
      if (mode === 'msix') {
        const v = Math.floor(f.rnd() * 5);
        const m = this.lastMsix.get(v);
        if (m) this.lower.signalMsix(v, m.addr, m.data);
        else dev.pci.raiseMsix(v);
      } else if (mode === 'msi') {
        if (this.lastMsi) this.lower.signalMsi(0, this.lastMsi.addr, this.lastMsi.data);
        else dev.pci.raiseMsi(0);
      } else if (!this.lineIntx) {
        // A pulse on a line the device is not driving: spurious for the handler.
        this.lineIntx = true;
        this.lower.setIntx(true);
        this.lower.schedule(2_000, () => {
          if (this.lineIntx !== this.devIntx) {
            this.lineIntx = this.devIntx;
            this.lower.setIntx(this.devIntx);
          }
        });
      }
    }
  }

  private randomFrames(f: Active): void {
    const r = f.rnd;
    const n = 1 + Math.floor(r() * 4);
    for (let k = 0; k < n; k++) {
      const x = r();
      const len = x < 0.1 ? Math.floor(r() * 60) : x < 0.8 ? 60 + Math.floor(r() * 1455) : x < 0.9 ? 1514 + Math.floor(r() * 8) : Math.floor(r() * 16384);
      const fr = new Uint8Array(len);
      // Headers from the fault's stream, the rest from a cheap generator seeded by it.
      for (let i = 0; i < Math.min(len, 64); i++) fr[i] = Math.floor(r() * 256);
      let g = Math.floor(r() * 0x1_0000_0000) | 1;
      for (let i = 64; i < len; i++) {
        g ^= g << 13;
        g ^= g >>> 17;
        g ^= g << 5;
        fr[i] = g & 0xff;
      }
      if (len >= 14) {
        const d = r();
        if (d < 0.5) fr.set(this.opts.mac, 0);
        else if (d < 0.7) fr.fill(0xff, 0, 6);
        if (this.opts.peerMac && r() < 0.5) fr.set(this.opts.peerMac, 6);
        const t = r();
        if (t < 0.3) {
          fr[12] = 0x81; // VLAN tag, then IPv4
          fr[13] = 0x00;
          if (len >= 18) {
            fr[16] = 0x08;
            fr[17] = 0x00;
          }
        } else if (t < 0.7) {
          fr[12] = 0x08; // IPv4 with a plausible header (bad checksums welcome)
          fr[13] = 0x00;
          if (len >= 34) {
            fr[14] = 0x45;
            fr[23] = r() < 0.5 ? 6 : 17;
          }
        }
      }
      this.lower.receiveFrame(fr);
    }
  }
}
