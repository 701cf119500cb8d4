// A DeviceHost over one flat RAM buffer and an event queue, for device-level tests.

import { EventQueue } from '../../device/sim/event-queue.js';
import type { DeviceHost, EventHandle } from '../../device/host.js';
import { RecordingTrace, type TraceSink } from '../../device/trace.js';
import type { GuestAddr } from '../../device/types.js';

export interface SignalRecord {
  kind: 'msix' | 'msi' | 'intx';
  vector: number;
  time: number;
  level?: boolean;
}

/** RAM at guest address [base, base + size); everything else faults. */
export class FlatHost implements DeviceHost {
  readonly ram: Uint8Array;
  readonly queue = new EventQueue();
  readonly signals: SignalRecord[] = [];
  readonly sent: Uint8Array[] = [];
  readonly trace: TraceSink;
  readonly recorder: RecordingTrace;
  intx = false;
  dmaCount = 0;

  constructor(readonly base = 0x10000, size = 1 << 20, tracePatterns = '*') {
    this.ram = new Uint8Array(size);
    this.recorder = new RecordingTrace(tracePatterns, () => this.queue.now(), 100_000);
    this.trace = this.recorder;
  }

  private inRam(addr: number, len: number): boolean {
    return addr >= this.base && addr + len <= this.base + this.ram.length;
  }
  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean {
    this.dmaCount++;
    if (!this.inRam(addr, dst.length)) return false;
    dst.set(this.ram.subarray(addr - this.base, addr - this.base + dst.length));
    return true;
  }
  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    this.dmaCount++;
    if (!this.inRam(addr, src.length)) return false;
    this.ram.set(src, addr - this.base);
    return true;
  }
  signalMsix(vector: number): void {
    this.signals.push({ kind: 'msix', vector, time: this.queue.now() });
  }
  signalMsi(vector: number): void {
    this.signals.push({ kind: 'msi', vector, time: this.queue.now() });
  }
  setIntx(asserted: boolean): void {
    this.intx = asserted;
    this.signals.push({ kind: 'intx', vector: 0, time: this.queue.now(), level: asserted });
  }
  sendFrame(frame: Uint8Array): void {
    this.sent.push(frame);
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

  /** Guest-side helpers. */
  w32(addr: number, v: number): void {
    new DataView(this.ram.buffer).setUint32(addr - this.base, v >>> 0, true);
  }
  r32(addr: number): number {
    return new DataView(this.ram.buffer).getUint32(addr - this.base, true);
  }
  r16(addr: number): number {
    return new DataView(this.ram.buffer).getUint16(addr - this.base, true);
  }
  put(addr: number, b: Uint8Array): void {
    this.ram.set(b, addr - this.base);
  }
  get(addr: number, len: number): Uint8Array {
    return this.ram.slice(addr - this.base, addr - this.base + len);
  }
}
