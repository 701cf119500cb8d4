import { describe, it, expect } from 'vitest';
import { EventQueue } from '../../device/sim/event-queue.js';
import { Kernel } from '../../kernel-glue/kernel.js';
import {
  alloc_etherdev, register_netdev, dev_open, dev_queue_xmit, netif_carrier_on, netif_carrier_off, netif_stop_queue,
  netif_start_queue, NETDEV_TX_OK, NET_XMIT_DROP,
} from '../../kernel-glue/netdev.js';
import { alloc_skb, kfree_skb } from '../../kernel-glue/skbuff.js';

function rig() {
  const q = new EventQueue();
  const k = new Kernel({ clock: q, ramBytes: 1 << 22 });
  const sent: number[] = [];
  const dev = alloc_etherdev(k, {});
  dev.netdev_ops = {
    ndo_open: () => 0,
    ndo_stop: () => 0,
    ndo_start_xmit: (skb) => {
      sent.push(skb.len);
      kfree_skb(skb);
      return NETDEV_TX_OK;
    },
  };
  register_netdev(dev);
  dev_open(dev);
  const xmit = (len = 60) => {
    const skb = alloc_skb(k, len)!;
    skb.len = len;
    skb.tail = len;
    skb.dev = dev;
    return dev_queue_xmit(skb);
  };
  return { q, k, dev, sent, xmit };
}

describe('qdisc and carrier, as linkwatch and __dev_xmit_skb behave', () => {
  it('drops what is sent while carrier is off (noop qdisc)', () => {
    const r = rig();
    netif_carrier_off(r.dev);
    expect(r.xmit()).toBe(NET_XMIT_DROP);
    expect(r.sent).toEqual([]);
    expect(r.dev.core_stats.tx_dropped).toBe(1);
    expect(r.k.accounting().skbsLive).toBe(0);
  });

  it('flushes the queue when carrier goes down, and a full queue still gets run', () => {
    const r = rig();
    netif_carrier_on(r.dev);
    netif_stop_queue(r.dev);
    for (let i = 0; i < r.dev.tx_queue_len; i++) r.xmit();
    expect(r.dev.qdisc.length).toBe(r.dev.tx_queue_len);
    // The driver restarted its queue without waking the qdisc (e1000e_up uses netif_start_queue):
    // the next send, even though the queue is full and it is dropped, runs the qdisc.
    netif_start_queue(r.dev);
    expect(r.xmit()).toBe(NET_XMIT_DROP);
    expect(r.sent.length).toBeGreaterThan(0);
    r.q.run();
    expect(r.sent.length).toBe(r.dev.tx_queue_len);
    // Carrier loss drops what is queued.
    netif_stop_queue(r.dev);
    for (let i = 0; i < 5; i++) r.xmit();
    netif_carrier_off(r.dev);
    expect(r.dev.qdisc.length).toBe(0);
    expect(r.k.accounting().skbsLive).toBe(0);
  });
});
