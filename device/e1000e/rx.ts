// 82574L receive path: filters, VLAN strip, checksum status, packet buffer, legacy/extended descriptors (datasheet §7.1).

import {
  REG, RCTL_EN, RCTL_UPE, RCTL_MPE, RCTL_BAM, RCTL_VFE, RCTL_LPE, RCTL_SECRC, RCTL_MO_MASK, RCTL_MO_SHIFT,
  RCTL_RDMTS_MASK, RCTL_DTYP_MASK, CTRL_VME, RFCTL_EXTEN, RXCSUM_IPOFL, RXCSUM_TUOFL, RXCSUM_PCSD, RXCSUM_PCSS_MASK,
  RXD_STAT_DD, RXD_STAT_EOP, RXD_STAT_VP, RXD_STAT_IPCS, RXD_STAT_TCPCS, RXD_STAT_UDPCS,
  RXDEXT_ERR_IPE, RXDEXT_ERR_TCPE, RX_DESC_SIZE, ICR_RXT0, ICR_RXQ0, ICR_RXO, ICR_RXDMT0,
  NUM_RAR, rctlBufferSize, RCTL_DTYP_PS, RX_PS_DESC_SIZE, MAX_JUMBO_FRAME,
  PSRCTL_BSIZE0_MASK, PSRCTL_BSIZE1_MASK, PSRCTL_BSIZE1_SHIFT, PSRCTL_BSIZE2_MASK, PSRCTL_BSIZE2_SHIFT,
  PSRCTL_BSIZE3_MASK, PSRCTL_BSIZE3_SHIFT, RXDPS_HDRSTAT_HDRSP, RXDPS_HDRSTAT_HDRLEN_MASK,
  RFCTL_IPFRSP_DIS, RFCTL_IPV6_DIS, RFCTL_IPV6_EX_DIS,
} from './defs.js';
import { guestAddr, addrAdd, type GuestAddr } from '../types.js';
import type { EventHandle } from '../host.js';
import { foldSum, onesSum } from './offload.js';
import { rssClassify, type RssResult } from './rss.js';
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
const RLEC = W(REG.RLEC);
const PSRCTL = W(REG.PSRCTL);

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
  /** Packet-split mode with RDH pointing into the middle of a 32-byte descriptor. */
  badHead: number;
  /** Frames no descriptor ring of this size and buffer layout could hold (dropped, RLEC). */
  unplaceable: number;
  /** Buffer writes clamped to their size by putBuffer: a bug in the layout code if ever non-zero. */
  overrunsBlocked: number;
  /** Frames from the wire while in PHY or MAC loopback. */
  loopbackIgnored: number;
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
  readonly diag: RxDiag = { filtered: 0, vlanFiltered: 0, disabled: 0, ringFetchFaults: 0, bufferFaults: 0, badTail: 0, fifoOverflow: 0, ingressDrops: 0, badHead: 0, unplaceable: 0, overrunsBlocked: 0, loopbackIgnored: 0 };
  /** Frames accepted but waiting for descriptors in the on-chip packet buffer. */
  private fifo: Uint8Array[] = [];
  private fifoBytes = 0;
  private halted = false;
  private desc = new Uint8Array(RX_PS_DESC_SIZE);
  private descView = new DataView(this.desc.buffer);
  private wb = new Uint8Array(RX_PS_DESC_SIZE);
  // Views for the 16-byte formats, made once: the per-frame path allocates no views for them.
  private readonly desc16 = this.desc.subarray(0, RX_DESC_SIZE);
  private readonly wb16 = this.wb.subarray(0, RX_DESC_SIZE);
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
    this.partnerPausedUntil = 0;
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
      if (this.ingress.length === 0 && next <= now + 1 && this.partnerPausedUntil <= now) {
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

  /** A frame the device's own transmitter looped back (PHY or MAC loopback): no wire pacing. */
  receiveLooped(frame: Uint8Array): void {
    this.receiveNow(frame);
  }

  private readonly ingressCb = (): void => {
    this.ingressEvent = null;
    const now = this.dev.host.now();
    if (this.partnerPausedUntil > now) {
      this.ingressEvent = this.dev.host.schedule(this.partnerPausedUntil - now, this.ingressCb, 4);
      return;
    }
    while (this.ingress.length > 0 && this.ingressAt[0]! <= now + 1) {
      this.ingressAt.shift();
      this.receiveNow(this.ingress.shift()!);
      if (this.partnerPausedUntil > now) break; // our XOFF reached the partner between two frames
    }
    if (this.ingress.length > 0) {
      const at = Math.max(Math.ceil(this.ingressAt[0]!), this.partnerPausedUntil);
      this.ingressEvent = this.dev.host.schedule(Math.max(0, at - now), this.ingressCb, 4);
    }
  };

  /**
   * Until when the link partner holds frames back because we sent it XOFF (0: it does not).
   * The ingress queue stands for the partner's transmit queue, so a partner that honours
   * PAUSE stops sending from it; frames arriving meanwhile wait there (or are dropped when
   * it is full), as a switch port's would.
   */
  private partnerPausedUntil = 0;

  /** We sent a PAUSE (quanta 0 = XON) that a partner advertising symmetric pause honours. */
  partnerPause(untilNs: number): void {
    this.partnerPausedUntil = untilNs;
    if (this.ingressEvent && untilNs === 0) {
      this.dev.host.cancel(this.ingressEvent);
      this.ingressEvent = null;
    }
    if (!this.ingressEvent && this.ingress.length > 0) this.ingressEvent = this.dev.host.schedule(0, this.ingressCb, 4);
  }

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
    // MAC Control frames (PAUSE) end in the flow-control unit.
    if (this.dev.fc.receive(frame)) return;
    this.dev.stats.rxSeen(len);
    const tagged = ((frame[12]! << 8) | frame[13]!) === (m[VET]! & 0xffff);
    const max = (m[RCTL]! & RCTL_LPE ? MAX_JUMBO_FRAME : 1514) + (tagged ? 4 : 0);
    if (len > max) {
      this.dev.stats.inc(ROC);
      this.dev.stats.inc(RLEC);
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
    this.dev.fc.rxBuffered(this.fifoBytes);
  }

  /** New descriptors (RDT write) or the receiver enabled: move buffered frames to the ring. */
  drain(): void {
    while (this.fifo.length > 0) {
      if (!(this.dev.mac[RCTL]! & RCTL_EN)) return;
      const f = this.fifo[0]!;
      if (!this.deliver(f)) break;
      this.fifo.shift();
      this.fifoBytes -= f.length;
    }
    this.dev.fc.rxBuffered(this.fifoBytes);
  }

  /** Receiver disabled: the packet buffer is flushed. */
  flush(): void {
    this.fifo = [];
    this.fifoBytes = 0;
    this.dev.fc.rxBuffered(0);
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

  /** Free 16-byte descriptor units between RDH and RDT (a ring of `n` units). */
  private available(n: number): number {
    const m = this.dev.mac;
    const h = m[RDH]! & 0xffff;
    const t = m[RDT]! & 0xffff;
    if (t >= n || h >= n) return 0;
    return t >= h ? t - h : n - h + t;
  }

  /** Packet-split descriptors (RCTL.DTYP = 01; the reserved 11 behaves the same, as bit 10 decides). */
  private splitMode(rctl: number): boolean {
    const dtyp = rctl & RCTL_DTYP_MASK;
    if (dtyp === 0) return false;
    if (dtyp !== RCTL_DTYP_PS && this.traceReserved !== rctl) {
      this.traceReserved = rctl;
      this.trace('e1000e_rx_reserved_dtyp', { rctl: `0x${rctl.toString(16)}` });
    }
    return (dtyp & RCTL_DTYP_PS) !== 0;
  }
  private traceReserved = -1;

  /**
   * The one place receive data reaches guest memory. Every receive path (legacy, extended,
   * packet split) writes buffer data through here with the size its descriptor format,
   * BSIZE/BSEX or PSRCTL gives; more than that is never written. The layout code above it
   * never asks for more, so a clamp here is a bug in this file, counted and traced.
   */
  private putBuffer(addr: GuestAddr, size: number, data: Uint8Array): number {
    let d = data;
    if (d.length > size) {
      this.diag.overrunsBlocked++;
      this.trace('e1000e_rx_overrun_blocked', { addr, size, length: d.length });
      d = d.subarray(0, Math.max(0, size));
    }
    if (d.length === 0) return 0;
    if (!this.dev.dmaWrite(addr, d)) {
      this.diag.bufferFaults++;
      this.trace('e1000e_rx_dma_fault', { what: 'buffer', addr, length: d.length });
    }
    return d.length;
  }

  /** Buffer sizes of one descriptor: RCTL.BSIZE/BSEX, or PSRCTL's four in packet-split mode. */
  private bufferSizes(rctl: number, split: boolean): void {
    const s = this.sizes;
    // Recomputed only when RCTL or PSRCTL changed: this runs for every frame.
    const ps = split ? this.dev.mac[PSRCTL]! : 0;
    if (rctl === this.sizesRctl && ps === this.sizesPsrctl) return;
    this.sizesRctl = rctl;
    this.sizesPsrctl = ps;
    if (split) {
      s[0] = (ps & PSRCTL_BSIZE0_MASK) * 128;
      s[1] = ((ps & PSRCTL_BSIZE1_MASK) >>> PSRCTL_BSIZE1_SHIFT) * 1024;
      s[2] = ((ps & PSRCTL_BSIZE2_MASK) >>> PSRCTL_BSIZE2_SHIFT) * 1024;
      s[3] = ((ps & PSRCTL_BSIZE3_MASK) >>> PSRCTL_BSIZE3_SHIFT) * 1024;
    } else {
      // BSEX with BSIZE 00 is a reserved encoding: it is taken as BSIZE 00 without BSEX, 2048.
      s[0] = rctlBufferSize(rctl) || 2048;
      s[1] = s[2] = s[3] = 0;
    }
  }
  private readonly sizes = new Int32Array(4);
  private sizesRctl = -1;
  private sizesPsrctl = -1;
  private readonly rss: RssResult = { hash: 0, type: 0, queue: 0 };
  private readonly lengths = new Int32Array(4);
  private readonly addrs: GuestAddr[] = [0 as GuestAddr, 0 as GuestAddr, 0 as GuestAddr, 0 as GuestAddr];

  /**
   * Where a packet-split receive cuts the header (datasheet §7.1.5.2): after the TCP or UDP
   * header of an IPv4/IPv6 packet, after the IP header for other protocols and for fragments;
   * 0 = not split (not IP, split disabled by RFCTL for this kind, or the header does not fit
   * buffer 0).
   */
  private splitHeaderLength(d: Uint8Array, bsize0: number): number {
    const rfctl = this.dev.mac[RFCTL]!;
    let l3 = 14;
    let et = (d[12]! << 8) | d[13]!;
    if (et === (this.dev.mac[VET]! & 0xffff) && d.length >= 18) {
      et = (d[16]! << 8) | d[17]!;
      l3 = 18;
    }
    let hdr = 0;
    let proto = -1;
    if (et === 0x0800) {
      if (d.length < l3 + 20 || d[l3]! >>> 4 !== 4) return 0;
      const ihl = (d[l3]! & 0xf) * 4;
      if (ihl < 20) return 0;
      hdr = l3 + ihl;
      const frag = ((d[l3 + 6]! << 8) | d[l3 + 7]!) & 0x3fff;
      if (frag) {
        if (rfctl & RFCTL_IPFRSP_DIS) return 0;
      } else proto = d[l3 + 9]!;
    } else if (et === 0x86dd) {
      if (rfctl & RFCTL_IPV6_DIS || d.length < l3 + 40 || d[l3]! >>> 4 !== 6) return 0;
      let nh = d[l3 + 6]!;
      let off = l3 + 40;
      let ext = 0;
      // Hop-by-hop, routing and destination options headers, then a fragment header.
      while ((nh === 0 || nh === 43 || nh === 60 || nh === 44) && ext < 8) {
        if (off + 8 > d.length) return 0;
        ext++;
        if (nh === 44) {
          if (rfctl & RFCTL_IPFRSP_DIS) return 0;
          const fragOff = ((d[off + 2]! << 8) | d[off + 3]!) & 0xfff9;
          nh = fragOff ? -1 : d[off]!;
          off += 8;
          if (nh < 0) break;
          continue;
        }
        nh = d[off]!;
        off += (d[off + 1]! + 1) * 8;
      }
      if (ext > 0 && rfctl & RFCTL_IPV6_EX_DIS) return 0;
      if (ext >= 8) return 0;
      hdr = off;
      proto = nh;
    } else return 0;
    if (proto === 6) {
      if (hdr + 20 > d.length) return 0;
      hdr += (d[hdr + 12]! >>> 4) * 4;
    } else if (proto === 17) hdr += 8;
    if (hdr > d.length || hdr > bsize0 || hdr > RXDPS_HDRSTAT_HDRLEN_MASK) return 0;
    return hdr;
  }

  /** Stores one accepted frame into the ring. Returns false when there are not enough descriptors. */
  private deliver(frame: Uint8Array): boolean {
    const m = this.dev.mac;
    if (this.halted || !this.dev.pci.busMaster) return false; // frames wait in the packet buffer
    // RDLEN, RDH and RDT count 16-byte units; a packet-split descriptor takes two.
    const n = (m[RDLEN]! & 0xfff80) / RX_DESC_SIZE;
    if (n === 0) return false;
    if ((m[RDT]! & 0xffff) >= n) {
      this.diag.badTail++;
      this.trace('e1000e_rx_bad_tail', { rdt: m[RDT], count: n });
      return false;
    }
    const rctl = m[RCTL]!;
    const split = this.splitMode(rctl);
    const step = split ? RX_PS_DESC_SIZE / RX_DESC_SIZE : 1;
    if (split && (m[RDH]! & 1)) {
      // A 32-byte descriptor cannot start in the middle of another.
      this.diag.badHead++;
      this.trace('e1000e_rx_bad_head', { rdh: m[RDH], split });
      return false;
    }
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
    const len = data.length;
    const sizes = this.sizes;
    this.bufferSizes(rctl, split);
    // How the frame is laid out: a split header in buffer 0 of the first descriptor and the
    // rest in buffers 1-3 (buffer 0 of later descriptors stays empty), or the bytes in order
    // through every buffer of each descriptor.
    const hdrLen = split ? this.splitHeaderLength(data, sizes[0]!) : 0;
    const payloadCap = sizes[1]! + sizes[2]! + sizes[3]!;
    const splitting = hdrLen > 0 && (payloadCap > 0 || hdrLen === len);
    const perDesc = splitting ? payloadCap : sizes[0]! + payloadCap;
    const rest = splitting ? len - hdrLen : len;
    // A frame that is all header fits the header buffer alone, whatever the other sizes.
    const need = rest === 0 ? 1 : perDesc > 0 ? Math.ceil(rest / perDesc) : Infinity;
    if (need * step > n - step) {
      // No ring (or no buffer size) could ever hold it: drop rather than block the packet buffer.
      this.diag.unplaceable++;
      this.dev.stats.inc(RLEC);
      this.trace('e1000e_rx_unplaceable', { length: len, perDescriptor: perDesc, ring: n / step });
      return true;
    }
    if (this.available(n) < need * step) return false;
    const extended = split || (m[RFCTL]! & RFCTL_EXTEN) !== 0;
    const pcsd = (m[RXCSUM]! & RXCSUM_PCSD) !== 0;
    // With PCSD the write-back carries the RSS hash and type in place of the IP ID and packet
    // checksum. Linux sets the MRQC hash fields and PCSD but leaves MRQE (multiple queues) at 00
    // and still reads the hash: the hash is reported whenever a field applies; MRQE only
    // decides whether RETA picks a queue (the 82574L models one queue here; the MRQ field carries
    // the queue RETA names).
    const rss = this.rss;
    let mrq = 0;
    if (extended && pcsd && rssClassify(m, frame, rss)) mrq = (rss.type | (rss.queue << 8)) >>> 0;
    else rss.hash = 0;
    this.checksumStatus(data, !pcsd || !extended);
    const status = this.csStatus;
    const errors = this.csErrors;
    const ipId = this.csIpId;
    const pktCsum = this.csPkt;
    const base = guestAddr(m[RDBAL]! & ~0xf, m[RDBAH]!);
    const desc = split ? this.desc : this.desc16;
    const wbuf = split ? this.wb : this.wb16;
    const lengths = this.lengths;
    const addrs = this.addrs;
    const dv = this.descView;
    let h = m[RDH]! & 0xffff;
    let off = 0;
    for (let i = 0; i < need; i++) {
      const da = addrAdd(base, h * RX_DESC_SIZE);
      if (!this.dev.dmaRead(da, desc)) {
        this.diag.ringFetchFaults++;
        this.halted = true;
        this.trace('e1000e_rx_dma_fault', { what: 'descriptor', addr: da, index: h });
        return true; // the frame is lost; the ring is unusable until reprogrammed
      }
      if (split) {
        lengths.fill(0);
        for (let b = 0; b < 4; b++) addrs[b] = guestAddr(dv.getUint32(b * 8, true), dv.getUint32(b * 8 + 4, true));
        let b = 0;
        if (splitting) {
          if (i === 0) {
            lengths[0] = this.putBuffer(addrs[0]!, sizes[0]!, data.subarray(0, hdrLen));
            off = hdrLen;
          }
          b = 1;
        }
        for (; b < 4 && off < len; b++) {
          const cap = sizes[b]!;
          if (cap === 0) continue;
          const chunk = Math.min(cap, len - off);
          lengths[b] = this.putBuffer(addrs[b]!, cap, data.subarray(off, off + chunk));
          off += chunk;
        }
      } else {
        addrs[0] = guestAddr(dv.getUint32(0, true), dv.getUint32(4, true));
        const chunk = Math.min(sizes[0]!, len - off);
        lengths[0] = this.putBuffer(addrs[0], sizes[0]!, chunk === len ? data : data.subarray(off, off + chunk));
        off += chunk;
      }
      const eop = i === need - 1;
      const w = this.wbView;
      const st = RXD_STAT_DD | (eop ? RXD_STAT_EOP | status : 0) | (eop && vlanTag >= 0 ? RXD_STAT_VP : 0);
      if (extended) {
        // Every byte of the write-back is set: no clearing pass needed.
        w.setUint32(0, mrq, true);
        w.setUint32(4, pcsd ? rss.hash : ((pktCsum << 16) | ipId) >>> 0, true);
        w.setUint32(8, (st | (eop ? errors : 0)) >>> 0, true);
        w.setUint16(12, lengths[0]!, true);
        w.setUint16(14, vlanTag >= 0 ? vlanTag : 0, true);
        if (split) {
          w.setUint16(16, i === 0 && splitting ? hdrLen | RXDPS_HDRSTAT_HDRSP : 0, true);
          w.setUint16(18, lengths[1]!, true);
          w.setUint16(20, lengths[2]!, true);
          w.setUint16(22, lengths[3]!, true);
          w.setUint32(24, 0, true);
          w.setUint32(28, 0, true);
        }
      } else {
        this.wb.fill(0, 0, RX_DESC_SIZE);
        this.wb.set(desc.subarray(0, 8), 0);
        w.setUint16(8, lengths[0]!, true);
        w.setUint16(10, pktCsum, true);
        this.wb[12] = st & 0xff;
        this.wb[13] = eop ? (errors >>> 24) & 0xff : 0;
        w.setUint16(14, vlanTag >= 0 ? vlanTag : 0, true);
      }
      if (this.traceDesc) {
        this.dev.host.trace.emit('e1000e_rx_desc', {
          dev: this.dev.name, index: h, addr: da, buffer: addrs[0], length: lengths[0],
          ...(split ? { header: i === 0 && splitting ? hdrLen : 0, lengths: Array.from(lengths) } : {}),
          status: `0x${st.toString(16)}`, eop,
        });
      }
      if (!this.dev.dmaWrite(da, wbuf)) {
        this.diag.ringFetchFaults++;
        this.halted = true;
        this.trace('e1000e_rx_dma_fault', { what: 'writeback', addr: da, index: h });
        return true;
      }
      h = h + step >= n ? 0 : h + step;
      m[RDH] = h;
    }
    this.dev.stats.rxGood(frame, frame.length);
    const t = this.dev.host.trace;
    if (t.enabled('e1000e_rx_frame')) t.emit('e1000e_rx_frame', { dev: this.dev.name, length: data.length, vlan: vlanTag, descriptors: need, split: splitting ? hdrLen : undefined });
    const msix = this.dev.msixMode();
    const free = this.available(n) / step;
    const rdmts = (rctl & RCTL_RDMTS_MASK) >>> 8;
    const low = free <= (n / step) / (2 << rdmts) ? ICR_RXDMT0 : 0;
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
        this.l4(d, l3 + ihl, end, proto, pseudo);
        status |= this.l4Status;
        errors |= this.l4Errors;
      }
    } else if (et === 0x86dd && d.length >= l3 + 40 && d[l3]! >>> 4 === 6 && rxcsum & RXCSUM_TUOFL) {
      const plen = (d[l3 + 4]! << 8) | d[l3 + 5]!;
      const nh = d[l3 + 6]!;
      if (l3 + 40 + plen <= d.length) {
        const pseudo = onesSum(d, l3 + 8, l3 + 40) + nh + plen;
        this.l4(d, l3 + 40, l3 + 40 + plen, nh, pseudo);
        status |= this.l4Status;
        errors |= this.l4Errors;
      }
    }
    this.csStatus = status;
    this.csErrors = errors;
    this.csIpId = ipId;
  }

  /** TCP/UDP checksum check: sets l4Status and l4Errors (0 when nothing applies). No closure per frame. */
  private l4Status = 0;
  private l4Errors = 0;
  private l4(d: Uint8Array, start: number, end: number, proto: number, pseudo: number): void {
    this.l4Status = this.l4Errors = 0;
    if (proto === 6 && end - start >= 20) {
      const ok = foldSum(onesSum(d, start, end, pseudo)) === 0xffff;
      this.l4Status = RXD_STAT_TCPCS;
      this.l4Errors = ok ? 0 : RXDEXT_ERR_TCPE;
    } else if (proto === 17 && end - start >= 8) {
      if (d[start + 6] === 0 && d[start + 7] === 0) return; // no checksum to verify
      const ok = foldSum(onesSum(d, start, end, pseudo)) === 0xffff;
      this.l4Status = RXD_STAT_UDPCS;
      this.l4Errors = ok ? 0 : RXDEXT_ERR_TCPE;
    }
  }
}

function macStr(f: Uint8Array): string {
  return Array.from(f.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}
