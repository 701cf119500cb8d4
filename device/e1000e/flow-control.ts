// 82574L 802.3x flow control: PAUSE reception (CTRL.RFCE), XOFF/XON transmission from the receive buffer's watermarks (CTRL.TFCE, FCRTH/FCRTL), counters (datasheet §3.7.5).

import {
  REG, CTRL_RFCE, CTRL_TFCE, FCRTL_XONE, FCRT_THRESHOLD_MASK, ETH_P_MAC_CONTROL, MAC_CONTROL_PAUSE, PAUSE_QUANTUM_BITS,
} from './defs.js';
import type { EventHandle } from '../host.js';
import type { E1000eDevice } from './device.js';

const W = (off: number): number => off >>> 2;
const CTRL = W(REG.CTRL);
const FCAL = W(REG.FCAL);
const FCAH = W(REG.FCAH);
const FCT = W(REG.FCT);
const FCTTV = W(REG.FCTTV);
const FCRTL = W(REG.FCRTL);
const FCRTH = W(REG.FCRTH);
const RAL0 = W(REG.RAL0);
const XONRXC = W(REG.XONRXC);
const XONTXC = W(REG.XONTXC);
const XOFFRXC = W(REG.XOFFRXC);
const XOFFTXC = W(REG.XOFFTXC);
const FCRUC = W(REG.FCRUC);

/** Flow-control events, for tests and the counters view (the registers clear on read). */
export interface FlowControlDiag {
  xoffSent: number;
  xonSent: number;
  xoffReceived: number;
  xonReceived: number;
  /** Nanoseconds the transmitter spent paused by the link partner. */
  pausedNs: number;
}

/**
 * The MAC's flow-control unit. The receive side tells it how full the packet buffer is; the
 * transmit side asks it whether the link partner has paused us.
 */
export class FlowControl {
  readonly diag: FlowControlDiag = { xoffSent: 0, xonSent: 0, xoffReceived: 0, xonReceived: 0, pausedNs: 0 };
  /** Virtual time until which the partner's PAUSE holds our transmitter (0: not paused). */
  pausedUntil = 0;
  private pausedSince = -1;
  /** We sent XOFF and have not yet sent XON. */
  private xoff = false;
  private refreshEvent: EventHandle | null = null;
  private resumeEvent: EventHandle | null = null;
  private buffered = 0;

  constructor(private readonly dev: E1000eDevice) {}

  reset(): void {
    this.pausedUntil = 0;
    this.pausedSince = -1;
    this.xoff = false;
    this.buffered = 0;
    if (this.refreshEvent) this.dev.host.cancel(this.refreshEvent);
    if (this.resumeEvent) this.dev.host.cancel(this.resumeEvent);
    this.refreshEvent = this.resumeEvent = null;
  }

  private quantumNs(): number {
    return (PAUSE_QUANTUM_BITS * 1000) / this.dev.timing.linkSpeedMbps;
  }

  /** The link partner's PAUSE holds the transmitter now. */
  txPaused(): boolean {
    return this.pausedUntil !== 0 && this.pausedUntil > this.dev.host.now();
  }

  /**
   * A frame from the wire: MAC Control frames (FCT's ethertype) end here. A PAUSE to the flow
   * control address (FCAH:FCAL) or our station address stops the transmitter for its pause
   * time when CTRL.RFCE is set; pause time 0 (XON) releases it. Other opcodes count in FCRUC.
   * Returns whether the frame was consumed.
   */
  receive(f: Uint8Array): boolean {
    const m = this.dev.mac;
    if (f.length < 18 || ((f[12]! << 8) | f[13]!) !== ((m[FCT]! & 0xffff) || ETH_P_MAC_CONTROL)) return false;
    const lo = (f[0]! | (f[1]! << 8) | (f[2]! << 16) | (f[3]! << 24)) >>> 0;
    const hi = f[4]! | (f[5]! << 8);
    const toFc = lo === m[FCAL] && hi === (m[FCAH]! & 0xffff);
    const toUs = lo === m[RAL0] && hi === (m[RAL0 + 1]! & 0xffff);
    const opcode = (f[14]! << 8) | f[15]!;
    if (opcode !== MAC_CONTROL_PAUSE || !(toFc || toUs)) {
      this.dev.stats.inc(FCRUC);
      this.trace('e1000e_fc_unsupported', { opcode, dst: toFc || toUs });
      return true;
    }
    const quanta = (f[16]! << 8) | f[17]!;
    if (quanta) {
      this.dev.stats.inc(XOFFRXC);
      this.diag.xoffReceived++;
    } else {
      this.dev.stats.inc(XONRXC);
      this.diag.xonReceived++;
    }
    if (!(m[CTRL]! & CTRL_RFCE)) {
      this.trace('e1000e_fc_pause_ignored', { quanta });
      return true;
    }
    const now = this.dev.host.now();
    this.trace('e1000e_fc_pause_received', { quanta });
    if (quanta === 0) {
      this.resume();
      return true;
    }
    if (this.pausedSince < 0) this.pausedSince = now;
    this.pausedUntil = now + Math.ceil(quanta * this.quantumNs());
    if (this.resumeEvent) this.dev.host.cancel(this.resumeEvent);
    this.resumeEvent = this.dev.host.schedule(this.pausedUntil - now, () => {
      this.resumeEvent = null;
      this.resume();
    });
    return true;
  }

  private resume(): void {
    if (this.resumeEvent) this.dev.host.cancel(this.resumeEvent);
    this.resumeEvent = null;
    const now = this.dev.host.now();
    if (this.pausedSince >= 0) this.diag.pausedNs += now - this.pausedSince;
    this.pausedSince = -1;
    this.pausedUntil = 0;
    this.trace('e1000e_fc_resume', {});
    this.dev.tx.resumeFromPause();
  }

  /**
   * The receive packet buffer now holds `bytes`. Crossing FCRTH sends XOFF (with FCTTV's pause
   * time, refreshed at half that while the buffer stays above FCRTL); falling below FCRTL sends
   * XON when FCRTL.XONE asks for it.
   */
  rxBuffered(bytes: number): void {
    this.buffered = bytes;
    const m = this.dev.mac;
    if (!(m[CTRL]! & CTRL_TFCE)) {
      this.xoff = false;
      return;
    }
    const high = m[FCRTH]! & FCRT_THRESHOLD_MASK;
    const low = m[FCRTL]! & FCRT_THRESHOLD_MASK;
    if (!this.xoff) {
      if (high > 0 && bytes >= high) {
        this.xoff = true;
        this.sendPause(m[FCTTV]! & 0xffff);
        this.scheduleRefresh();
      }
    } else if (bytes < low || bytes === 0) {
      this.xoff = false;
      if (this.refreshEvent) this.dev.host.cancel(this.refreshEvent);
      this.refreshEvent = null;
      if (m[FCRTL]! & FCRTL_XONE) this.sendPause(0);
    }
  }

  private scheduleRefresh(): void {
    const quanta = this.dev.mac[FCTTV]! & 0xffff;
    if (!quanta || this.refreshEvent) return;
    this.refreshEvent = this.dev.host.schedule(Math.max(1, Math.floor((quanta * this.quantumNs()) / 2)), () => {
      this.refreshEvent = null;
      if (!this.xoff) return;
      const low = this.dev.mac[FCRTL]! & FCRT_THRESHOLD_MASK;
      if (this.buffered >= low && this.buffered > 0 && this.dev.mac[CTRL]! & CTRL_TFCE) {
        this.sendPause(this.dev.mac[FCTTV]! & 0xffff);
        this.scheduleRefresh();
      } else this.rxBuffered(this.buffered);
    });
  }

  /** Sends a PAUSE frame (quanta 0 = XON) from our station address; MAC Control frames ignore a pause on us. */
  private sendPause(quanta: number): void {
    if (!this.dev.linkUp()) return;
    const m = this.dev.mac;
    const lo = m[RAL0]!;
    const hi = m[RAL0 + 1]!;
    // 01:80:C2:00:00:01, our station address, MAC Control, PAUSE, the pause time; padded to 60 bytes.
    const f = new Uint8Array(60);
    f.set([
      0x01, 0x80, 0xc2, 0x00, 0x00, 0x01,
      lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24, hi & 0xff, (hi >>> 8) & 0xff,
      ETH_P_MAC_CONTROL >>> 8, ETH_P_MAC_CONTROL & 0xff, 0, MAC_CONTROL_PAUSE, quanta >>> 8, quanta & 0xff,
    ]);
    if (quanta) {
      this.dev.stats.inc(XOFFTXC);
      this.diag.xoffSent++;
    } else {
      this.dev.stats.inc(XONTXC);
      this.diag.xonSent++;
    }
    this.trace('e1000e_fc_pause_sent', { quanta, buffered: this.buffered });
    if (this.dev.loopback()) this.dev.loopFrame(f);
    else {
      this.dev.host.sendFrame(f);
      // A partner that honours pause stops sending what it has queued for us.
      if (this.dev.phy.partnerHonoursPause) this.dev.rx.partnerPause(quanta ? this.dev.host.now() + Math.ceil(quanta * this.quantumNs()) : 0);
    }
  }

  private trace(point: string, fields: Record<string, unknown>): void {
    const t = this.dev.host.trace;
    if (t.enabled(point)) t.emit(point, { dev: this.dev.name, ...fields });
  }
}
