// 82574L transmit path: descriptor ring fetch, legacy/context/data descriptors, offloads, TX FIFO and link pacing (datasheet §7.2).

import {
  REG, TCTL_EN, TCTL_PSP, TARC_ENABLE, CTRL_VME, TXD_CMD_DEXT, TXD_CMD_EOP, TXD_CMD_RS, TXD_CMD_IC,
  TXD_CMD_VLE, TXD_CMD_TSE, TXD_DTYP_MASK, TXD_DTYP_C, TXD_DTYP_D, TXD_POPTS_IXSM, TXD_POPTS_TXSM,
  TXD_STAT_DD, TXD_CMD_IDE, TX_DESC_SIZE, ICR_TXDW, ICR_TXQ0, ICR_TXQE, IVAR_TX_INT_EVERY_WB, MAX_JUMBO_FRAME,
  PACKET_BUFFER_KB,
} from './defs.js';
import { guestAddr, addrAdd, type GuestAddr } from '../types.js';
import type { EventHandle } from '../host.js';
import { emptyContext, insertChecksum, insertIpChecksum, insertVlanTag, tsoSegment, gsoPacket, type TxContext } from './offload.js';
import type { GsoRequest } from '../host.js';
import { wireTimeNs } from '../sim/timing.js';
import type { E1000eDevice } from './device.js';

const W = (off: number): number => off >>> 2;
const TDBAL = W(REG.TDBAL0);
const TDBAH = W(REG.TDBAH0);
const TDLEN = W(REG.TDLEN0);
const TDH = W(REG.TDH0);
const TDT = W(REG.TDT0);
const TCTL = W(REG.TCTL);
const TARC0 = W(REG.TARC0);
const CTRL = W(REG.CTRL);
const VET = W(REG.VET);
const IVAR = W(REG.IVAR);
const PBA = W(REG.PBA);

/** Largest packet (headers + payload) a TSO context may describe: 256 KiB. */
export const MAX_TSO_PACKET = 0x40000;
/** Largest frame sent without segmentation: the 82574's jumbo limit, plus a VLAN tag the driver wrote itself. */
export const MAX_TX_FRAME = MAX_JUMBO_FRAME + 4;

/** Why transmit work was dropped; counted for tests, fuzzing oracles and traces. */
export interface TxDiag {
  ringFetchFaults: number;
  bufferFaults: number;
  writebackFaults: number;
  oversize: number;
  runts: number;
  badContext: number;
  badTail: number;
  badDescType: number;
  linkDownDrops: number;
}

/**
 * A TSO packet handed to a host that segments it (GSO): counted, paced and traced as the
 * segments it makes. Kept as the driver gave it, so it can still be segmented here if the host
 * can no longer take it when its turn on the wire comes.
 */
interface GsoItem {
  packet: Uint8Array;
  ctx: TxContext;
  ixsm: boolean;
  txsm: boolean;
  gso: GsoRequest;
  /** Frame bytes of all its segments (no FCS). */
  bytes: number;
  /** The pooled buffer `packet` is a view of, returned to the pool once the packet is sent. */
  buf: Uint8Array;
}

/** Spare TSO packet buffers kept for reuse (64 KiB each): a fresh one per packet kept the GC busy. */
const GSO_POOL_MAX = 32;
type TxItem = Uint8Array | GsoItem;

function itemBytes(i: TxItem): number {
  return i instanceof Uint8Array ? i.length : i.bytes;
}

/** Transmit queue 0 of an 82574L. */
export class TxEngine {
  readonly diag: TxDiag = {
    ringFetchFaults: 0, bufferFaults: 0, writebackFaults: 0, oversize: 0, runts: 0, badContext: 0,
    badTail: 0, badDescType: 0, linkDownDrops: 0,
  };
  private ctx: TxContext = emptyContext();
  private pkt = new Uint8Array(MAX_TSO_PACKET + 256);
  private readonly gsoPool: Uint8Array[] = [];
  private pktLen = 0;
  private pktFirst = true;
  private pktBad = false;
  private pktTse = false;
  private pktIxsm = false;
  private pktTxsm = false;
  private pktLegacyCso = -1;
  private pktLegacyCss = 0;
  /** A completed descriptor had IDE (interrupt delay enable) set. */
  private ideSeen = false;
  private desc = new Uint8Array(TX_DESC_SIZE);
  private descView = new DataView(this.desc.buffer);
  private dd = new Uint8Array([TXD_STAT_DD]);
  /** Set after a ring fetch fault: the queue stops until the ring is reprogrammed or reset. */
  private halted = false;
  private kickEvent: EventHandle | null = null;
  /** Frames fetched and waiting for the link, with their byte total and when their data arrived. */
  private fifo: TxItem[] = [];
  private fifoReady: number[] = [];
  private fifoHead = 0;
  private fifoBytes = 0;
  private linkFreeAt = 0;
  private drainEvent: EventHandle | null = null;
  private readonly drainCb = (): void => this.drainOne();
  /** Write-backs in flight (descriptor addresses, interrupt causes) when write-back latency is modeled. */
  private readonly wbEvents = new Set<EventHandle>();

  /** Whether e1000e_tx_desc is on (decided once: the trace sink's patterns are fixed). */
  private readonly traceDesc: boolean;

  constructor(private readonly dev: E1000eDevice) {
    this.traceDesc = dev.host.trace.enabled('e1000e_tx_desc');
  }

  reset(): void {
    this.ctx = emptyContext();
    this.resetPacket();
    this.halted = false;
    if (this.kickEvent) this.dev.host.cancel(this.kickEvent);
    if (this.drainEvent) this.dev.host.cancel(this.drainEvent);
    this.kickEvent = null;
    this.drainEvent = null;
    this.fifo = [];
    this.fifoReady = [];
    this.fifoHead = 0;
    this.fifoBytes = 0;
    this.linkFreeAt = 0;
    for (const h of this.wbEvents) this.dev.host.cancel(h);
    this.wbEvents.clear();
    this.pauseWait = false;
  }

  /** Ring registers were reprogrammed: a halted queue may run again. */
  ringChanged(): void {
    this.halted = false;
  }

  /** Tail or enable changed: schedule descriptor processing. */
  kick(): void {
    if (this.kickEvent) return;
    const t = this.dev.timing;
    // The doorbell's posted write reaches the device, then the descriptor fetch completes.
    this.kickEvent = this.dev.host.schedule(t.doorbellNs + t.mmioNs + t.dmaReadNs + t.descFetchNs, () => {
      this.kickEvent = null;
      this.process();
    });
  }

  private resetPacket(): void {
    this.pktLen = 0;
    this.pktFirst = true;
    this.pktBad = false;
    this.pktTse = false;
    this.pktIxsm = false;
    this.pktTxsm = false;
    this.pktLegacyCso = -1;
    this.pktLegacyCss = 0;
  }

  private trace(point: string, fields: Record<string, unknown>): void {
    const t = this.dev.host.trace;
    if (t.enabled(point)) t.emit(point, { dev: this.dev.name, ...fields });
  }

  private fifoCapacity(): number {
    const rxa = this.dev.mac[PBA]! & 0xffff;
    return Math.max(PACKET_BUFFER_KB - rxa, 4) * 1024;
  }

  /** Processes descriptors from TDH towards TDT until the ring is empty, the FIFO is full, or a fault. */
  process(): void {
    const m = this.dev.mac;
    // Without bus mastering the engine waits; configWrite kicks it when BME is set.
    if (!(m[TCTL]! & TCTL_EN) || !(m[TARC0]! & TARC_ENABLE) || this.halted || !this.dev.pci.busMaster) return;
    const n = (m[TDLEN]! & 0xfff80) / TX_DESC_SIZE;
    if (n === 0) return;
    const tail = m[TDT]! & 0xffff;
    if (tail >= n) {
      this.diag.badTail++;
      this.trace('e1000e_tx_bad_tail', { tdt: tail, count: n });
      return;
    }
    const base = guestAddr(m[TDBAL]! & ~0xf, m[TDBAH]!);
    // Frames collect in the FIFO at line rate, and also while the link partner has paused us.
    const paced = this.dev.timing.paceLink || this.dev.fc.txPaused();
    const cap = this.fifoCapacity();
    let head = m[TDH]! & 0xffff;
    if (head >= n) head = 0;
    let cause = 0;
    let budget = n; // never more than one lap per call, whatever the guest wrote
    const wbDelay = this.dev.timing.dmaReadNs + this.dev.timing.writebackNs;
    let deferred: GuestAddr[] | null = null;
    while (head !== tail && budget-- > 0) {
      if (paced && this.fifoBytes >= cap) break;
      const da = addrAdd(base, head * TX_DESC_SIZE);
      if (!this.dev.dmaRead(da, this.desc)) {
        this.diag.ringFetchFaults++;
        this.halted = true;
        this.trace('e1000e_tx_dma_fault', { what: 'descriptor', addr: da, index: head });
        break;
      }
      if (this.traceDesc) this.traceDescriptor(head, da);
      const wb = this.handleDescriptor();
      if (wb || m[IVAR]! & IVAR_TX_INT_EVERY_WB) {
        if (wbDelay > 0) (deferred ??= []).push(addrAdd(da, 12));
        else this.writeBack(addrAdd(da, 12));
        cause |= this.dev.msixMode() ? ICR_TXQ0 : ICR_TXDW;
      }
      head = head + 1 === n ? 0 : head + 1;
      m[TDH] = head;
    }
    if (head === tail) cause |= ICR_TXQE;
    if (deferred || (cause && wbDelay > 0)) {
      // The packet data is read, then the write-backs land, then the interrupt follows them.
      const list = deferred ?? [];
      const c = cause;
      const h: EventHandle = this.dev.host.schedule(wbDelay, () => {
        this.wbEvents.delete(h);
        for (const a of list) this.writeBack(a);
        if (c) this.raiseTx(c);
      });
      this.wbEvents.add(h);
    } else if (cause) this.raiseTx(cause);
  }

  private writeBack(addr: GuestAddr): void {
    if (!this.dev.dmaWrite(addr, this.dd)) {
      this.diag.writebackFaults++;
      this.trace('e1000e_tx_dma_fault', { what: 'writeback', addr });
    }
  }

  /** TXDW outside MSI-X goes through the TIDV/TADV delay timers when the descriptor asked (IDE). */
  private raiseTx(cause: number): void {
    if (cause & ICR_TXDW && this.ideSeen) {
      this.ideSeen = false;
      this.dev.irq.raiseDelayed('tx', ICR_TXDW);
      cause &= ~ICR_TXDW;
    }
    if (cause) this.dev.irq.raise(cause);
  }

  private traceDescriptor(index: number, addr: GuestAddr): void {
    const d = this.descView;
    const lo = d.getUint32(8, true);
    const kind = !(lo & TXD_CMD_DEXT) ? 'legacy' : (lo & TXD_DTYP_MASK) === TXD_DTYP_C ? 'context' : 'data';
    const length = kind === 'legacy' ? lo & 0xffff : lo & 0xfffff;
    const buffer = kind === 'context' ? undefined : d.getUint32(0, true) + d.getUint32(4, true) * 2 ** 32;
    this.dev.host.trace.emit('e1000e_tx_desc', { dev: this.dev.name, index, addr, kind, buffer, length, cmd: `0x${(lo >>> 24).toString(16)}` });
  }

  /** Handles the descriptor in this.desc; returns whether it asks for a status write-back (RS). */
  private handleDescriptor(): boolean {
    const d = this.descView;
    const lo = d.getUint32(8, true);
    const hi = d.getUint32(12, true);
    if (lo & TXD_CMD_DEXT) {
      const dtyp = lo & TXD_DTYP_MASK;
      if (dtyp === TXD_DTYP_C) {
        const c = this.ctx;
        c.ipcss = this.desc[0]!;
        c.ipcso = this.desc[1]!;
        c.ipcse = d.getUint16(2, true);
        c.tucss = this.desc[4]!;
        c.tucso = this.desc[5]!;
        c.tucse = d.getUint16(6, true);
        c.paylen = lo & 0xfffff;
        c.tcp = (lo & 0x01000000) !== 0;
        c.ipv4 = (lo & 0x02000000) !== 0;
        c.hdrlen = this.desc[13]!;
        c.mss = d.getUint16(14, true);
        const t = this.dev.host.trace;
        if (t.enabled('e1000e_tx_context')) t.emit('e1000e_tx_context', { dev: this.dev.name, ...c, tse: (lo & TXD_CMD_TSE) !== 0 });
        return (lo & TXD_CMD_RS) !== 0;
      }
      if (dtyp !== TXD_DTYP_D) {
        this.diag.badDescType++;
        this.trace('e1000e_tx_bad_descriptor', { dtyp: dtyp >>> 20 });
        return (lo & TXD_CMD_RS) !== 0;
      }
      if (this.pktFirst) {
        const popts = (hi >>> 8) & 0xff;
        this.pktTse = (lo & TXD_CMD_TSE) !== 0;
        this.pktIxsm = (popts & TXD_POPTS_IXSM) !== 0;
        this.pktTxsm = (popts & TXD_POPTS_TXSM) !== 0;
      }
      this.append(d.getUint32(0, true), d.getUint32(4, true), lo & 0xfffff);
    } else {
      if (this.pktFirst && lo & TXD_CMD_IC) {
        this.pktLegacyCso = (lo >>> 16) & 0xff;
        this.pktLegacyCss = (hi >>> 8) & 0xff;
      }
      this.append(d.getUint32(0, true), d.getUint32(4, true), lo & 0xffff);
    }
    if (lo & TXD_CMD_EOP) {
      const vlan = lo & TXD_CMD_VLE ? hi >>> 16 : -1;
      this.finishPacket(vlan);
    }
    if (lo & TXD_CMD_RS && lo & TXD_CMD_IDE) this.ideSeen = true;
    return (lo & TXD_CMD_RS) !== 0;
  }

  private append(lo: number, hi: number, len: number): void {
    this.pktFirst = false;
    if (len === 0 || this.pktBad) return;
    const limit = this.pktTse ? MAX_TSO_PACKET : MAX_TX_FRAME;
    if (this.pktLen + len > limit) {
      this.pktBad = true;
      this.diag.oversize++;
      this.trace('e1000e_tx_oversize', { length: this.pktLen + len, limit });
      return;
    }
    const addr: GuestAddr = guestAddr(lo, hi);
    if (!this.dev.dmaRead(addr, this.pkt.subarray(this.pktLen, this.pktLen + len))) {
      this.pktBad = true;
      this.diag.bufferFaults++;
      this.trace('e1000e_tx_dma_fault', { what: 'buffer', addr, length: len });
      return;
    }
    this.pktLen += len;
  }

  private finishPacket(vlan: number): void {
    const len = this.pktLen;
    const bad = this.pktBad;
    const tse = this.pktTse;
    const ixsm = this.pktIxsm;
    const txsm = this.pktTxsm;
    const lcso = this.pktLegacyCso;
    const lcss = this.pktLegacyCss;
    this.resetPacket();
    if (bad) return;
    if (tse) {
      const gso = this.gsoFor(len, ixsm, txsm, vlan);
      if (gso) {
        this.dev.stats.tsoContext();
        const buf = this.gsoPool.pop() ?? new Uint8Array(MAX_TSO_PACKET);
        buf.set(this.pkt.subarray(0, len));
        this.queue({ packet: buf.subarray(0, len), buf, ctx: { ...this.ctx }, ixsm, txsm, gso, bytes: len + (gso.segments - 1) * gso.hdrLen });
        return;
      }
      const res = tsoSegment(this.pkt, len, this.ctx, ixsm, txsm, (f) => this.emit(f, vlan));
      if (res !== 'ok') {
        this.diag.badContext++;
        this.trace('e1000e_tx_bad_context', { length: len, hdrlen: this.ctx.hdrlen, mss: this.ctx.mss });
      } else {
        this.dev.stats.tsoContext();
      }
      return;
    }
    const f = this.pkt.slice(0, len);
    const c = this.ctx;
    if (ixsm) insertIpChecksum(f, len, c);
    if (txsm) insertChecksum(f, len, c.tucss, c.tucso, c.tucse);
    if (lcso >= 0) insertChecksum(f, len, lcss, lcso, 0);
    this.emit(f, vlan);
  }

  /** Final MAC steps (VLAN insertion, short-frame padding) and hand-off to the FIFO. */
  private emit(frame: Uint8Array, vlan: number): void {
    const m = this.dev.mac;
    if (frame.length < 14) {
      this.diag.runts++;
      this.trace('e1000e_tx_runt', { length: frame.length });
      return;
    }
    if (vlan >= 0 && m[CTRL]! & CTRL_VME) frame = insertVlanTag(frame, m[VET]! & 0xffff, vlan);
    if (m[TCTL]! & TCTL_PSP && frame.length < 60) {
      const p = new Uint8Array(60);
      p.set(frame);
      frame = p;
    }
    this.queue(frame);
  }

  /** Into the TX FIFO, or straight out when the link is unpaced, not paused and nothing waits. */
  private queue(item: TxItem): void {
    if (!this.dev.timing.paceLink && !this.dev.fc.txPaused() && this.fifoHead === this.fifo.length) {
      this.transmit(item);
      return;
    }
    this.fifo.push(item);
    this.fifoReady.push(this.dev.host.now() + this.dev.timing.dmaReadNs);
    this.fifoBytes += itemBytes(item);
    if (!this.drainEvent) this.scheduleDrain();
  }

  /**
   * Whether this TSO packet can go to the host whole (GSO): the host takes it now, it is the
   * ordinary TCP/IPv4 or TCP/IPv6 TSO Linux sends (untagged Ethernet, checksums offloaded, the
   * context's header length exactly the headers' length, the TCP checksum field where TCP has
   * it), no VLAN tag to insert and no loopback. Anything else is segmented here.
   */
  private gsoFor(len: number, ixsm: boolean, txsm: boolean, vlan: number): GsoRequest | null {
    const host = this.dev.host;
    if (!host.gsoReady?.() || this.dev.loopback()) return null;
    if (vlan >= 0 && this.dev.mac[CTRL]! & CTRL_VME) return null;
    const c = this.ctx;
    const p = this.pkt;
    if (!c.tcp || !txsm || (c.ipv4 && !ixsm) || c.mss === 0 || c.ipcss !== 14) return null;
    const hdr = c.hdrlen;
    if (hdr >= len || c.tucso !== c.tucss + 16 || c.tucss + 20 > hdr) return null;
    const et = (p[12]! << 8) | p[13]!;
    if (c.ipv4 ? et !== 0x0800 || p[14]! >>> 4 !== 4 || c.tucss !== 14 + (p[14]! & 0xf) * 4 || p[23] !== 6
      : et !== 0x86dd || p[14]! >>> 4 !== 6 || c.tucss !== 54 || p[20] !== 6) return null;
    if (hdr !== c.tucss + (p[c.tucss + 12]! >>> 4) * 4) return null;
    // The whole packet's IP and TCP lengths must fit their 16-bit fields for the host to take it.
    if (len - c.ipcss > 0xffff || len - c.tucss > 0xffff) return null;
    const segments = Math.ceil((len - hdr) / c.mss);
    if (segments < 2) return null;
    return { ipv6: !c.ipv4, hdrLen: hdr, mss: c.mss, csumStart: c.tucss, csumOffset: 16, segments };
  }

  private scheduleDrain(): void {
    const host = this.dev.host;
    const now = host.now();
    const fc = this.dev.fc;
    if (fc.txPaused()) {
      // The partner's PAUSE holds the next frame; the frame already on the wire finished.
      this.pauseWait = true;
      this.drainEvent = host.schedule(fc.pausedUntil - now, this.drainCb, 5);
      return;
    }
    this.pauseWait = false;
    const item = this.fifo[this.fifoHead]!;
    // Back-to-back frames follow the exact (fractional) end of the previous one: events fire at
    // whole nanoseconds, and starting from `now` would round every frame up. An idle link starts now.
    let start = Math.max(this.linkFreeAt, this.fifoReady[this.fifoHead]!);
    if (now >= start + 1) start = now;
    this.linkFreeAt = start + (this.dev.timing.paceLink ? this.wireNs(item) : 0);
    this.drainEvent = host.schedule(Math.ceil(this.linkFreeAt) - now, this.drainCb, 5);
  }

  /** The drain event is only waiting out a pause (no frame is on the wire). */
  private pauseWait = false;

  /** The partner's pause ended (timer or XON): frames held in the FIFO go again. */
  resumeFromPause(): void {
    if (this.drainEvent && this.pauseWait) {
      this.dev.host.cancel(this.drainEvent);
      this.drainEvent = null;
    }
    if (!this.drainEvent && this.fifoHead < this.fifo.length) this.scheduleDrain();
    this.kick();
  }

  private drainOne(): void {
    this.drainEvent = null;
    if (this.pauseWait) {
      this.pauseWait = false;
      if (this.fifoHead < this.fifo.length) this.scheduleDrain();
      return;
    }
    const frame = this.fifo[this.fifoHead]!;
    this.fifo[this.fifoHead++] = undefined as unknown as TxItem;
    if (this.fifoHead > 1024 && this.fifoHead * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.fifoHead);
      this.fifoReady = this.fifoReady.slice(this.fifoHead);
      this.fifoHead = 0;
    }
    const wasFull = this.fifoBytes >= this.fifoCapacity();
    this.fifoBytes -= itemBytes(frame);
    this.transmit(frame);
    if (this.fifoHead < this.fifo.length) this.scheduleDrain();
    else {
      this.fifo.length = 0;
      this.fifoReady.length = 0;
      this.fifoHead = 0;
    }
    if (wasFull) this.kick();
  }

  /** Wire time of a FIFO item: a frame, or every segment of a GSO packet with its own preamble and gap. */
  private wireNs(item: TxItem): number {
    const t = this.dev.timing;
    if (item instanceof Uint8Array) return wireTimeNs(t, item.length + 4);
    const { hdrLen, mss, segments } = item.gso;
    const last = item.packet.length - hdrLen - (segments - 1) * mss;
    return (segments - 1) * wireTimeNs(t, hdrLen + mss + 4) + wireTimeNs(t, hdrLen + last + 4);
  }

  private transmit(item: TxItem): void {
    if (!(item instanceof Uint8Array)) {
      this.transmitGso(item);
      return;
    }
    const frame = item;
    if (!this.dev.linkUp()) {
      this.diag.linkDownDrops++;
      this.trace('e1000e_tx_link_down_drop', { length: frame.length });
      return;
    }
    this.dev.stats.txFrame(frame);
    const t = this.dev.host.trace;
    if (t.enabled('e1000e_tx_frame')) t.emit('e1000e_tx_frame', { dev: this.dev.name, length: frame.length });
    if (this.dev.loopback()) this.dev.loopFrame(frame);
    else this.dev.host.sendFrame(frame);
  }

  /** A GSO packet's turn on the wire: its segments counted and traced, then one send to the host. */
  private transmitGso(item: GsoItem): void {
    const host = this.dev.host;
    if (!host.gsoReady?.() || this.dev.loopback() || !this.dev.linkUp()) {
      // The host cannot take it whole any more (a capture started, loopback): segment it here.
      tsoSegment(item.packet, item.packet.length, item.ctx, item.ixsm, item.txsm, (f) => this.transmit(f));
      this.releaseGso(item);
      return;
    }
    const { hdrLen, mss, segments } = item.gso;
    const t = host.trace;
    const tracing = t.enabled('e1000e_tx_frame');
    for (let i = 0; i < segments; i++) {
      const len = hdrLen + Math.min(mss, item.packet.length - hdrLen - i * mss);
      this.dev.stats.txFrameLen(item.packet, len);
      if (tracing) t.emit('e1000e_tx_frame', { dev: this.dev.name, length: len, gso: i === 0 ? segments : undefined });
    }
    // The host is done with the packet when sendGso returns (DeviceHost), so it is edited in place and reused.
    host.sendGso!(gsoPacket(item.packet, item.ctx), item.gso);
    this.releaseGso(item);
  }

  private releaseGso(item: GsoItem): void {
    if (this.gsoPool.length < GSO_POOL_MAX) this.gsoPool.push(item.buf);
  }
}
