import { describe, it, expect } from 'vitest';
import { makePair, captureRx, MAC_A, MAC_B } from '../support/pair.js';
import { xmitFrame, dev_close, dev_open } from '../../kernel-glue/netdev.js';
import { adapterOf } from '../../driver/netdev.js';
import { RecordingTrace } from '../../device/trace.js';
import * as D from '../../device/e1000e/defs.js';

function frame(i: number, len = 300): Uint8Array {
  const f = new Uint8Array(len);
  f.set(MAC_B, 0);
  f.set(MAC_A, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = i & 0xff;
  return f;
}

describe('a driver that misprograms the device', () => {
  it('TX ring moved outside RAM: the device stops and traces it, the driver detects the hang, times out, resets, and traffic resumes', () => {
    const trace = new RecordingTrace('e1000e_tx_dma_fault');
    const r = makePair({ trace });
    const rx = captureRx(r.b);
    const a = adapterOf(r.na.netdev);
    for (let i = 0; i < 10; i++) xmitFrame(r.na.netdev, frame(i));
    r.tb.advance(1e6);
    expect(rx.frames.length).toBe(10);
    // A buggy driver points the ring at memory that does not exist (64 MiB RAM; this is at 3 GiB).
    a.ew32(D.REG.TDBAL0, 0xc0000000);
    // Keep sending: with no TX interrupts the ring fills and the queue stops, as on Linux.
    for (let i = 10; i < 400; i++) expect(() => xmitFrame(r.na.netdev, frame(i))).not.toThrow();
    r.tb.advance(1e6);
    expect(rx.frames.length).toBe(10);
    expect(r.na.device.tx.diag.ringFetchFaults).toBeGreaterThan(0);
    expect(trace.records.length).toBeGreaterThan(0);
    expect(trace.records[0]!.fields['what']).toBe('descriptor');
    // Watchdog hang check, dev_watchdog's 5 s TX timeout, reset task: all in virtual time.
    expect(r.tb.runUntil(() => a.sw.resets > 0, 20e9)).toBe(true);
    expect(a.sw.txTimeouts + a.sw.txHangs).toBeGreaterThan(0);
    expect(r.tb.runUntil(() => r.na.netdev.flags !== 0 && a.linkSpeed === 1000 && !a.down, 10e9)).toBe(true);
    r.tb.advance(3e9);
    // New sends flow again (and, as on Linux, push out what waited in the qdisc before them).
    const before = rx.frames.length;
    for (let i = 0; i < 10; i++) xmitFrame(r.na.netdev, frame(200 + i, 333));
    r.tb.advance(20e6);
    const fresh = rx.frames.slice(before).filter((f) => f.length === 333).map((f) => f[14]);
    expect(fresh).toEqual([200, 201, 202, 203, 204, 205, 206, 207, 208, 209]);
  });

  it('RX ring outside RAM and a tail past the ring: frames are lost and counted, nothing throws, reset recovers', () => {
    const r = makePair();
    const rx = captureRx(r.b);
    const b = adapterOf(r.nb.netdev);
    b.ew32(D.REG.RDBAL0, 0xf0000000);
    b.ew32(D.REG.RDT0, 5000);
    for (let i = 0; i < 20; i++) xmitFrame(r.na.netdev, frame(i));
    expect(() => r.tb.advance(5e6)).not.toThrow();
    expect(rx.frames.length).toBe(0);
    expect(r.nb.device.rx.diag.badTail + r.nb.device.rx.diag.ringFetchFaults).toBeGreaterThan(0);
    expect(r.nb.device.peek('RNBC')).toBeGreaterThan(0);
    // ip link set down/up: the driver resets the device and reprograms the rings.
    dev_close(r.nb.netdev);
    expect(dev_open(r.nb.netdev)).toBe(0);
    expect(r.tb.runUntil(() => b.linkSpeed === 1000, 10e9)).toBe(true);
    const before = rx.frames.length;
    for (let i = 0; i < 20; i++) xmitFrame(r.na.netdev, frame(50 + i));
    r.tb.advance(20e6);
    expect(rx.frames.length - before).toBe(20);
  });
});
