import { describe, it, expect } from 'vitest';
import { EthernetSwitch, type WireEndpoint } from '../../wire/index.js';
import { EventQueue } from '../../device/sim/event-queue.js';
import { Testbed } from '../../testbed/testbed.js';
import { dev_open, netif_carrier_ok, xmitFrame, dev_get_stats } from '../../kernel-glue/netdev.js';
import { captureRx } from '../support/pair.js';

function endpoint() {
  const got: Uint8Array[] = [];
  const carrier: boolean[] = [];
  const ep: WireEndpoint = { receiveFrame: (f) => got.push(f), setCarrier: (c) => carrier.push(c) };
  return { ep, got, carrier };
}

const mac = (n: number) => [0x52, 0x54, 0x00, 0x00, 0x00, n];
function frame(dst: number[], src: number[], tag: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = tag;
  return f;
}
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

describe('built-in switch', () => {
  it('floods unknown and broadcast destinations, then forwards learned unicast to one port only', () => {
    const sw = new EthernetSwitch();
    const [a, b, c] = [endpoint(), endpoint(), endpoint()];
    const pa = sw.attach(a.ep, { name: 'a' });
    const pb = sw.attach(b.ep, { name: 'b' });
    sw.attach(c.ep, { name: 'c' });
    expect([a.carrier, b.carrier, c.carrier]).toEqual([[true], [true], [true]]);
    pa.send(frame(BCAST, mac(1), 1)); // a's MAC learned
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 1, 1]);
    pb.send(frame(mac(1), mac(2), 2)); // known: only a
    expect([a.got.length, b.got.length, c.got.length]).toEqual([1, 1, 1]);
    pa.send(frame(mac(2), mac(1), 3)); // b learned: only b
    expect([a.got.length, b.got.length, c.got.length]).toEqual([1, 2, 1]);
    pa.send(frame(mac(9), mac(1), 4)); // unknown: flood
    expect([a.got.length, b.got.length, c.got.length]).toEqual([1, 3, 2]);
    expect(sw.macTable()).toEqual({ '52:54:00:00:00:01': 'a', '52:54:00:00:00:02': 'b' });
    expect(sw.stats).toMatchObject({ forwarded: 2, flooded: 2, learned: 2 });
    // Receivers get copies: changing one leaves the others alone.
    b.got[0]![20] = 0xee;
    expect(c.got[0]![20]).toBe(0);
  });

  it('drops hairpin frames, multicast sources are not learned, runts are counted', () => {
    const sw = new EthernetSwitch();
    const [a, b] = [endpoint(), endpoint()];
    const pa = sw.attach(a.ep);
    sw.attach(b.ep);
    pa.send(frame(BCAST, mac(1), 1));
    pa.send(frame(mac(1), mac(3), 2)); // destination lives on the sending port
    expect(b.got.length).toBe(1);
    expect(sw.stats.filtered).toBe(1);
    pa.send(frame(mac(7), [0x01, 0, 0x5e, 0, 0, 1], 3));
    expect(Object.keys(sw.macTable())).not.toContain('01:00:5e:00:00:01');
    pa.send(new Uint8Array(8));
    expect(sw.stats.runts).toBe(1);
  });

  it('delivers after the modeled latency on the receiving port\'s clock, and a detached port loses carrier and its MACs', () => {
    const qa = new EventQueue();
    const qb = new EventQueue();
    const sw = new EthernetSwitch({ latencyNs: 5_000 });
    const [a, b] = [endpoint(), endpoint()];
    const pa = sw.attach(a.ep, { scheduler: qa });
    const pb = sw.attach(b.ep, { scheduler: qb });
    pa.send(frame(BCAST, mac(1), 1));
    expect(b.got.length).toBe(0);
    expect(qa.peekTime()).toBeUndefined();
    qb.run(4_999);
    expect(b.got.length).toBe(0);
    qb.run(5_000);
    expect(b.got.length).toBe(1);
    pb.send(frame(mac(1), mac(2), 2));
    pb.detach();
    expect(b.carrier.at(-1)).toBe(false);
    expect(Object.values(sw.macTable())).toEqual(['port0']);
    qa.run(10_000);
    expect(a.got.length).toBe(1);
    expect(() => new EthernetSwitch({ latencyNs: 1 }).attach(endpoint().ep)).toThrow(/scheduler/);
  });

  it('ages learned addresses out and evicts the oldest when the table is full', () => {
    let t = 0;
    const sw = new EthernetSwitch({ ageNs: 1000, maxMacs: 2, now: () => t });
    const [a, b, c] = [endpoint(), endpoint(), endpoint()];
    const pa = sw.attach(a.ep);
    const pb = sw.attach(b.ep);
    sw.attach(c.ep);
    pa.send(frame(BCAST, mac(1), 1));
    t = 2000;
    pb.send(frame(mac(1), mac(2), 2)); // mac(1) aged: flooded to a and c
    expect(c.got.length).toBe(2);
    pa.send(frame(BCAST, mac(3), 3));
    pa.send(frame(BCAST, mac(4), 4)); // table full: the oldest (mac 1) goes
    expect(Object.keys(sw.macTable()).sort()).toEqual(['52:54:00:00:00:03', '52:54:00:00:00:04']);
  });

  it('three machines with our e1000e on one switch: each reaches the others, with the latency in the delivery time', () => {
    const tb = new Testbed();
    const sw = new EthernetSwitch({ latencyNs: 10_000, scheduler: tb.queue });
    const ms = [1, 2, 3].map((n) => tb.addMachine({ name: `M${n}` }));
    const nics = ms.map((m, i) => m.addNic({ mac: new Uint8Array(mac(i + 1)), name: `M${i + 1}.nic0` }));
    nics.forEach((n) => n.connect(sw));
    ms.forEach((m) => m.loadDriver());
    const rx = ms.map((m) => captureRx(m));
    nics.forEach((n) => expect(dev_open(n.netdev)).toBe(0));
    expect(tb.runUntil(() => nics.every((n) => netif_carrier_ok(n.netdev)), 10e9)).toBe(true);
    const t0 = tb.now();
    xmitFrame(nics[0]!.netdev, frame(mac(2), mac(1), 0x12));
    xmitFrame(nics[1]!.netdev, frame(mac(3), mac(2), 0x23));
    xmitFrame(nics[2]!.netdev, frame(mac(1), mac(3), 0x31));
    tb.advance(1e6);
    // Unknown destinations are flooded at first: each machine sees the frame meant for it, plus maybe floods.
    const tagsFor = (i: number) => rx[i]!.frames.filter((f) => f[0] === 0x52 && f[5] === i + 1).map((f) => f[14]);
    expect([tagsFor(0), tagsFor(1), tagsFor(2)]).toEqual([[0x31], [0x12], [0x23]]);
    const stats = nics.map((n) => dev_get_stats(n.netdev));
    expect(stats.map((s) => s.tx_packets)).toEqual([1, 1, 1]);
    expect(sw.stats.learned).toBe(3);
    // Now every MAC is known: one frame, one receiver, no earlier than the link latency.
    const before = rx.map((r) => r.frames.length);
    xmitFrame(nics[0]!.netdev, frame(mac(3), mac(1), 0x13));
    const sent = tb.now();
    tb.runUntil(() => rx[2]!.frames.length > before[2]!, 1e6);
    expect(tb.now() - sent).toBeGreaterThanOrEqual(10_000);
    tb.advance(1e6);
    expect(rx.map((r, i) => r.frames.length - before[i]!)).toEqual([0, 0, 1]);
    expect(t0).toBeGreaterThan(0);
  });
});
