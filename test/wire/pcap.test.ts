// pcap capture: file layout checked byte by byte against an independent reader, size cap, and the NIC-port tap.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachCaptured, createLoopback, createPair, PcapCapture, PcapWriter, wallClockNs, type WireEndpoint } from '../../wire/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nicsim-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (): string => join(dir, `c${n++}.pcap`);

interface Rec {
  sec: number;
  nsec: number;
  caplen: number;
  origlen: number;
  data: Buffer;
}

/** A reader written from pcap-savefile(5) with Buffer's own readers: throws on a partial record. */
function readPcap(b: Buffer): { magic: number; major: number; minor: number; zone: number; sigfigs: number; snaplen: number; linktype: number; records: Rec[] } {
  if (b.length < 24) throw new Error(`short file header (${b.length} bytes)`);
  const h = {
    magic: b.readUInt32LE(0),
    major: b.readUInt16LE(4),
    minor: b.readUInt16LE(6),
    zone: b.readInt32LE(8),
    sigfigs: b.readUInt32LE(12),
    snaplen: b.readUInt32LE(16),
    linktype: b.readUInt32LE(20),
  };
  const records: Rec[] = [];
  let o = 24;
  while (o < b.length) {
    if (o + 16 > b.length) throw new Error(`partial record header at ${o}`);
    const caplen = b.readUInt32LE(o + 8);
    if (o + 16 + caplen > b.length) throw new Error(`partial record data at ${o}`);
    records.push({ sec: b.readUInt32LE(o), nsec: b.readUInt32LE(o + 4), caplen, origlen: b.readUInt32LE(o + 12), data: b.subarray(o + 16, o + 16 + caplen) });
    o += 16 + caplen;
  }
  return { ...h, records };
}

const frame = (len: number, fill: number): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (fill + i) & 0xff);

describe('PcapWriter', () => {
  it('writes the nanosecond pcap file header byte for byte, valid even before any frame', () => {
    const p = tmp();
    const w = new PcapWriter(p);
    // on disk at once, before close
    expect([...readFileSync(p)]).toEqual([
      0x4d, 0x3c, 0xb2, 0xa1, // magic 0xa1b23c4d, little-endian: nanosecond timestamps
      0x02, 0x00, 0x04, 0x00, // version 2.4
      0x00, 0x00, 0x00, 0x00, // thiszone
      0x00, 0x00, 0x00, 0x00, // sigfigs
      0xff, 0xff, 0x00, 0x00, // snaplen 65535
      0x01, 0x00, 0x00, 0x00, // LINKTYPE_ETHERNET
    ]);
    w.close();
    expect(statSync(p).size).toBe(24);
    expect(w.stats).toEqual({ frames: 0, bytes: 24, dropped: 0 });
  });

  it('lays out a record as seconds, nanoseconds, captured and original length, then the frame', () => {
    const p = tmp();
    const w = new PcapWriter(p);
    const f = frame(60, 7);
    expect(w.write(f, 1_234_567_890_123n)).toBe(true);
    w.close();
    const b = readFileSync(p);
    expect(b.length).toBe(24 + 16 + 60);
    expect([...b.subarray(24, 40)]).toEqual([
      0xd2, 0x04, 0x00, 0x00, // 1234 s
      0xcb, 0x50, 0xd9, 0x21, // 567890123 ns = 0x21d950cb
      0x3c, 0x00, 0x00, 0x00, // 60 captured
      0x3c, 0x00, 0x00, 0x00, // 60 on the wire
    ]);
    expect([...b.subarray(40)]).toEqual([...f]);
    expect(w.stats).toEqual({ frames: 1, bytes: 100, dropped: 0 });
  });

  it('keeps nanoseconds exact from bigint and number clocks, across second boundaries and at wall-clock scale', () => {
    const p = tmp();
    let t = 0n;
    const w = new PcapWriter(p, { clock: () => t });
    const times: (bigint | number)[] = [0, 1, 999_999_999, 1_000_000_000, 1_000_000_001, 2 ** 53 - 1, 1_700_000_000_123_456_789n, 4_294_967_295_999_999_999n];
    for (const [i, ts] of times.entries()) w.write(frame(14 + i, i), ts);
    t = 5_000_000_042n;
    w.write(frame(20, 0)); // from the clock
    w.close();
    const r = readPcap(readFileSync(p)).records.map((x) => [x.sec, x.nsec]);
    expect(r).toEqual([
      [0, 0],
      [0, 1],
      [0, 999_999_999],
      [1, 0],
      [1, 1],
      [9_007_199, 254_740_991],
      [1_700_000_000, 123_456_789],
      [4_294_967_295, 999_999_999],
      [5, 42],
    ]);
  });

  it('stamps wall time by default', () => {
    const p = tmp();
    const w = new PcapWriter(p);
    const before = BigInt(Date.now()) * 1_000_000n;
    w.write(frame(60, 1));
    w.close();
    const [rec] = readPcap(readFileSync(p)).records;
    const ns = BigInt(rec!.sec) * 1_000_000_000n + BigInt(rec!.nsec);
    expect(ns >= before - 50_000_000n && ns <= wallClockNs()).toBe(true);
  });

  it('stores at most snaplen bytes of a frame and keeps its original length', () => {
    const p = tmp();
    const w = new PcapWriter(p, { snaplen: 64 });
    w.write(frame(1514, 3), 10);
    w.write(frame(60, 4), 20);
    w.close();
    const f = readPcap(readFileSync(p));
    expect(f.snaplen).toBe(64);
    expect(f.records.map((r) => [r.caplen, r.origlen])).toEqual([
      [64, 1514],
      [60, 60],
    ]);
    expect([...f.records[0]!.data]).toEqual([...frame(1514, 3).subarray(0, 64)]);
  });

  it('writes whole records to the file as the buffer fills, and the rest on close', () => {
    const p = tmp();
    const w = new PcapWriter(p, { flushBytes: 1000 });
    for (let i = 0; i < 10; i++) w.write(frame(84, i), i); // 100 B per record
    // the 10th record took the buffer (24 + 1000 B) past 1000 B: all of it is on disk
    expect(statSync(p).size).toBe(24 + 1000);
    w.write(frame(84, 10), 10);
    expect(statSync(p).size).toBe(24 + 1000);
    w.flush();
    expect(statSync(p).size).toBe(24 + 1100);
    w.write(frame(84, 11), 11);
    w.close();
    w.close(); // idempotent
    expect(readPcap(readFileSync(p)).records.length).toBe(12);
    expect(() => w.write(frame(60, 0), 0)).toThrow(/closed/);
  });

  it('stops at maxBytes with whole records only and counts what it dropped', () => {
    const p = tmp();
    // header 24 + 3 records of 16 + 100 = 372; a 4th would need 488
    const w = new PcapWriter(p, { maxBytes: 400, flushBytes: 64 });
    const results = [100, 100, 100, 100, 10, 100].map((len, i) => w.write(frame(len, i), i * 1000));
    w.close();
    // once full, it stays full: the small 5th frame would fit but is dropped too, so the capture is a prefix
    expect(results).toEqual([true, true, true, false, false, false]);
    expect(w.stats).toEqual({ frames: 3, bytes: 372, dropped: 3 });
    const b = readFileSync(p);
    expect(b.length).toBe(372);
    const f = readPcap(b);
    expect(f.records.map((r) => [r.nsec, r.origlen])).toEqual([
      [0, 100],
      [1000, 100],
      [2000, 100],
    ]);
  });

  it('fits a record that lands exactly on maxBytes', () => {
    const p = tmp();
    const w = new PcapWriter(p, { maxBytes: 24 + 16 + 60 });
    expect(w.write(frame(60, 0), 0)).toBe(true);
    expect(w.write(frame(1, 0), 0)).toBe(false);
    w.close();
    expect(statSync(p).size).toBe(100);
    expect(w.stats).toEqual({ frames: 1, bytes: 100, dropped: 1 });
  });

  it('survives a failed write: the file is cut back to whole records and the capture stops', () => {
    const p = tmp();
    /** Writes the header, then half of the next buffer, then fails as a full disk would. */
    let calls = 0; // (not a field: the constructor writes the header before fields exist)
    class FailingWriter extends PcapWriter {
      protected override writeOut(buf: Uint8Array, offset: number, length: number): number {
        calls++;
        if (calls <= 2) return super.writeOut(buf, offset, length);
        if (calls === 3) return super.writeOut(buf, offset, Math.floor(length / 2));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
    }
    const w = new FailingWriter(p, { flushBytes: 200 });
    for (let i = 0; i < 2; i++) w.write(frame(100, i), i); // 232 B: flushed whole (call 2)
    expect(w.error).toBeNull();
    expect(w.write(frame(100, 2), 2)).toBe(true);
    expect(w.write(frame(100, 3), 3)).toBe(true); // flush: half written (call 3), then the error (call 4)
    expect(w.error?.message).toMatch(/ENOSPC/);
    expect(w.write(frame(60, 4), 4)).toBe(false);
    w.close();
    expect(w.stats).toEqual({ frames: 2, bytes: 24 + 232, dropped: 3 });
    const b = readFileSync(p);
    expect(b.length).toBe(24 + 232);
    expect(readPcap(b).records.map((r) => r.data[0])).toEqual([0, 1]);
  });

  it('throws at once when even the file header cannot be written', () => {
    expect(() => new PcapWriter('/dev/full')).toThrow(/ENOSPC/);
  });

  it('refuses settings that cannot make a valid file', () => {
    expect(() => new PcapWriter(tmp(), { maxBytes: 23 })).toThrow(/header/);
    expect(() => new PcapWriter(tmp(), { snaplen: 0 })).toThrow(/snaplen/);
  });
});

function endpoint(): { ep: WireEndpoint; got: Uint8Array[]; carrier: boolean[] } {
  const got: Uint8Array[] = [];
  const carrier: boolean[] = [];
  return { ep: { receiveFrame: (f) => got.push(f), setCarrier: (c) => carrier.push(c) }, got, carrier };
}

describe('capture tap on a NIC port', () => {
  it('records both directions in the order they cross, and passes frames, carrier and stats through', () => {
    const p = tmp();
    let now = 0;
    const w = new PcapWriter(p, { clock: () => (now += 100) });
    const wire = createPair();
    const nic = endpoint();
    const peer = endpoint();
    const port = attachCaptured(nic.ep, (e) => wire.attach(0, e), w);
    const far = wire.attach(1, peer.ep);
    expect(nic.carrier.at(-1)).toBe(true);

    port.send(frame(60, 1)); // NIC -> wire
    far.send(frame(61, 2)); // wire -> NIC
    port.send(frame(62, 3));
    far.send(frame(63, 4));
    expect(peer.got.map((f) => f.length)).toEqual([60, 62]);
    expect(nic.got.map((f) => f.length)).toEqual([61, 63]);
    expect(port.stats).toEqual({ txFrames: 2, txBytes: 122, rxFrames: 2, rxBytes: 124 });

    port.detach();
    expect(nic.carrier.at(-1)).toBe(false);
    expect(w.closed).toBe(false); // the owner closes the writer
    w.close();
    const recs = readPcap(readFileSync(p)).records;
    expect(recs.map((r) => [r.nsec, r.origlen, r.data[0]])).toEqual([
      [100, 60, 1],
      [200, 61, 2],
      [300, 62, 3],
      [400, 63, 4],
    ]);
  });

  it('records a frame before the reply it causes when the wire answers synchronously', () => {
    const p = tmp();
    let now = 0;
    const w = new PcapWriter(p, { clock: () => now++ });
    const nic = endpoint();
    const port = attachCaptured(nic.ep, (e) => createLoopback().attach(0, e), w);
    port.send(frame(60, 0xaa));
    w.close();
    const recs = readPcap(readFileSync(p)).records;
    expect(recs.map((r) => [r.nsec, r.data[0]])).toEqual([
      [0, 0xaa], // sent
      [1, 0xaa], // looped back
    ]);
    expect(nic.got.length).toBe(1);
  });

  it('PcapCapture wraps endpoint and port in two steps and counts like the writer', () => {
    const p = tmp();
    let now = 0n;
    const cap = new PcapCapture(p, { clock: () => (now += 5n), maxBytes: 24 + 2 * (16 + 60) });
    const wire = createPair();
    const nic = endpoint();
    const peer = endpoint();
    const port = cap.port(wire.attach(0, cap.endpoint(nic.ep)));
    const far = wire.attach(1, peer.ep);
    port.send(frame(60, 1));
    far.send(frame(60, 2));
    port.send(frame(60, 3)); // over the cap: delivered, not recorded
    expect(peer.got.length).toBe(2);
    expect(nic.got.length).toBe(1);
    expect([cap.frames, cap.bytes, cap.dropped]).toEqual([2, 176, 1]);
    cap.close();
    expect(readPcap(readFileSync(p)).records.map((r) => [r.nsec, r.data[0]])).toEqual([
      [5, 1],
      [10, 2],
    ]);
  });

  it('keeps frames flowing after the writer is closed', () => {
    const w = new PcapWriter(tmp());
    const nic = endpoint();
    const port = attachCaptured(nic.ep, (e) => createLoopback().attach(0, e), w);
    w.close();
    port.send(frame(60, 5));
    expect(nic.got.length).toBe(1);
    expect(w.stats.frames).toBe(0);
  });
});
