import { describe, it, expect } from 'vitest';
import { createPair, createLoopback, type WireEndpoint } from '../../wire/index.js';
import { EventQueue } from '../../device/sim/event-queue.js';

function endpoint() {
  const got: Uint8Array[] = [];
  const carrier: boolean[] = [];
  const ep: WireEndpoint = { receiveFrame: (f) => got.push(f), setCarrier: (c) => carrier.push(c) };
  return { ep, got, carrier };
}

describe('wires', () => {
  it('a pair carries frames both ways and raises carrier only when both ends are plugged', () => {
    const w = createPair();
    const a = endpoint();
    const b = endpoint();
    const pa = w.attach(0, a.ep);
    expect(a.carrier).toEqual([false]);
    const pb = w.attach(1, b.ep);
    expect(a.carrier.at(-1)).toBe(true);
    expect(b.carrier.at(-1)).toBe(true);
    pa.send(new Uint8Array([1, 2, 3]));
    pb.send(new Uint8Array([4]));
    expect(b.got).toEqual([new Uint8Array([1, 2, 3])]);
    expect(a.got).toEqual([new Uint8Array([4])]);
    expect(pa.stats).toEqual({ txFrames: 1, txBytes: 3, rxFrames: 1, rxBytes: 1 });
    pb.detach();
    expect(a.carrier.at(-1)).toBe(false);
    pa.send(new Uint8Array([9]));
    expect(b.got.length).toBe(1);
  });

  it('delivers after the modeled latency', () => {
    const q = new EventQueue();
    const w = createPair({ latencyNs: 500, scheduler: q });
    const a = endpoint();
    const b = endpoint();
    const pa = w.attach(0, a.ep);
    w.attach(1, b.ep);
    pa.send(new Uint8Array([1]));
    q.run(499);
    expect(b.got.length).toBe(0);
    q.run(500);
    expect(b.got.length).toBe(1);
  });

  it('loopback returns every frame to its sender', () => {
    const w = createLoopback();
    const a = endpoint();
    const p = w.attach(0, a.ep);
    expect(a.carrier).toEqual([true]);
    p.send(new Uint8Array([7, 7]));
    expect(a.got).toEqual([new Uint8Array([7, 7])]);
  });
});
