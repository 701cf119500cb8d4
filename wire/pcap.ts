// Packet capture in the classic libpcap savefile format with nanosecond timestamps (pcap-savefile(5), LINKTYPE_ETHERNET), and a tap that records a NIC port.

import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { WireEndpoint, WirePort } from './wire.js';

/** The magic of a nanosecond-resolution pcap file (0xa1b2c3d4 would mean microseconds). */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_ETHERNET: records start with the destination MAC, no FCS. */
export const LINKTYPE_ETHERNET = 1;
export const PCAP_FILE_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
export const DEFAULT_PCAP_SNAPLEN = 65535;
export const DEFAULT_PCAP_MAX_BYTES = 100 * 1024 * 1024;
const DEFAULT_FLUSH_BYTES = 64 * 1024;

/** A clock for capture timestamps, in nanoseconds. */
export type PcapClock = () => bigint | number;

const wallBase = BigInt(Date.now()) * 1_000_000n;
const hrBase = process.hrtime.bigint();

/** Wall time in ns since the Unix epoch: Date.now() at load, advanced by the monotonic clock. */
export function wallClockNs(): bigint {
  return wallBase + (process.hrtime.bigint() - hrBase);
}

export interface PcapWriterOptions {
  /** Longest frame prefix stored per record (the header's snaplen); the record keeps the original length. Default 65535. */
  snaplen?: number;
  /** Cap on the file size, header included: a record that would pass it is dropped, and so is every later one. Default 100 MiB. */
  maxBytes?: number;
  /** Timestamp source for write() calls without a time and for capture taps. Default wallClockNs. */
  clock?: PcapClock;
  /** Buffered bytes that trigger a write to the file. Default 64 KiB. */
  flushBytes?: number;
  /** Also flush on a timer (unref'd, so it never keeps the process alive), for live readers. Default off. */
  flushIntervalMs?: number;
}

/** What a writer has recorded: records in the file (buffered included), file bytes, frames refused for the size cap. */
export interface PcapStats {
  frames: number;
  bytes: number;
  dropped: number;
}

/**
 * Writes a pcap file with nanosecond timestamps, little-endian. The file holds only whole
 * records at every flush, so it stays readable when the size cap is reached or the process
 * stops after a flush.
 */
export class PcapWriter {
  readonly path: string;
  readonly snaplen: number;
  readonly maxBytes: number;
  readonly clock: PcapClock;
  private readonly stat: PcapStats = { frames: 0, bytes: 0, dropped: 0 };
  private fd: number | null;
  private readonly buf: Buffer;
  private readonly view: DataView;
  private used = 0;
  private readonly flushBytes: number;
  private full = false;
  private timer: NodeJS.Timeout | null = null;
  /** Bytes known to be in the file, and records still in the buffer (for recovery from a failed write). */
  private onDisk = 0;
  private buffered = 0;
  private failure: Error | null = null;

  constructor(path: string, opts: PcapWriterOptions = {}) {
    this.snaplen = opts.snaplen ?? DEFAULT_PCAP_SNAPLEN;
    this.maxBytes = opts.maxBytes ?? DEFAULT_PCAP_MAX_BYTES;
    this.flushBytes = opts.flushBytes ?? DEFAULT_FLUSH_BYTES;
    this.clock = opts.clock ?? wallClockNs;
    if (!Number.isInteger(this.snaplen) || this.snaplen < 1 || this.snaplen > 0x7fffffff) throw new Error(`pcap snaplen ${this.snaplen} is out of range`);
    if (!(this.maxBytes >= PCAP_FILE_HEADER_BYTES)) throw new Error(`pcap maxBytes ${this.maxBytes} is smaller than the file header`);
    if (!(this.flushBytes >= 1)) throw new Error(`pcap flushBytes ${this.flushBytes} must be positive`);
    this.path = path;
    // Room for a full buffer plus the largest record, so a record is never split across writes.
    this.buf = Buffer.alloc(this.flushBytes + PCAP_RECORD_HEADER_BYTES + this.snaplen);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.fd = openSync(path, 'w');
    this.putFileHeader();
    try {
      this.writeOut(this.buf, 0, this.used); // a valid, empty capture from the start
    } catch (e) {
      closeSync(this.fd);
      this.fd = null;
      throw e;
    }
    this.onDisk = this.used;
    this.used = 0;
    if (opts.flushIntervalMs && opts.flushIntervalMs > 0) {
      this.timer = setInterval(() => this.flush(), opts.flushIntervalMs);
      this.timer.unref();
    }
  }

  get stats(): Readonly<PcapStats> {
    return { ...this.stat };
  }

  get closed(): boolean {
    return this.fd === null;
  }

  /** The write error that stopped the capture (disk full, ...), if one did. */
  get error(): Error | null {
    return this.failure;
  }

  /**
   * Appends one Ethernet frame with a timestamp in ns (default: the writer's clock). Returns
   * false when the size cap dropped it.
   */
  write(frame: Uint8Array, timeNs?: bigint | number): boolean {
    if (this.fd === null) throw new Error(`pcap writer for ${this.path} is closed`);
    const caplen = Math.min(frame.length, this.snaplen);
    const size = PCAP_RECORD_HEADER_BYTES + caplen;
    if (this.full || this.stat.bytes + size > this.maxBytes) {
      this.full = true;
      this.stat.dropped++;
      return false;
    }
    const [sec, nsec] = splitNs(timeNs ?? this.clock());
    const v = this.view;
    const o = this.used;
    v.setUint32(o, sec, true);
    v.setUint32(o + 4, nsec, true);
    v.setUint32(o + 8, caplen, true);
    v.setUint32(o + 12, frame.length, true);
    this.buf.set(caplen === frame.length ? frame : frame.subarray(0, caplen), o + PCAP_RECORD_HEADER_BYTES);
    this.used += size;
    this.buffered++;
    this.stat.frames++;
    this.stat.bytes += size;
    if (this.used >= this.flushBytes) this.flush();
    return true;
  }

  /**
   * Writes buffered records to the file. A write error does not reach the caller (frames are
   * recorded from a NIC's data path): the file is cut back to its whole records, the capture
   * stops, the lost records count as dropped, and `error` tells why.
   */
  flush(): void {
    if (this.fd === null || this.used === 0) return;
    try {
      for (let off = 0; off < this.used; ) off += this.writeOut(this.buf, off, this.used - off);
      this.onDisk += this.used;
    } catch (e) {
      this.failure = e as Error;
      this.full = true;
      try {
        ftruncateSync(this.fd, this.onDisk);
      } catch {
        /* nothing more to do for the file */
      }
      this.stat.frames -= this.buffered;
      this.stat.dropped += this.buffered;
      this.stat.bytes = this.onDisk;
    }
    this.used = 0;
    this.buffered = 0;
  }

  /** One write(2) to the file; returns the bytes written. (A seam for tests of failed writes.) */
  protected writeOut(buf: Uint8Array, offset: number, length: number): number {
    return writeSync(this.fd!, buf, offset, length);
  }

  /** Flushes and closes the file (idempotent). */
  close(): void {
    if (this.fd === null) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
    closeSync(this.fd);
    this.fd = null;
  }

  private putFileHeader(): void {
    const v = this.view;
    v.setUint32(0, PCAP_MAGIC_NS, true);
    v.setUint16(4, PCAP_VERSION_MAJOR, true);
    v.setUint16(6, PCAP_VERSION_MINOR, true);
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, this.snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = PCAP_FILE_HEADER_BYTES;
    this.stat.bytes = PCAP_FILE_HEADER_BYTES;
  }
}

/** Seconds and nanoseconds of a non-negative ns count; the seconds field is 32 bits, as the format has it. */
function splitNs(ns: bigint | number): [number, number] {
  if (typeof ns === 'bigint') {
    if (ns < 0n) throw new Error(`negative pcap timestamp ${ns}`);
    return [Number((ns / 1_000_000_000n) & 0xffffffffn), Number(ns % 1_000_000_000n)];
  }
  if (!(ns >= 0) || !Number.isFinite(ns)) throw new Error(`bad pcap timestamp ${ns}`);
  const whole = Math.floor(ns);
  let sec = Math.floor(whole / 1e9);
  let nsec = whole - sec * 1e9;
  // Division can round across a second boundary for large counts; settle it exactly.
  if (nsec < 0) {
    sec--;
    nsec += 1e9;
  } else if (nsec >= 1e9) {
    sec++;
    nsec -= 1e9;
  }
  return [sec % 2 ** 32, nsec];
}

/** Wraps a NIC's endpoint so frames from the wire are recorded before the NIC sees them. */
export function captureEndpoint(ep: WireEndpoint, writer: PcapWriter): WireEndpoint {
  return {
    receiveFrame(frame) {
      if (!writer.closed) writer.write(frame);
      ep.receiveFrame(frame);
    },
    setCarrier: (present) => ep.setCarrier(present),
  };
}

/** Wraps a NIC's port so frames the NIC sends are recorded before they go on the wire. */
export function capturePort(port: WirePort, writer: PcapWriter): WirePort {
  return {
    send(frame) {
      if (!writer.closed) writer.write(frame);
      port.send(frame);
    },
    detach: () => port.detach(),
    get stats() {
      return port.stats;
    },
  };
}

/**
 * A capture file with the two wrappers as methods, for a caller that attaches in two steps:
 *
 *     const cap = new PcapCapture(path, { clock });
 *     const port = cap.port(backend.attach(cap.endpoint(ep)));
 */
export class PcapCapture extends PcapWriter {
  /** `ep`, with frames from the wire recorded. */
  endpoint(ep: WireEndpoint): WireEndpoint {
    return captureEndpoint(ep, this);
  }

  /** `port`, with frames the NIC sends recorded. */
  port(port: WirePort): WirePort {
    return capturePort(port, this);
  }

  get frames(): number {
    return this.stats.frames;
  }

  get bytes(): number {
    return this.stats.bytes;
  }

  get dropped(): number {
    return this.stats.dropped;
  }
}

/**
 * Attaches `ep` through `attach` (e.g. `(e) => backend.attach(e)`) with both directions
 * recorded in `writer`, in the order they cross:
 *
 *     const port = attachCaptured(ep, (e) => backend.attach(e), writer);
 *
 * Frames are recorded before they are passed on, so a reply delivered synchronously inside
 * `send` lands after the frame that caused it. Classic pcap has no direction field. The
 * writer stays open on detach: its owner closes it.
 */
export function attachCaptured(ep: WireEndpoint, attach: (ep: WireEndpoint) => WirePort, writer: PcapWriter): WirePort {
  return capturePort(attach(captureEndpoint(ep, writer)), writer);
}
