// Device fuzzing host: flat guest RAM, a DMA window aliasing the device's own BAR 0 (the reentrancy class), and DMA bookkeeping for oracles.

import { EventQueue } from '../../device/sim/event-queue.js';
import type { DeviceHost, EventHandle } from '../../device/host.js';
import { NULL_TRACE, type TraceSink } from '../../device/trace.js';
import { guestAddr, type GuestAddr } from '../../device/types.js';
import type { E1000eDevice } from '../../device/e1000e/device.js';
import {
  REG, RCTL_DTYP_PS, PSRCTL_BSIZE0_MASK, PSRCTL_BSIZE1_MASK, PSRCTL_BSIZE1_SHIFT, PSRCTL_BSIZE2_MASK, PSRCTL_BSIZE2_SHIFT,
  PSRCTL_BSIZE3_MASK, PSRCTL_BSIZE3_SHIFT, rctlBufferSize,
} from '../../device/e1000e/defs.js';

const W = (off: number): number => off >>> 2;

/** Guest RAM: [RAM_BASE, RAM_BASE + RAM_SIZE). */
export const RAM_BASE = 0x10_0000;
export const RAM_SIZE = 0x10_0000;
export const RAM_END = RAM_BASE + RAM_SIZE;
/** Guest addresses that decode to the device's own BAR 0 (a DMA there is a BAR access on the same device). */
export const ALIAS_BASE = 0x40_0000;
export const ALIAS_SIZE = 0x2_0000;
export const ALIAS_END = ALIAS_BASE + ALIAS_SIZE;

/** Largest single DMA the model may legitimately ask for (a 256 KiB TSO buffer plus slack). */
const MAX_DMA_LEN = 0x40000 + 0x10000;

/** A broken oracle, recorded by the host where it can see it (it never throws into the device). */
export interface HostViolation {
  oracle: string;
  message: string;
}

/**
 * A DeviceHost for the device fuzzer. It checks every DMA request against its own buffer
 * bounds before touching memory, and refuses (returns false) anything outside RAM and the
 * BAR alias window. DMA into the window is performed as BAR accesses on the device, with the
 * nesting depth tracked: beyond `reentrancyBound` nested alias accesses the host refuses the
 * access and records a `reentrancy` violation.
 */
export class FuzzHost implements DeviceHost {
  readonly ram = new Uint8Array(RAM_SIZE);
  readonly queue = new EventQueue();
  trace: TraceSink = NULL_TRACE;
  dev: E1000eDevice | null = null;
  reentrancyBound: number;
  /** Current nesting of alias DMA (0 outside any). */
  depth = 0;
  maxDepth = 0;
  violations: HostViolation[] = [];
  /** DMA bookkeeping: attempts, refusals (faults), bytes moved. */
  dmaAttempts = 0;
  dmaRefused = 0;
  aliasAccesses = 0;
  intx = false;
  msixSignals = 0;
  msiSignals = 0;
  sent: Uint8Array[] = [];
  /** Keep at most this many sent frames (the oracles need only the last few). */
  keepSent = 64;
  sentCount = 0;
  /**
   * The buffer-bounds oracle's view, worked out here from the datasheet and independent of the
   * receive code: the buffers (address, size) the RX descriptor fetched last gave the device,
   * with the descriptor slot itself, and the TX descriptor slots fetched (their write-back goes
   * to slot + 12). Every device write must land inside one of them.
   */
  private rxWindows: number[] = [];
  private readonly txSlots = new Set<number>();
  /** Writes the bounds oracle checked, and frames written in packet-split mode or longer than 1522 bytes. */
  boundsChecked = 0;
  psFetches = 0;
  jumboWrites = 0;
  /** Test-only hook: called on every DMA request before the bounds check (lets tests break the host on purpose). */
  onDma: ((op: 'read' | 'write', addr: number, len: number) => void) | null = null;

  constructor(opts: { reentrancyBound?: number } = {}) {
    this.reentrancyBound = opts.reentrancyBound ?? 4;
  }

  private violate(oracle: string, message: string): void {
    if (this.violations.length < 16) this.violations.push({ oracle, message });
  }

  /** Checks the request itself: a length and address the host could be made to misuse. */
  private sane(op: string, addr: number, len: number): boolean {
    if (!Number.isSafeInteger(addr) || addr < 0) {
      this.violate('dma-bounds', `${op} with address ${addr}`);
      return false;
    }
    if (!Number.isSafeInteger(len) || len < 0 || len > MAX_DMA_LEN) {
      this.violate('dma-bounds', `${op} of length ${len} at 0x${addr.toString(16)}`);
      return false;
    }
    if (this.dev && !this.dev.pci.busMaster) {
      this.violate('dma-without-bus-master', `${op} of ${len} bytes at 0x${addr.toString(16)} with COMMAND.MASTER clear`);
    }
    return true;
  }

  private inRam(addr: number, len: number): boolean {
    return addr >= RAM_BASE && addr <= RAM_END && len <= RAM_END - addr;
  }

  private inAlias(addr: number, len: number): boolean {
    return addr >= ALIAS_BASE && addr <= ALIAS_END && len <= ALIAS_END - addr && this.dev !== null && this.dev.pci.memoryEnabled;
  }

  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean {
    this.dmaAttempts++;
    this.onDma?.('read', addr, dst.length);
    if (!this.sane('read', addr, dst.length)) return this.refuse();
    let ok = false;
    if (this.inRam(addr, dst.length)) {
      const off = addr - RAM_BASE;
      // Checked above; this guards the host's own arithmetic.
      if (off < 0 || off + dst.length > this.ram.length) throw new Error('fuzz host: RAM read bounds');
      dst.set(this.ram.subarray(off, off + dst.length));
      ok = true;
    } else if (this.inAlias(addr, dst.length)) ok = this.aliasAccess('read', addr - ALIAS_BASE, dst);
    if (ok) this.noteFetch(addr, dst);
    return ok || this.refuse();
  }

  /** A descriptor-sized read inside a ring: remember what it lets the device write. */
  private noteFetch(addr: number, d: Uint8Array): void {
    const dev = this.dev;
    if (!dev || (d.length !== 16 && d.length !== 32)) return;
    const m = dev.mac;
    const ring = (bal: number, bah: number, len: number): [number, number] => {
      const base = (m[W(bal)]! & ~0xf) >>> 0;
      return [base + m[W(bah)]! * 0x1_0000_0000, m[W(len)]! & 0xfff80];
    };
    const [tb, tl] = ring(REG.TDBAL0, REG.TDBAH0, REG.TDLEN0);
    if (d.length === 16 && addr >= tb && addr + 16 <= tb + tl) {
      if (this.txSlots.size > 1 << 18) this.txSlots.clear(); // more than any ring holds (65,536 slots): a runaway, not a ring
      this.txSlots.add(addr);
    }
    const [rb, rl] = ring(REG.RDBAL0, REG.RDBAH0, REG.RDLEN0);
    if (!(addr >= rb && addr + d.length <= rb + rl)) return;
    const rctl = m[W(REG.RCTL)]!;
    const split = (rctl & RCTL_DTYP_PS) !== 0;
    if (d.length !== (split ? 32 : 16)) return;
    const v = new DataView(d.buffer, d.byteOffset, d.length);
    // Addresses from 2^53 up are one unmappable value to the device (GUEST_ADDR_INVALID).
    const at = (i: number): number => guestAddr(v.getUint32(i * 8, true), v.getUint32(i * 8 + 4, true));
    const w: number[] = [addr, d.length];
    if (split) {
      this.psFetches++;
      const ps = m[W(REG.PSRCTL)]!;
      const sizes = [
        (ps & PSRCTL_BSIZE0_MASK) * 128,
        ((ps & PSRCTL_BSIZE1_MASK) >>> PSRCTL_BSIZE1_SHIFT) * 1024,
        ((ps & PSRCTL_BSIZE2_MASK) >>> PSRCTL_BSIZE2_SHIFT) * 1024,
        ((ps & PSRCTL_BSIZE3_MASK) >>> PSRCTL_BSIZE3_SHIFT) * 1024,
      ];
      for (let i = 0; i < 4; i++) w.push(at(i), sizes[i]!);
    } else {
      w.push(at(0), rctlBufferSize(rctl) || 2048);
    }
    this.rxWindows = w;
  }

  /** The bounds oracle: a device write outside every window it was given is the worst kind of bug. */
  private checkWrite(addr: number, len: number): void {
    this.boundsChecked++;
    if (len > 1522) this.jumboWrites++;
    const w = this.rxWindows;
    for (let i = 0; i < w.length; i += 2) if (addr >= w[i]! && addr + len <= w[i]! + w[i + 1]!) return;
    if (len === 1 && this.txSlots.has(addr - 12)) return;
    this.violate('dma-outside-buffer', `write of ${len} bytes at 0x${addr.toString(16)} outside the buffers and descriptor slots the device was given (last RX windows: ${formatWindows(w)})`);
  }

  /** Forgets what earlier descriptors gave: a reset or a fresh input. */
  clearWindows(): void {
    this.rxWindows = [];
    this.txSlots.clear();
  }

  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    this.dmaAttempts++;
    this.onDma?.('write', addr, src.length);
    if (!this.sane('write', addr, src.length)) return this.refuse();
    this.checkWrite(addr, src.length);
    if (this.inRam(addr, src.length)) {
      const off = addr - RAM_BASE;
      if (off < 0 || off + src.length > this.ram.length) throw new Error('fuzz host: RAM write bounds');
      this.ram.set(src, off);
      return true;
    }
    if (this.inAlias(addr, src.length)) return this.aliasAccess('write', addr - ALIAS_BASE, src);
    return this.refuse();
  }

  private refuse(): boolean {
    this.dmaRefused++;
    return false;
  }

  /** DMA into BAR 0 of the same device: split into naturally aligned 4/2/1-byte BAR accesses. */
  private aliasAccess(op: 'read' | 'write', off: number, buf: Uint8Array): boolean {
    const dev = this.dev!;
    if (this.depth + 1 > this.reentrancyBound) {
      this.violate('reentrancy', `alias DMA ${op} of ${buf.length} bytes at BAR0+0x${off.toString(16)} nested ${this.depth + 1} deep (bound ${this.reentrancyBound})`);
      return this.refuse();
    }
    this.depth++;
    if (this.depth > this.maxDepth) this.maxDepth = this.depth;
    this.aliasAccesses++;
    try {
      let i = 0;
      while (i < buf.length) {
        const a = off + i;
        const left = buf.length - i;
        const size = (a & 3) === 0 && left >= 4 ? 4 : (a & 1) === 0 && left >= 2 ? 2 : 1;
        if (op === 'write') {
          let v = 0;
          for (let k = size - 1; k >= 0; k--) v = v * 256 + buf[i + k]!;
          dev.barWrite(0, a, size, v);
        } else {
          const v = dev.barRead(0, a, size);
          for (let k = 0; k < size; k++) buf[i + k] = Math.floor(v / 2 ** (8 * k)) & 0xff;
        }
        i += size;
      }
    } finally {
      this.depth--;
    }
    return true;
  }

  signalMsix(): void {
    this.msixSignals++;
    const d = this.dev;
    if (d && !d.pci.busMaster) this.violate('irq-without-bus-master', 'MSI-X message with COMMAND.MASTER clear');
    if (d && d.pci.interruptMode() !== 'msix') this.violate('irq-mode', `MSI-X message in ${d.pci.interruptMode()} mode`);
  }
  signalMsi(): void {
    this.msiSignals++;
    const d = this.dev;
    if (d && !d.pci.busMaster) this.violate('irq-without-bus-master', 'MSI message with COMMAND.MASTER clear');
    if (d && d.pci.interruptMode() !== 'msi') this.violate('irq-mode', `MSI message in ${d.pci.interruptMode()} mode`);
  }
  setIntx(asserted: boolean): void {
    this.intx = asserted;
  }
  sendFrame(frame: Uint8Array): void {
    this.sentCount++;
    this.sent.push(frame);
    if (this.sent.length > this.keepSent) this.sent.splice(0, this.sent.length - this.keepSent);
  }
  now(): number {
    return this.queue.now();
  }
  schedule(delayNs: number, cb: () => void, priority?: number): EventHandle {
    return this.queue.schedule(delayNs, cb, priority);
  }
  cancel(h: EventHandle): void {
    this.queue.cancel(h);
  }

  // Guest-side helpers (the fuzzer plays the driver writing its own memory).
  w32(addr: number, v: number): void {
    const off = addr - RAM_BASE;
    if (off < 0 || off + 4 > RAM_SIZE) return;
    new DataView(this.ram.buffer).setUint32(off, v >>> 0, true);
  }
  r32(addr: number): number {
    const off = addr - RAM_BASE;
    if (off < 0 || off + 4 > RAM_SIZE) return 0;
    return new DataView(this.ram.buffer).getUint32(off, true);
  }
  /** Copies into RAM, clipped to RAM (the guest cannot write outside its own memory). */
  put(addr: number, b: Uint8Array): void {
    let off = addr - RAM_BASE;
    let src = b;
    if (off < 0) {
      src = src.subarray(Math.min(src.length, -off));
      off = 0;
    }
    if (off >= RAM_SIZE) return;
    if (off + src.length > RAM_SIZE) src = src.subarray(0, RAM_SIZE - off);
    this.ram.set(src, off);
  }
  get(addr: number, len: number): Uint8Array {
    const off = addr - RAM_BASE;
    if (off < 0 || off + len > RAM_SIZE) return new Uint8Array(0);
    return this.ram.slice(off, off + len);
  }
}

function formatWindows(w: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < w.length; i += 2) out.push(`0x${w[i]!.toString(16)}+${w[i + 1]}`);
  return out.join(' ') || 'none';
}
