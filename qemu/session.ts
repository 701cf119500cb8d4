// A vfio-user server for one PCI device: command dispatch with errno replies, DMA windows, IRQ wiring, and the device's DeviceHost.

import * as P from './protocol.js';
import { DmaMapTable, type Mapper } from './dma-map.js';
import { IrqState, IRQ_COUNTS, type IrqIo } from './irqs.js';
import { WallClock, type WakeTimerFactory } from './wall-clock.js';
import { E1000eDevice, BAR_MMIO, BAR_FLASH, BAR_IO, BAR_MSIX } from '../device/e1000e/device.js';
import type { DeviceHost, EventHandle, GsoRequest } from '../device/host.js';
import { NULL_TRACE, type TraceSink } from '../device/trace.js';
import type { GuestAddr } from '../device/types.js';
import type { TimingParams } from '../device/sim/timing.js';
import type { WireEndpoint, WirePort } from '../wire/wire.js';

/** What a session needs from the operating system (the native addon, or a fake in tests). */
export interface SessionIo extends Mapper, IrqIo {
  /** A precise wake-up for the device clock (a timerfd); without it the clock uses Node's timers. */
  wakeTimer?: WakeTimerFactory;
}

/** Sizes and flags of the 82574L's regions as vfio-user reports them. */
const REGIONS: { size: number; flags: number }[] = [
  { size: 0x20000, flags: P.REGION_FLAG_READ | P.REGION_FLAG_WRITE }, // BAR0 registers
  { size: 0x20000, flags: P.REGION_FLAG_READ | P.REGION_FLAG_WRITE }, // BAR1 flash
  { size: 32, flags: P.REGION_FLAG_READ | P.REGION_FLAG_WRITE }, // BAR2 I/O
  { size: 0x4000, flags: P.REGION_FLAG_READ | P.REGION_FLAG_WRITE }, // BAR3 MSI-X
  { size: 0, flags: 0 },
  { size: 0, flags: 0 },
  { size: 0, flags: 0 }, // ROM
  { size: 0x1000, flags: P.REGION_FLAG_READ | P.REGION_FLAG_WRITE }, // config
  { size: 0, flags: 0 }, // VGA
];
const BAR_OF_REGION = [BAR_MMIO, BAR_FLASH, BAR_IO, BAR_MSIX];

const IRQ_INFO_FLAGS = [
  P.IRQ_INFO_EVENTFD | P.IRQ_INFO_MASKABLE | P.IRQ_INFO_AUTOMASKED,
  P.IRQ_INFO_EVENTFD | P.IRQ_INFO_MASKABLE | P.IRQ_INFO_NORESIZE,
  P.IRQ_INFO_EVENTFD | P.IRQ_INFO_MASKABLE | P.IRQ_INFO_NORESIZE,
  P.IRQ_INFO_EVENTFD,
  P.IRQ_INFO_EVENTFD,
];

/** A reply to send, or nothing (posted writes, malformed replies from the client). */
export interface Outcome {
  reply: Uint8Array | null;
  /** The connection cannot continue (framing lost). */
  fatal?: string;
}

/** Counters shown by `nicsim serve` and asserted by tests. */
export interface SessionStats {
  messages: number;
  errors: number;
  posted: number;
  byCommand: Record<string, number>;
  /** The latest error replies, as `COMMAND errno N`. */
  recentErrors: string[];
}

export interface DeviceServerOptions {
  mac: Uint8Array;
  name?: string;
  timing?: Partial<TimingParams>;
  trace?: TraceSink;
  io: SessionIo;
}

/**
 * The device and its host side for vfio-user. The device persists across client connections;
 * DMA windows and interrupt wiring belong to the current connection and are dropped with it.
 */
export class VfioUserDevice implements DeviceHost, WireEndpoint {
  readonly device: E1000eDevice;
  readonly clock: WallClock;
  readonly trace: TraceSink;
  dma: DmaMapTable;
  irqs: IrqState;
  port: WirePort | null = null;
  readonly stats: SessionStats = { messages: 0, errors: 0, posted: 0, byCommand: {}, recentErrors: [] };
  private versionDone = false;
  private readonly io: SessionIo;

  constructor(opts: DeviceServerOptions) {
    this.io = opts.io;
    this.clock = new WallClock({ wakeTimer: opts.io.wakeTimer });
    this.trace = opts.trace ?? NULL_TRACE;
    this.dma = new DmaMapTable(opts.io);
    this.irqs = new IrqState(opts.io);
    // QEMU's vfio-user client emulates the MSI-X table itself: no BAR3 access reaches us.
    this.device = E1000eDevice.create(this, { mac: opts.mac, name: opts.name ?? 'e1000e', timing: opts.timing, msixTableInHost: true });
  }

  // ---- DeviceHost ----
  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean {
    return this.dma.read(addr, dst);
  }
  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    return this.dma.write(addr, src);
  }
  signalMsix(vector: number): void {
    if (!this.irqs.signal(P.IRQ_MSIX, vector)) this.tp('vfu_irq_dropped', { index: 'MSIX', vector });
  }
  signalMsi(): void {
    if (!this.irqs.signal(P.IRQ_MSI, 0)) this.tp('vfu_irq_dropped', { index: 'MSI', vector: 0 });
  }
  setIntx(asserted: boolean): void {
    this.irqs.setIntxLevel(asserted);
  }
  sendFrame(frame: Uint8Array): void {
    this.port?.send(frame);
  }
  /** GSO when the port toward the backend takes it (a TAP with a vnet header, nothing capturing frames). */
  gsoReady(): boolean {
    return this.port?.sendGso !== undefined;
  }
  sendGso(packet: Uint8Array, gso: GsoRequest): void {
    this.port?.sendGso?.(packet, gso);
  }
  now(): number {
    return this.clock.now();
  }
  schedule(delayNs: number, cb: () => void, priority?: number): EventHandle {
    return this.clock.schedule(delayNs, cb, priority);
  }
  cancel(h: EventHandle): void {
    this.clock.cancel(h);
  }

  // ---- WireEndpoint (frames from the backend) ----
  receiveFrame(frame: Uint8Array): void {
    this.clock.sync();
    this.device.receiveFrame(frame);
  }
  setCarrier(present: boolean): void {
    this.clock.sync();
    this.device.setCarrier(present);
  }

  private tp(point: string, fields: Record<string, unknown>): void {
    if (this.trace.enabled(point)) this.trace.emit(point, fields);
  }

  /** The client went away: drop its DMA windows and eventfds, and reset the device for the next one. */
  disconnect(): void {
    this.dma.clear();
    this.irqs.clear();
    this.versionDone = false;
    this.clock.sync();
    this.device.reset();
    this.tp('vfu_disconnect', {});
  }

  /** Stops timers (server shutdown). */
  close(): void {
    this.disconnect();
    this.device.destroy();
    this.clock.stop();
  }

  /**
   * Handles one complete message (header + payload) with the fds that came with it. Every fd is
   * either kept (DMA map, eventfds) or closed here. Never throws on client input.
   */
  handle(msg: Uint8Array, fds: number[]): Outcome {
    const h = P.readHeader(msg);
    const payload = new P.Payload(msg.subarray(P.HEADER_SIZE));
    this.stats.messages++;
    const name = P.CMD_NAMES[h.cmd] ?? `cmd${h.cmd}`;
    this.stats.byCommand[name] = (this.stats.byCommand[name] ?? 0) + 1;
    const closeAll = () => {
      for (const fd of fds) this.io.closeFd(fd);
    };
    if ((h.flags & P.FLAG_TYPE_MASK) !== P.FLAG_REQUEST) {
      // We never send requests, so a reply from the client answers nothing.
      closeAll();
      this.tp('vfu_unexpected_reply', { cmd: name, msgId: h.msgId });
      return { reply: null };
    }
    const noReply = (h.flags & P.FLAG_NO_REPLY) !== 0;
    let r: Uint8Array | number;
    this.clock.sync();
    try {
      r = this.dispatch(h, payload, fds);
    } catch (e) {
      // A bug of ours, not the client's: report EIO rather than take the server down.
      closeAll();
      this.tp('vfu_internal_error', { cmd: name, error: String(e) });
      r = P.EIO;
    }
    if (typeof r === 'number') {
      this.stats.errors++;
      this.stats.recentErrors.push(`${name} errno ${r}`);
      if (this.stats.recentErrors.length > 10) this.stats.recentErrors.shift();
      this.tp('vfu_error', { cmd: name, msgId: h.msgId, errno: r });
      return { reply: noReply ? null : P.errorReply(h, r) };
    }
    if (noReply) {
      this.stats.posted++;
      return { reply: null };
    }
    return { reply: P.buildMessage({ msgId: h.msgId, cmd: h.cmd, flags: P.FLAG_REPLY, error: 0 }, r) };
  }

  /** Returns the reply payload, or an errno. Consumes or closes every fd. */
  private dispatch(h: P.Header, p: P.Payload, fds: number[]): Uint8Array | number {
    const takesFds = h.cmd === P.Cmd.DMA_MAP || h.cmd === P.Cmd.DEVICE_SET_IRQS;
    if (!takesFds && fds.length > 0) {
      for (const fd of fds) this.io.closeFd(fd);
      return P.EINVAL;
    }
    if (h.size !== P.HEADER_SIZE + p.length) {
      for (const fd of fds) this.io.closeFd(fd);
      return P.EINVAL;
    }
    if (!this.versionDone && h.cmd !== P.Cmd.VERSION) {
      for (const fd of fds) this.io.closeFd(fd);
      return P.EINVAL; // negotiation comes first
    }
    switch (h.cmd) {
      case P.Cmd.VERSION:
        return this.version(p);
      case P.Cmd.DMA_MAP:
        return this.dmaMap(p, fds);
      case P.Cmd.DMA_UNMAP:
        return this.dmaUnmap(p);
      case P.Cmd.DEVICE_GET_INFO:
        return this.getInfo(p);
      case P.Cmd.DEVICE_GET_REGION_INFO:
        return this.regionInfo(p);
      case P.Cmd.DEVICE_GET_IRQ_INFO:
        return this.irqInfo(p);
      case P.Cmd.DEVICE_SET_IRQS:
        return this.setIrqs(p, fds);
      case P.Cmd.REGION_READ:
        return this.regionRead(p);
      case P.Cmd.REGION_WRITE:
        return this.regionWrite(p);
      case P.Cmd.REGION_WRITE_MULTI:
        return this.regionWriteMulti(p);
      case P.Cmd.DEVICE_RESET:
        if (p.length !== 0) return P.EINVAL;
        this.device.reset();
        this.tp('vfu_device_reset', {});
        return new Uint8Array(0);
      default:
        return P.ENOTSUP;
    }
  }

  private version(p: P.Payload): Uint8Array | number {
    if (this.versionDone) return P.EINVAL;
    if (p.length < 4) return P.EINVAL;
    const major = p.u16(0);
    if (major !== 0) return P.ENOTSUP;
    let caps: Record<string, unknown> = {};
    if (p.length > 4) {
      const raw = p.bytes.subarray(4);
      const nul = raw.indexOf(0);
      const text = Buffer.from(nul >= 0 ? raw.subarray(0, nul) : raw).toString('utf8');
      if (text.length > 0) {
        try {
          const j = JSON.parse(text) as unknown;
          if (typeof j !== 'object' || j === null || Array.isArray(j)) return P.EINVAL;
          caps = (j as { capabilities?: Record<string, unknown> }).capabilities ?? {};
          if (typeof caps !== 'object' || caps === null) return P.EINVAL;
        } catch {
          return P.EINVAL;
        }
      }
    }
    this.tp('vfu_version', { major, minor: p.u16(2), caps });
    // Answer only what we implement; the reply may not be longer than the request.
    const candidates = [
      { capabilities: { max_msg_fds: 8, max_data_xfer_size: P.MAX_DATA_XFER, pgsizes: 4096, max_dma_maps: this.dma.maxMaps, write_multiple: true } },
      { capabilities: { max_msg_fds: 8, max_data_xfer_size: P.MAX_DATA_XFER, pgsizes: 4096, max_dma_maps: this.dma.maxMaps } },
      { capabilities: { max_msg_fds: 8, max_data_xfer_size: P.MAX_DATA_XFER } },
      {},
    ];
    // Without room even for "{}", the reply is the version alone.
    let body: Uint8Array = new Uint8Array(4);
    for (const c of candidates) {
      const js = Buffer.from(JSON.stringify(c) + '\0', 'utf8');
      if (4 + js.length > p.length) continue;
      body = new Uint8Array(4 + js.length);
      body.set(js, 4);
      break;
    }
    new DataView(body.buffer).setUint16(0, 0, true);
    new DataView(body.buffer).setUint16(2, 0, true);
    this.versionDone = true;
    return body;
  }

  private dmaMap(p: P.Payload, fds: number[]): Uint8Array | number {
    const closeAll = () => fds.forEach((fd) => this.io.closeFd(fd));
    // argsz is the size of this 32-byte structure (there is no reply payload), and the message
    // holds exactly that: an argsz above it claims bytes the message does not carry. (The
    // region's `size` is another matter: it is guest address space, which for a map without an
    // fd is reached through DMA_READ/WRITE, never carried in this message.)
    if (p.length !== P.DMA_MAP_SIZE || p.u32(0) !== P.DMA_MAP_SIZE || fds.length > 1) {
      closeAll();
      return P.EINVAL;
    }
    const flags = p.u32(4);
    const offset = p.u64(8);
    const iova = p.u64(16);
    const size = p.u64(24);
    const fd = fds.length === 1 ? fds[0]! : null;
    const rc = this.dma.add(iova, size, offset, flags, fd);
    if (rc) {
      closeAll();
      this.tp('vfu_dma_map_refused', { iova, size, offset, flags, errno: rc });
      return rc;
    }
    this.tp('vfu_dma_map', { iova, size, offset, flags, fd: fd !== null });
    return new Uint8Array(0);
  }

  private dmaUnmap(p: P.Payload): Uint8Array | number {
    if (p.length !== P.DMA_UNMAP_SIZE || p.u32(0) < P.DMA_UNMAP_SIZE) return P.EINVAL;
    const flags = p.u32(4);
    const iova = p.u64(8);
    const size = p.u64(16);
    if (flags & ~P.DMA_UNMAP_FLAG_ALL) return P.ENOTSUP; // no dirty-page tracking
    if (flags & P.DMA_UNMAP_FLAG_ALL) {
      if (iova !== 0 || size !== 0) return P.EINVAL;
      this.dma.clear();
    } else {
      const rc = this.dma.remove(iova, size);
      if (rc) return rc;
    }
    this.tp('vfu_dma_unmap', { iova, size, flags });
    return p.bytes.slice(0, P.DMA_UNMAP_SIZE);
  }

  private getInfo(p: P.Payload): Uint8Array | number {
    if (p.length < 4 || p.u32(0) < P.DEVICE_INFO_SIZE) return P.EINVAL;
    const out = new Uint8Array(P.DEVICE_INFO_SIZE);
    const v = new DataView(out.buffer);
    v.setUint32(0, P.DEVICE_INFO_SIZE, true);
    v.setUint32(4, P.DEVICE_FLAGS_RESET | P.DEVICE_FLAGS_PCI, true);
    v.setUint32(8, P.PCI_NUM_REGIONS, true);
    v.setUint32(12, P.PCI_NUM_IRQS, true);
    return out;
  }

  private regionInfo(p: P.Payload): Uint8Array | number {
    if (p.length < P.REGION_INFO_SIZE || p.u32(0) < P.REGION_INFO_SIZE) return P.EINVAL;
    const index = p.u32(8);
    if (index >= P.PCI_NUM_REGIONS) return P.EINVAL;
    const reg = REGIONS[index]!;
    const out = new Uint8Array(P.REGION_INFO_SIZE);
    const v = new DataView(out.buffer);
    v.setUint32(0, P.REGION_INFO_SIZE, true);
    v.setUint32(4, reg.flags, true);
    v.setUint32(8, index, true);
    v.setUint32(12, 0, true);
    P.putU64(v, 16, reg.size);
    P.putU64(v, 24, 0);
    return out;
  }

  private irqInfo(p: P.Payload): Uint8Array | number {
    if (p.length < P.IRQ_INFO_SIZE || p.u32(0) < P.IRQ_INFO_SIZE) return P.EINVAL;
    const index = p.u32(8);
    if (index >= P.PCI_NUM_IRQS) return P.EINVAL;
    const out = new Uint8Array(P.IRQ_INFO_SIZE);
    const v = new DataView(out.buffer);
    v.setUint32(0, P.IRQ_INFO_SIZE, true);
    v.setUint32(4, IRQ_INFO_FLAGS[index]!, true);
    v.setUint32(8, index, true);
    v.setUint32(12, IRQ_COUNTS[index]!, true);
    return out;
  }

  private setIrqs(p: P.Payload, fds: number[]): Uint8Array | number {
    const closeAll = () => fds.forEach((fd) => this.io.closeFd(fd));
    if (p.length < P.SET_IRQS_SIZE || p.u32(0) < P.SET_IRQS_SIZE) {
      closeAll();
      return P.EINVAL;
    }
    const flags = p.u32(4);
    const index = p.u32(8);
    const start = p.u32(12);
    const count = p.u32(16);
    const data = flags & P.IRQ_SET_DATA_MASK;
    const action = flags & P.IRQ_SET_ACTION_MASK_ALL;
    const oneBit = (x: number) => x !== 0 && (x & (x - 1)) === 0;
    const bad = (errno = P.EINVAL) => {
      closeAll();
      this.tp('vfu_set_irqs_refused', { flags, index, start, count, fds: fds.length, errno });
      return errno;
    };
    if (flags & ~(P.IRQ_SET_DATA_MASK | P.IRQ_SET_ACTION_MASK_ALL)) return bad();
    if (!oneBit(data) || !oneBit(action)) return bad();
    if (index >= P.PCI_NUM_IRQS) return bad();
    const max = IRQ_COUNTS[index]!;
    if (start > max || count > max - start) return bad();
    if (data !== P.IRQ_SET_DATA_EVENTFD && fds.length > 0) return bad();
    this.tp('vfu_set_irqs', { index: P.IRQ_NAMES[index], flags, start, count, fds: fds.length });
    if (action === P.IRQ_SET_ACTION_TRIGGER) {
      if (data === P.IRQ_SET_DATA_EVENTFD) {
        if (count === 0 || p.length !== P.SET_IRQS_SIZE) return bad();
        if (fds.length === 0) {
          // eventfd -1 for every vector (cannot travel over SCM_RIGHTS): QEMU enables MSI-X
          // with no vector in use this way. Those vectors are left unwired.
          this.irqs.disable(index, start, count);
          return new Uint8Array(0);
        }
        if (fds.length !== count) return bad();
        this.irqs.setFds(index, start, fds);
        return new Uint8Array(0);
      }
      if (data === P.IRQ_SET_DATA_NONE) {
        if (p.length !== P.SET_IRQS_SIZE) return bad();
        if (count === 0) this.irqs.disable(index, start, 0);
        else for (let i = start; i < start + count; i++) this.irqs.signal(index, i);
        return new Uint8Array(0);
      }
      // DATA_BOOL: one byte per vector, trigger where set
      if (p.length !== P.SET_IRQS_SIZE + count) return bad();
      for (let i = 0; i < count; i++) if (p.bytes[P.SET_IRQS_SIZE + i]) this.irqs.signal(index, start + i);
      return new Uint8Array(0);
    }
    // MASK / UNMASK
    if (data === P.IRQ_SET_DATA_EVENTFD) return bad(P.ENOTSUP); // irqfd-style unmask fds are not offered
    let sel: number[] = [];
    if (data === P.IRQ_SET_DATA_NONE) {
      if (p.length !== P.SET_IRQS_SIZE) return bad();
      sel = Array.from({ length: count }, (_, i) => start + i);
    } else {
      if (p.length !== P.SET_IRQS_SIZE + count) return bad();
      for (let i = 0; i < count; i++) if (p.bytes[P.SET_IRQS_SIZE + i]) sel.push(start + i);
    }
    for (const v of sel) {
      if (action === P.IRQ_SET_ACTION_MASK) this.irqs.mask(index, v, 1);
      else this.irqs.unmask(index, v, 1);
    }
    return new Uint8Array(0);
  }

  /** Validates a region access; returns the region index or an errno. */
  private regionAccess(p: P.Payload, write: boolean): { region: number; offset: number; count: number } | number {
    if (p.length < P.REGION_ACCESS_SIZE) return P.EINVAL;
    const offset = p.u64(0);
    const region = p.u32(8);
    const count = p.u32(12);
    if (region >= P.PCI_NUM_REGIONS) return P.EINVAL;
    const size = REGIONS[region]!.size;
    if (count === 0 || count > P.MAX_DATA_XFER) return P.EINVAL;
    if (!Number.isFinite(offset) || offset + count > size) return P.EINVAL;
    if (write ? p.length !== P.REGION_ACCESS_SIZE + count : p.length !== P.REGION_ACCESS_SIZE) return P.EINVAL;
    return { region, offset, count };
  }

  private regionRead(p: P.Payload): Uint8Array | number {
    const a = this.regionAccess(p, false);
    if (typeof a === 'number') return a;
    const out = new Uint8Array(P.REGION_ACCESS_SIZE + a.count);
    out.set(p.bytes.subarray(0, P.REGION_ACCESS_SIZE), 0);
    const data = out.subarray(P.REGION_ACCESS_SIZE);
    this.forEachChunk(a.offset, a.count, (off, size, at) => {
      const v = a.region === P.PCI_CONFIG ? this.device.configRead(off, size) : this.device.barRead(BAR_OF_REGION[a.region]!, off, size);
      for (let i = 0; i < size; i++) data[at + i] = (v >>> (8 * i)) & 0xff;
    });
    return out;
  }

  private regionWrite(p: P.Payload): Uint8Array | number {
    const a = this.regionAccess(p, true);
    if (typeof a === 'number') return a;
    this.applyWrite(a.region, a.offset, a.count, p.bytes.subarray(P.REGION_ACCESS_SIZE));
    return p.bytes.slice(0, P.REGION_ACCESS_SIZE);
  }

  /**
   * REGION_WRITE_MULTI: QEMU's client batches small posted writes into one message (u64
   * count, then up to 200 entries of u64 offset, u32 region, u32 count, 8 data bytes) once its
   * outgoing queue backs up. Every entry is checked before any is applied: a bad one refuses
   * the whole message, as a bad REGION_WRITE would have been refused.
   */
  private regionWriteMulti(p: P.Payload): Uint8Array | number {
    if (p.length < P.WRITE_MULTI_HEAD) return P.EINVAL;
    const n = p.u64(0);
    if (!(n >= 1 && n <= P.WRITE_MULTI_MAX) || p.length !== P.WRITE_MULTI_HEAD + n * P.WRITE_MULTI_ENTRY) return P.EINVAL;
    for (let i = 0; i < n; i++) {
      const at = P.WRITE_MULTI_HEAD + i * P.WRITE_MULTI_ENTRY;
      const offset = p.u64(at);
      const region = p.u32(at + 8);
      const count = p.u32(at + 12);
      if (region >= P.PCI_NUM_REGIONS || count === 0 || count > P.WRITE_MULTI_DATA) return P.EINVAL;
      if (!Number.isFinite(offset) || offset + count > REGIONS[region]!.size) return P.EINVAL;
    }
    for (let i = 0; i < n; i++) {
      const at = P.WRITE_MULTI_HEAD + i * P.WRITE_MULTI_ENTRY;
      const count = p.u32(at + 12);
      this.applyWrite(p.u32(at + 8), p.u64(at), count, p.bytes.subarray(at + 16, at + 16 + count));
    }
    return p.bytes.slice(0, P.WRITE_MULTI_HEAD);
  }

  /** One checked write into a region, in the naturally aligned pieces a CPU would make. */
  private applyWrite(region: number, offset: number, count: number, data: Uint8Array): void {
    this.forEachChunk(offset, count, (off, size, at) => {
      let v = 0;
      for (let i = 0; i < size; i++) v |= data[at + i]! << (8 * i);
      v >>>= 0;
      if (region === P.PCI_CONFIG) this.device.configWrite(off, size, v);
      else this.device.barWrite(BAR_OF_REGION[region]!, off, size, v);
    });
  }

  /** Splits an access into naturally aligned 4/2/1-byte pieces, as a CPU's accesses would be. */
  private forEachChunk(offset: number, count: number, fn: (off: number, size: 1 | 2 | 4, at: number) => void): void {
    let at = 0;
    while (at < count) {
      const off = offset + at;
      const left = count - at;
      const size: 1 | 2 | 4 = off % 4 === 0 && left >= 4 ? 4 : off % 2 === 0 && left >= 2 ? 2 : 1;
      fn(off, size, at);
      at += size;
    }
  }
}
