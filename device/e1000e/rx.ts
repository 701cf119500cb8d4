// 82574L receive path: filters, VLAN strip, checksum status, packet buffer, legacy/extended descriptors (datasheet §7.1).

import {
  REG, RCTL_EN, RCTL_UPE, RCTL_MPE, RCTL_BAM, RCTL_VFE, RCTL_LPE, RCTL_SECRC, RCTL_MO_MASK, RCTL_MO_SHIFT,
  RCTL_RDMTS_MASK, RCTL_DTYP_MASK, CTRL_VME, RFCTL_EXTEN, RXCSUM_IPOFL, RXCSUM_TUOFL, RXCSUM_PCSD, RXCSUM_PCSS_MASK,
  RXD_STAT_DD, RXD_STAT_EOP, RXD_STAT_VP, RXD_STAT_IPCS, RXD_STAT_TCPCS, RXD_STAT_UDPCS,
  RXDEXT_ERR_IPE, RXDEXT_ERR_TCPE, RX_DESC_SIZE, ICR_RXT0, ICR_RXQ0, ICR_RXO, ICR_RXDMT0,
  NUM_RAR, rctlBufferSize,
} from './defs.js';
import { guestAddr, addrAdd } from '../types.js';
import type { EventHandle } from '../host.js';
import { foldSum, onesSum } from './offload.js';
import { wireTimeNs } from '../sim/timing.js';
import { isBroadcast } from './stats.js';
import type { E1000eDevice } from './device.js';

const W = (off: number): number => off >>> 2;
const RCTL = W(REG.RCTL);
const RDBAL = W(REG.RDBAL0);
const RDBAH = W(REG.RDBAH0);
const RDLEN = W(REG.RDLEN0);
const RDH = W(REG.RDH0);
const RDT = W(REG.RDT0);
const CTRL = W(REG.CTRL);
const VET = W(REG.VET);
const RFCTL = W(REG.RFCTL);
const RXCSUM = W(REG.RXCSUM);
const MTA0 = W(REG.MTA);
const VFTA0 = W(REG.VFTA);
const RAL0 = W(REG.RAL0);
const PBA = W(REG.PBA);
const MPC = W(REG.MPC);
const RNBC = W(REG.RNBC);
const ROC = W(REG.ROC);
const RUC = W(REG.RUC);

/** Frames a link partner queues before dropping (Linux's default txqueuelen). */
const INGRESS_LIMIT = 1000;

/** Multicast-offset (RCTL.MO) shifts of the MTA hash. */
const MO_SHIFTS = [4, 3, 2, 0];

/** Why received frames were not delivered; for tests, fuzzing oracles and traces. */
export interface RxDiag {
  filtered: number;
  vlanFiltered: number;
  disabled: number;
  ringFetchFaults: number;
  bufferFaults: number;
  badTail: number;
  fifoOverflow: number;
  /** Frames beyond what the link partner's queue would hold when a backend outruns the line rate. */
  ingressDrops: number;
}

/** Standard CRC-32 (IEEE 802.3) for the FCS kept when SECRC is clear. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Receive queue 0 of an 82574L. */
export class RxEngine {
  readonly diag: RxDiag = { filtered: 0, vlanFiltered: 0, disabled: 0, ringFetchFaults: 0, bufferFaults: 0, badTail: 0, fifoOverflow: 0, ingressDrops: 0 };
  /** Frames accepted but waiting for descriptors in the on-chip packet buffer. */
  private fifo: Uint8Array[] = [];
  private fifoBytes = 0;
  private halted = false;
  private desc = new Uint8Array(RX_DESC_SIZE);
  private descView = new DataView(this.desc.buffer);
  private wb = new Uint8Array(RX_DESC_SIZE);
  private wbView = new DataView(this.wb.buffer);

  /** Whether e1000e_rx_desc is on (decided once: the trace sink's patterns are fixed). */
  private readonly traceDesc: boolean;

  constructor(private readonly dev: E1000eDevice) {
    this.traceDesc = dev.host.trace.enabled('e1000e_rx_desc');
  }

  reset(): void {
    this.fifo = [];
    this.fifoBytes = 0;
    this.halted = false;
    if (this.ingressEvent) this.dev.host.cancel(this.ingressEvent);
    this.ingressEvent = null;
    this.ingress = [];
    this.ingressAt = [];
    this.lastArrive = -Infinity;
    if (this.raiseEvent) this.dev.host.cancel(this.raiseEvent);
    this.raiseEvent = null;
    this.pendingLow = 0;
  }

  private raiseEvent: EventHandle | null = null;
  private pendingLow = 0;
  /** When the previous frame finished arriving (fractional ns), for line-rate reception. */
  private lastArrive = -Infinity;
  /** Frames a backend delivered faster than the link could carry them, waiting their turn. */
  private ingress: Uint8Array[] = [];
  private ingressAt: number[] = [];
  private ingressEvent: EventHandle | null = null;

  ringChanged(): void {
    this.halted = false;
  }

  private trace(point: string, fields: Record<string, unknown>): void {
    const t = this.dev.host.trace;
    if (t.enabled(point)) t.emit(point, { dev: this.dev.name, ...fields });
  }

  /**
   * A frame (without FCS) from the wire. With link pacing, frames cannot arrive closer together
   * than their wire time: a backend that bursts faster (a host TAP) has its frames queued and
   * taken at line rate, as its link partner would send them.
   */
  receive(frame: Uint8Array): void {
    const t = this.dev.timing;
    if (t.paceLink) {
      const now = this.dev.host.now();
      const next = this.lastArrive + wireTimeNs(t, frame.length + 4);
      if (this.ingress.length === 0 && next <= now + 1) {
        this.lastArrive = Math.max(now, next);
        this.receiveNow(frame);
        return;
      }
      if (this.ingress.length >= INGRESS_LIMIT) {
        this.diag.ingressDrops++;
        this.trace('e1000e_rx_ingress_drop', { length: frame.length });
        return;
      }
      this.lastArrive = Math.max(now, next);
      this.ingress.push(frame);
      this.ingressAt.push(this.lastArrive);
      if (!this.ingressEvent) this.ingressEvent = this.dev.host.schedule(Math.ceil(this.ingressAt[0]!) - now, this.ingressCb, 4);
      return;
    }
    this.receiveNow(frame);
  }

  private readonly ingressCb = (): void => {
    this.ingressEvent = null;
    const now = this.dev.host.now();
    while (this.ingress.length > 0 && this.ingressAt[0]! <= now + 1) {
      this.ingressAt.shift();
      this.receiveNow(this.ingress.shift()!);
    }
    if (this.ingress.length > 0) this.ingressEvent = this.dev.host.schedule(Math.ceil(this.ingressAt[0]!) - now, this.ingressCb, 4);
  };

  private receiveNow(frame: Uint8Array): void {
    const m = this.dev.mac;
    if (!(m[RCTL]! & RCTL_EN) || !this.dev.linkUp()) {
      this.diag.disabled++;
      this.trace('e1000e_rx_disabled', { length: frame.length });
      return;
    }
    let len = frame.length;
    if (len < 14) {
      this.dev.stats.inc(RUC);
      this.trace('e1000e_rx_runt', { length: len });
      return;
    }
    this.dev.stats.rxSeen(len);
    const tagged = ((frame[12]! << 8) | frame[13]!) === (m[VET]! & 0xffff);
    const max = m[RCTL]! & RCTL_LPE ? 16384 : tagged ? 1518 : 1514;
    if (len > max) {
      this.dev.stats.inc(ROC);
      this.trace('e1000e_rx_oversize', { length: len, max });
      return;
    }
    if (len < 60) {
      // Short frames are padded the way a real wire would have carried them.
      const p = new Uint8Array(60);
      p.set(frame);
      frame = p;
      len = 60;
    }
    if (!this.accept(frame)) {
      this.diag.filtered++;
      this.trace('e1000e_rx_filtered', { dst: macStr(frame) });
      return;
    }
    if (tagged && m[RCTL]! & RCTL_VFE) {
      const vid = ((frame[14]! << 8) | frame[15]!) & 0xfff;
      if (!((m[VFTA0 + (vid >>> 5)]! >>> (vid & 31)) & 1)) {
        this.diag.vlanFiltered++;
        this.trace('e1000e_rx_vlan_filtered', { vid });
        return;
      }
    }
    if (this.fifo.length > 0 || !this.deliver(frame)) {
      this.enqueue(frame);
    }
  }

  private enqueue(frame: Uint8Array): void {
    const cap = (this.dev.mac[PBA]! & 0xffff) * 1024;
    this.dev.stats.inc(RNBC);
    this.dev.stats.totals.rxNoBuffers++;
    if (this.fifoBytes + frame.length > cap) {
      this.diag.fifoOverflow++;
      this.dev.stats.inc(MPC);
      this.dev.stats.totals.rxMissed++;
      this.trace('e1000e_rx_overrun', { length: frame.length, buffered: this.fifoBytes });
      this.dev.irq.raise(ICR_RXO);
      return;
    }
    this.fifo.push(frame);
    this.fifoBytes += frame.length;
  }

  /** New descriptors (RDT write) or the receiver enabled: move buffered frames to the ring. */
  drain(): void {
    while (this.fifo.length > 0) {
      if (!(this.dev.mac[RCTL]! & RCTL_EN)) return;
      const f = this.fifo[0]!;
      if (!this.deliver(f)) return;
      this.fifo.shift();
      this.fifoBytes -= f.length;
    }
  }

  /** Receiver disabled: the packet buffer is flushed. */
  flush(): void {
    this.fifo = [];
    this.fifoBytes = 0;
  }

  /** Destination address filter (datasheet §7.1.1.1). */
  accept(f: Uint8Array): boolean {
    const m = this.dev.mac;
    const rctl = m[RCTL]!;
    if (rctl & RCTL_UPE) return true;
    if (f[0]! & 1) {
      if (isBroadcast(f)) return (rctl & RCTL_BAM) !== 0;
      if (rctl & RCTL_MPE) return true;
      if (this.matchRar(f)) return true;
      const mo = (rctl & RCTL_MO_MASK) >>> RCTL_MO_SHIFT;
      const h = (((f[5]! << 8) | f[4]!) >>> MO_SHIFTS[mo]!) & 0xfff;
      return ((m[MTA0 + (h >>> 5)]! >>> (h & 31)) & 1) === 1;
    }
    return this.matchRar(f);
  }

  private matchRar(f: Uint8Array): boolean {
    const m = this.dev.mac;
    const lo = (f[0]! | (f[1]! << 8) | (f[2]! << 16) | (f[3]! << 24)) >>> 0;
    const hi = f[4]! | (f[5]! << 8);
    for (let i = 0; i < NUM_RAR; i++) {
      const rah = m[RAL0 + 2 * i + 1]!;
      if (rah & 0x80000000 && (rah & 0xffff) === hi && m[RAL0 + 2 * i] === lo) return true;
    }
    return false;
  }

  private available(n: number): number {
    const m = this.dev.mac;
    const h = m[RDH]! & 0xffff;
    const t = m[RDT]! & 0xffff;
    if (t >= n || h >= n) return 0;
    return t >= h ? t - h : n - h + t;
  }

  /** Stores one accepted frame into the ring. Returns false when there are not enough descriptors. */
  private deliver(frame: Uint8Array): boolean {
    const m = this.dev.mac;
    if (this.halted || !this.dev.pci.busMaster) return false; // frames wait in the packet buffer
    const n = (m[RDLEN]! & 0xfff80) / RX_DESC_SIZE;
    if (n === 0) return false;
    if ((m[RDT]! & 0xffff) >= n) {
      this.diag.badTail++;
      this.trace('e1000e_rx_bad_tail', { rdt: m[RDT], count: n });
      return false;
    }
    const rctl = m[RCTL]!;
    if (rctl & RCTL_DTYP_MASK) this.trace('e1000e_rx_packet_split_unsupported', { rctl });
    // VLAN stripping
    let vlanTag = -1;
    let data = frame;
    if (m[CTRL]! & CTRL_VME && ((frame[12]! << 8) | frame[13]!) === (m[VET]! & 0xffff)) {
      vlanTag = (frame[14]! << 8) | frame[15]!;
      data = new Uint8Array(frame.length - 4);
      data.set(frame.subarray(0, 12), 0);
      data.set(frame.subarray(16), 12);
    }
    if (!(rctl & RCTL_SECRC)) {
      const withFcs = new Uint8Array(data.length + 4);
      withFcs.set(data);
      new DataView(withFcs.buffer).setUint32(data.length, crc32(data), true);
      data = withFcs;
    }
    const bufSize = rctlBufferSize(rctl) || 2048;
    const need = Math.max(1, Math.ceil(data.length / bufSize));
    if (this.available(n) < need) return false;
    const extended = (m[RFCTL]! & RFCTL_EXTEN) !== 0;
    const pcsd = (m[RXCSUM]! & RXCSUM_PCSD) !== 0;
    this.checksumStatus(data, !pcsd || !extended);
    const status = this.csStatus;
    const errors = this.csErrors;
    const ipId = this.csIpId;
    const pktCsum = this.csPkt;
    const base = guestAddr(m[RDBAL]! & ~0xf, m[RDBAH]!);
    let h = m[RDH]! & 0xffff;
    let off = 0;
    for (let i = 0; i < need; i++) {
      const da = addrAdd(base, h * RX_DESC_SIZE);
      if (!this.dev.dmaRead(da, this.desc)) {
        this.diag.ringFetchFaults++;
        this.halted = true;
        this.trace('e1000e_rx_dma_fault', { what: 'descriptor', addr: da, index: h });
        return true; // the frame is lost; the ring is unusable until reprogrammed
      }
      const chunk = Math.min(bufSize, data.length - off);
      const buf = guestAddr(this.descView.getUint32(0, true), this.descView.getUint32(4, true));
      const eop = i === need - 1;
      if (!this.dev.dmaWrite(buf, need === 1 ? data : data.subarray(off, off + chunk))) {
        this.diag.bufferFaults++;
        this.trace('e1000e_rx_dma_fault', { what: 'buffer', addr: buf, length: chunk });
      }
      const w = this.wbView;
      const st = RXD_STAT_DD | (eop ? RXD_STAT_EOP | status : 0) | (eop && vlanTag >= 0 ? RXD_STAT_VP : 0);
      if (extended) {
        // Every byte of the 16-byte write-back is set: no clearing pass needed.
        w.setUint32(0, 0, true);
        w.setUint32(4, pcsd ? 0 : ((pktCsum << 16) | ipId) >>> 0, true);
        w.setUint32(8, (st | (eop ? errors : 0)) >>> 0, true);
        w.setUint16(12, chunk, true);
        w.setUint16(14, vlanTag >= 0 ? vlanTag : 0, true);
      } else {
        this.wb.fill(0);
        this.wb.set(this.desc.subarray(0, 8), 0);
        w.setUint16(8, chunk, true);
        w.setUint16(10, pktCsum, true);
        this.wb[12] = st & 0xff;
        this.wb[13] = eop ? (errors >>> 24) & 0xff : 0;
        w.setUint16(14, vlanTag >= 0 ? vlanTag : 0, true);
      }
      if (this.traceDesc) this.dev.host.trace.emit('e1000e_rx_desc', { dev: this.dev.name, index: h, addr: da, buffer: buf, length: chunk, status: `0x${st.toString(16)}`, eop });
      if (!this.dev.dmaWrite(da, this.wb)) {
        this.diag.ringFetchFaults++;
        this.halted = true;
        this.trace('e1000e_rx_dma_fault', { what: 'writeback', addr: da, index: h });
        return true;
      }
      off += chunk;
      h = h + 1 === n ? 0 : h + 1;
      m[RDH] = h;
    }
    this.dev.stats.rxGood(frame, frame.length);
    const t = this.dev.host.trace;
    if (t.enabled('e1000e_rx_frame')) t.emit('e1000e_rx_frame', { dev: this.dev.name, length: data.length, vlan: vlanTag, descriptors: need });
    const msix = this.dev.msixMode();
    const free = this.available(n);
    const rdmts = (rctl & RCTL_RDMTS_MASK) >>> 8;
    const low = free <= n >>> (rdmts + 1) ? ICR_RXDMT0 : 0;
    const wb = this.dev.timing.writebackNs;
    if (wb > 0) {
      // The interrupt follows the write-backs it reports; one pending raise covers every frame
      // written before it fires (the cause is a sticky ICR bit).
      this.pendingLow |= low;
      if (!this.raiseEvent) {
        this.raiseEvent = this.dev.host.schedule(wb, () => {
          this.raiseEvent = null;
          const l = this.pendingLow;
          this.pendingLow = 0;
          this.raiseRx(this.dev.msixMode(), l);
        });
      }
    } else this.raiseRx(msix, low);
    return true;
  }

  private raiseRx(msix: boolean, low: number): void {
    if (msix) this.dev.irq.raise(ICR_RXQ0 | low);
    else {
      if (low) this.dev.irq.raise(low);
      this.dev.irq.raiseDelayed('rx', ICR_RXT0);
    }
  }

  // Results of checksumStatus, kept in fields so the per-frame path allocates nothing.
  private csStatus = 0;
  private csErrors = 0;
  private csIpId = 0;
  private csPkt = 0;

  /**
   * Receive checksum offload status (datasheet §7.1.6). The packet checksum (from PCSS) is only
   * computed when the descriptor will carry it (PCSD clear or legacy descriptors).
   */
  private checksumStatus(d: Uint8Array, wantPktCsum: boolean): void {
    this.csStatus = this.csErrors = this.csIpId = this.csPkt = 0;
    const rxcsum = this.dev.mac[RXCSUM]!;
    let status = 0;
    let errors = 0;
    let ipId = 0;
    let l3 = 14;
    let et = (d[12]! << 8) | d[13]!;
    if (et === (this.dev.mac[VET]! & 0xffff) && d.length >= 18) {
      et = (d[16]! << 8) | d[17]!;
      l3 = 18;
    }
    const pcss = rxcsum & RXCSUM_PCSS_MASK;
    this.csPkt = wantPktCsum && pcss + l3 < d.length ? foldSum(onesSum(d, l3 + pcss, d.length)) : 0;
    if (et === 0x0800 && d.length >= l3 + 20 && d[l3]! >>> 4 === 4) {
      const ihl = (d[l3]! & 0xf) * 4;
      const total = (d[l3 + 2]! << 8) | d[l3 + 3]!;
      if (ihl < 20 || l3 + ihl > d.length) return;
      ipId = (d[l3 + 4]! << 8) | d[l3 + 5]!;
      if (rxcsum & RXCSUM_IPOFL) {
        status |= RXD_STAT_IPCS;
        if (foldSum(onesSum(d, l3, l3 + ihl)) !== 0xffff) errors |= RXDEXT_ERR_IPE;
      }
      const frag = ((d[l3 + 6]! << 8) | d[l3 + 7]!) & 0x3fff;
      const proto = d[l3 + 9]!;
      const end = Math.min(d.length, l3 + total);
      if (!frag && rxcsum & RXCSUM_TUOFL && total >= ihl && l3 + total <= d.length) {
        const pseudo = onesSum(d, l3 + 12, l3 + 20) + proto + (total - ihl);
        this.l4(d, l3 + ihl, end, proto, pseudo, (s, e) => {
          status |= s;
          errors |= e;
        });
      }
    } else if (et === 0x86dd && d.length >= l3 + 40 && d[l3]! >>> 4 === 6 && rxcsum & RXCSUM_TUOFL) {
      const plen = (d[l3 + 4]! << 8) | d[l3 + 5]!;
      const nh = d[l3 + 6]!;
      if (l3 + 40 + plen <= d.length) {
        const pseudo = onesSum(d, l3 + 8, l3 + 40) + nh + plen;
        this.l4(d, l3 + 40, l3 + 40 + plen, nh, pseudo, (s, e) => {
          status |= s;
          errors |= e;
        });
      }
    }
    this.csStatus = status;
    this.csErrors = errors;
    this.csIpId = ipId;
  }

  private l4(d: Uint8Array, start: number, end: number, proto: number, pseudo: number, out: (s: number, e: number) => void): void {
    if (proto === 6 && end - start >= 20) {
      const ok = foldSum(onesSum(d, start, end, pseudo)) === 0xffff;
      out(RXD_STAT_TCPCS, ok ? 0 : RXDEXT_ERR_TCPE);
    } else if (proto === 17 && end - start >= 8) {
      if (d[start + 6] === 0 && d[start + 7] === 0) return; // no checksum to verify
      const ok = foldSum(onesSum(d, start, end, pseudo)) === 0xffff;
      out(RXD_STAT_UDPCS, ok ? 0 : RXDEXT_ERR_TCPE);
    }
  }
}

function macStr(f: Uint8Array): string {
  return Array.from(f.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}
