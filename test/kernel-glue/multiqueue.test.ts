// Multi-queue net_device: TX queues stopped and woken one by one, byte queue limits, the flow hash picking a queue, per-queue stats, the watchdog per queue.
import { describe, expect, it } from 'vitest';
import {
  alloc_etherdev_mqs,
  dev_kfree_skb_any,
  dev_open,
  dev_close,
  eth_type_trans,
  netdev_alloc_skb_ip_align,
  netdev_get_tx_queue,
  netdev_tx_completed_queue,
  netdev_tx_sent_queue,
  netif_receive_skb,
  netif_set_real_num_rx_queues,
  netif_set_real_num_tx_queues,
  netif_tx_queue_stopped,
  netif_tx_start_all_queues,
  netif_tx_stop_all_queues,
  netif_tx_stop_queue,
  netif_tx_wake_queue,
  netif_xmit_stopped,
  register_netdev,
  reciprocal_scale,
  skb_get_hash,
  skb_put_data,
  skb_record_rx_queue,
  xmitFrame,
  EINVAL,
  NETDEV_TX_OK,
  type Kernel,
  type NetDevice,
  type NetDeviceOps,
  type SkBuff,
} from '../../kernel-glue/index.js';
import { makeKernel } from './fake-pci.js';

const MAC = new Uint8Array([0x02, 0, 0, 0, 0, 1]);
const PEER = [0x02, 0, 0, 0, 0, 2];

/** An IPv4 TCP or UDP frame of one flow (addresses 10.0.x.y, ports from the flow number). */
function flowFrame(flow: number, proto: 6 | 17, len = 80): Uint8Array {
  const f = new Uint8Array(len);
  f.set(PEER, 0);
  f.set(MAC, 6);
  f.set([0x08, 0x00], 12);
  f.set([0x45, 0, 0, len - 14, 0, 0, 0x40, 0, 64, proto], 14);
  f.set([10, 0, (flow >> 8) & 0xff, flow & 0xff], 26);
  f.set([10, 1, 0, 1], 30);
  const sport = 20000 + flow;
  f.set([sport >> 8, sport & 0xff, 0x13, 0x89], 34); // source port, destination port 5001
  return f;
}

/** A 4-queue device whose "rings" keep what they got per queue, with BQL accounting on send. */
function mqDev(k: Kernel, o: { queues?: number; extra?: Partial<NetDeviceOps>; bql?: boolean } = {}) {
  const n = o.queues ?? 4;
  const rings: SkBuff[][] = Array.from({ length: n }, () => []);
  const timeouts: number[] = [];
  const dev: NetDevice = alloc_etherdev_mqs(k, { rings }, n, n);
  dev.netdev_ops = {
    ndo_open: () => 0,
    ndo_stop: () => 0,
    ndo_start_xmit(skb, d) {
      const q = skb.queue_mapping;
      rings[q]!.push(skb);
      if (o.bql) netdev_tx_sent_queue(netdev_get_tx_queue(d, q), skb.len);
      return NETDEV_TX_OK;
    },
    ndo_tx_timeout: (_d, q) => void timeouts.push(q),
    ...o.extra,
  };
  dev.dev_addr.set(MAC);
  expect(register_netdev(dev)).toBe(0);
  expect(dev_open(dev)).toBe(0);
  /** The hardware finishes `count` of queue q's packets. */
  const complete = (q: number, count: number): void => {
    const done = rings[q]!.splice(0, count);
    const bytes = done.reduce((a, s) => a + s.len, 0);
    if (o.bql) netdev_tx_completed_queue(netdev_get_tx_queue(dev, q), done.length, bytes);
    for (const skb of done) dev_kfree_skb_any(skb);
  };
  return { dev, rings, complete, timeouts };
}

describe('multi-queue TX', () => {
  it('stops and wakes four TX queues independently: a stopped queue holds its flows, the others keep sending', () => {
    const { q, k } = makeKernel();
    // The driver picks the queue from the flow number (ndo_select_queue), so each queue's traffic is known.
    const r = mqDev(k, { extra: { ndo_select_queue: (_d, skb) => skb.bytes()[29]! % 4 } });
    netif_tx_stop_queue(netdev_get_tx_queue(r.dev, 2));
    for (let f = 0; f < 40; f++) expect(xmitFrame(r.dev, flowFrame(f, 17))).toBe(0);
    expect(r.rings.map((x) => x.length)).toEqual([10, 10, 0, 10]);
    expect(r.dev.txq[2]!.qdisc.length).toBe(10);
    expect(netif_tx_queue_stopped(r.dev.txq[2]!)).toBe(true);
    expect([0, 1, 3].map((i) => netif_tx_queue_stopped(r.dev.txq[i]!))).toEqual([false, false, false]);
    // Stop 0 and 3 as well; 1 still sends.
    netif_tx_stop_queue(r.dev.txq[0]!);
    netif_tx_stop_queue(r.dev.txq[3]!);
    for (let f = 40; f < 80; f++) xmitFrame(r.dev, flowFrame(f, 17));
    expect(r.rings.map((x) => x.length)).toEqual([10, 20, 0, 10]);
    // Waking queue 2 drains only queue 2, in order, from NET_TX.
    netif_tx_wake_queue(r.dev.txq[2]!);
    expect(r.rings[2]).toHaveLength(0);
    q.advance(1_000_000);
    expect(r.rings.map((x) => x.length)).toEqual([10, 20, 20, 10]);
    expect(r.rings[2]!.map((s) => s.bytes()[29])).toEqual(Array.from({ length: 20 }, (_, i) => 2 + 4 * i));
    netif_tx_start_all_queues(r.dev); // no kick: what waits on 0 and 3 stays until a wake or new traffic
    expect(r.rings[0]).toHaveLength(10);
    xmitFrame(r.dev, flowFrame(80, 17));
    expect(r.rings[0]).toHaveLength(21);
    netif_tx_stop_all_queues(r.dev);
    expect(r.dev.txq.every((x) => netif_tx_queue_stopped(x))).toBe(true);
    // Per-queue counters add up to what the driver got.
    expect(r.dev.txq.map((x) => x.stats.packets)).toEqual(r.rings.map((x) => x.length));
    for (let i = 0; i < 4; i++) r.complete(i, r.rings[i]!.length);
    dev_close(r.dev);
    expect(k.accounting().skbsLive).toBe(0);
  });

  it('picks the queue by the flow hash: every packet of a flow on one queue, flows spread over all four', () => {
    const { k } = makeKernel();
    const r = mqDev(k);
    const queueOf = new Map<number, Set<number>>();
    for (let round = 0; round < 5; round++) {
      for (let f = 0; f < 64; f++) {
        const before = r.rings.map((x) => x.length);
        xmitFrame(r.dev, flowFrame(f, f % 2 ? 6 : 17, 80 + round));
        const q = r.rings.findIndex((x, i) => x.length > before[i]!);
        (queueOf.get(f) ?? queueOf.set(f, new Set()).get(f)!).add(q);
      }
    }
    for (const [f, qs] of queueOf) expect(qs.size, `flow ${f} went to queues ${[...qs]}`).toBe(1);
    const perQueue = [0, 1, 2, 3].map((q) => [...queueOf.values()].filter((s) => s.has(q)).length);
    expect(perQueue.every((n) => n >= 6), `flows per queue ${perQueue}`).toBe(true);
    // The queue is the hash scaled to the queues in use, as the test computes it from the skb.
    const skb = r.rings.flat()[0]!;
    expect(skb.queue_mapping).toBe(reciprocal_scale(skb_get_hash(skb), 4));
    // Fewer queues in use: flows map into 0..1 only; out-of-range counts are refused.
    expect(netif_set_real_num_tx_queues(r.dev, 2)).toBe(0);
    const seen = new Set<number>();
    for (let f = 0; f < 64; f++) {
      const before = r.rings.map((x) => x.length);
      xmitFrame(r.dev, flowFrame(f, 6));
      seen.add(r.rings.findIndex((x, i) => x.length > before[i]!));
    }
    expect([...seen].sort()).toEqual([0, 1]);
    expect(netif_set_real_num_tx_queues(r.dev, 0)).toBe(-EINVAL);
    expect(netif_set_real_num_tx_queues(r.dev, 5)).toBe(-EINVAL);
    expect(netif_set_real_num_rx_queues(r.dev, 4)).toBe(0);
    for (let i = 0; i < 4; i++) r.complete(i, r.rings[i]!.length);
  });

  it('honours byte queue limits per queue: the stack stops a queue over its limit and restarts it under', () => {
    const { q, k } = makeKernel();
    const r = mqDev(k, { bql: true, extra: { ndo_select_queue: (_d, skb) => skb.bytes()[29]! % 4 } });
    const t1 = r.dev.txq[1]!;
    // A fixed limit of 3000 bytes on queue 1 (limit_min = limit_max, as sysfs can set it).
    t1.bql.limit = t1.bql.limitMin = t1.bql.limitMax = 3000;
    for (let i = 0; i < 10; i++) xmitFrame(r.dev, flowFrame(1 + 4 * i, 17, 1000)); // all on queue 1
    // 1000, 2000, 3000 fit; the fourth takes it over 3000 and the stack stops the queue.
    expect(r.rings[1]).toHaveLength(4);
    expect(t1.stackStopped).toBe(true);
    expect(netif_tx_queue_stopped(t1)).toBe(false); // the driver did not stop it
    expect(netif_xmit_stopped(t1)).toBe(true);
    // Other queues are not held by queue 1's limit.
    xmitFrame(r.dev, flowFrame(2, 17, 1000));
    expect(r.rings[2]).toHaveLength(1);
    // Two completions: 2000 in flight, under the limit: NET_TX restarts it until over again.
    r.complete(1, 2);
    expect(t1.stackStopped).toBe(false);
    q.advance(1_000_000);
    expect(r.rings[1]).toHaveLength(4);
    let maxInFlight = 0;
    while (r.dev.txq[1]!.qdisc.length > 0 || r.rings[1]!.length > 0) {
      const b = t1.bql;
      maxInFlight = Math.max(maxInFlight, b.queuedBytes - b.completedBytes);
      r.complete(1, 1);
      q.advance(1_000_000);
    }
    expect(maxInFlight).toBeLessThanOrEqual(3000 + 1000); // the limit plus the packet that crossed it
    expect(t1.bql.completedPackets).toBe(10);
    r.complete(2, 1);
    expect(k.accounting().skbsLive).toBe(0);
  });

  it("grows a queue's dynamic limit when it starves and keeps it within limit_max", () => {
    const { q, k } = makeKernel();
    const r = mqDev(k, { bql: true, queues: 1 });
    const t = r.dev.txq[0]!;
    t.bql.limitMax = 5000;
    expect(t.bql.limit).toBe(0); // it starts with nothing allowed beyond the first packet
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 8; i++) xmitFrame(r.dev, flowFrame(i, 17, 500));
      // The hardware drains everything it was given, then the stack refills.
      while (r.rings[0]!.length > 0 || t.qdisc.length > 0) {
        r.complete(0, r.rings[0]!.length);
        q.advance(1_000_000);
      }
    }
    expect(t.bql.limit).toBeGreaterThan(1000); // grew from starvation
    expect(t.bql.limit).toBeLessThanOrEqual(5000);
    expect(k.accounting().skbsLive).toBe(0);
  });

  it('times out the queue that is stuck, by its own number', () => {
    const { q, k } = makeKernel();
    const r = mqDev(k);
    r.dev.watchdog_timeo = 10;
    // The link comes up: the watchdog runs.
    netif_tx_stop_queue(r.dev.txq[3]!);
    q.advance(6e9); // past the 5 s watchdog_timeo the device opened with
    // ndo_tx_timeout with queue 3, again each watchdog period while it stays stuck; never another queue.
    expect(r.timeouts.length).toBeGreaterThan(0);
    expect(new Set(r.timeouts)).toEqual(new Set([3]));
    // Once it sends again, no more.
    const n = r.timeouts.length;
    netif_tx_wake_queue(r.dev.txq[3]!);
    q.advance(6e9);
    expect(r.timeouts.length).toBe(n);
    expect(k.dmesg.some((l) => /transmit queue 3 timed out/.test(l.msg))).toBe(true);
  });
});

describe('multi-queue RX', () => {
  it('counts what each RX queue delivered (skb_record_rx_queue)', () => {
    const { k } = makeKernel();
    const r = mqDev(k);
    for (let i = 0; i < 12; i++) {
      const f = flowFrame(i, 17);
      const skb = netdev_alloc_skb_ip_align(r.dev, f.length)!;
      skb_put_data(skb, f);
      skb.protocol = eth_type_trans(skb, r.dev);
      skb_record_rx_queue(skb, i % 3);
      netif_receive_skb(skb);
    }
    expect(r.dev.rxq.map((x) => x.stats.packets)).toEqual([4, 4, 4, 0]);
    expect(k.accounting().skbsLive).toBe(0);
  });
});
