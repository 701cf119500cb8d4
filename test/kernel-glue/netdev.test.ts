import { describe, expect, it } from 'vitest';
import {
  alloc_etherdev,
  alloc_skb,
  consume_skb,
  dev_close,
  dev_get_stats,
  dev_kfree_skb_any,
  dev_mc_add,
  dev_mc_del,
  dev_open,
  dev_set_promiscuity,
  eth_type_trans,
  ETH_P_IP,
  IFF_PROMISC,
  IFF_UP,
  kfree,
  kmalloc,
  napi_alloc_skb,
  napi_complete_done,
  napi_enable,
  napi_gro_receive,
  napi_schedule,
  NapiStruct,
  NET_XMIT_DROP,
  NETDEV_TX_BUSY,
  NETDEV_TX_OK,
  netdev_alloc_skb_ip_align,
  netif_carrier_off,
  netif_napi_add,
  netif_stop_queue,
  netif_wake_queue,
  PACKET_BROADCAST,
  PACKET_HOST,
  PACKET_OTHERHOST,
  register_netdev,
  skb_headroom,
  skb_network_offset,
  skb_pull,
  skb_push,
  skb_put,
  skb_put_data,
  skb_reserve,
  skb_set_network_header,
  skb_tailroom,
  unregister_netdev,
  free_netdev,
  xmitFrame,
  type Kernel,
  type NetDevice,
  type NetDeviceOps,
  type SkBuff,
} from '../../kernel-glue/index.js';
import { makeKernel } from './fake-pci.js';

const MAC = new Uint8Array([0x02, 0, 0, 0, 0, 1]);

function frame(dst: number[], len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(MAC, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  return f;
}

/** A device whose "ring" holds `ringSize` skbs; it stops the queue when full, like e1000e. */
function ringDev(k: Kernel, ringSize: number, extra: Partial<NetDeviceOps> = {}) {
  const ring: SkBuff[] = [];
  const dev: NetDevice = alloc_etherdev(k, { ring });
  let rxMode = 0;
  dev.netdev_ops = {
    ndo_open: () => 0,
    ndo_stop: () => 0,
    ndo_start_xmit(skb, d) {
      ring.push(skb);
      if (ring.length >= ringSize) netif_stop_queue(d);
      return NETDEV_TX_OK;
    },
    ndo_set_rx_mode: () => void rxMode++,
    ...extra,
  };
  dev.dev_addr.set(MAC);
  expect(register_netdev(dev)).toBe(0);
  const complete = (n: number): void => {
    for (const skb of ring.splice(0, n)) dev_kfree_skb_any(skb);
    netif_wake_queue(dev);
  };
  return { dev, ring, complete, rxMode: () => rxMode };
}

describe('net_device lifecycle', () => {
  it('names devices eth0, eth1 and opens/closes them', () => {
    const { k } = makeKernel();
    const a = ringDev(k, 8).dev;
    const b = ringDev(k, 8).dev;
    expect([a.name, b.name]).toEqual(['eth0', 'eth1']);
    expect(dev_open(a)).toBe(0);
    expect(a.flags & IFF_UP).toBe(IFF_UP);
    dev_close(a);
    expect(a.flags & IFF_UP).toBe(0);
    unregister_netdev(a);
    free_netdev(a);
    expect(() => free_netdev(a)).toThrow(/double free/);
    const c = ringDev(k, 8).dev;
    expect(c.name).toBe('eth0');
  });

  it('multicast list and promiscuity changes call ndo_set_rx_mode', () => {
    const { k } = makeKernel();
    const r = ringDev(k, 8);
    dev_open(r.dev);
    const before = r.rxMode();
    dev_mc_add(r.dev, new Uint8Array([1, 0, 0x5e, 0, 0, 1]));
    dev_mc_add(r.dev, new Uint8Array([1, 0, 0x5e, 0, 0, 1]));
    expect(r.dev.mc).toHaveLength(1);
    dev_set_promiscuity(r.dev, 1);
    expect(r.dev.flags & IFF_PROMISC).toBe(IFF_PROMISC);
    dev_mc_del(r.dev, new Uint8Array([1, 0, 0x5e, 0, 0, 1]));
    expect(r.rxMode() - before).toBe(3);
  });
});

describe('transmit path', () => {
  it('queues in the qdisc while stopped and drains after netif_wake_queue via NET_TX', () => {
    const { q, k } = makeKernel();
    const r = ringDev(k, 4);
    dev_open(r.dev);
    for (let i = 0; i < 10; i++) expect(xmitFrame(r.dev, frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(0);
    expect(r.ring).toHaveLength(4);
    expect(r.dev.qdisc.length).toBe(6);
    r.complete(4);
    expect(r.ring).toHaveLength(0); // the wake only schedules NET_TX
    q.run();
    expect(r.ring).toHaveLength(4);
    r.complete(4);
    q.run();
    expect(r.ring).toHaveLength(2);
    r.complete(2);
    q.run();
    expect(k.accounting().skbsLive).toBe(0);
  });

  it('drops beyond txqueuelen and counts tx_dropped', () => {
    const { k } = makeKernel();
    const r = ringDev(k, 1);
    dev_open(r.dev);
    for (let i = 0; i < 1001; i++) xmitFrame(r.dev, frame([2, 0, 0, 0, 0, 2]));
    expect(r.dev.qdisc.length).toBe(1000);
    expect(xmitFrame(r.dev, frame([2, 0, 0, 0, 0, 2]))).toBe(NET_XMIT_DROP);
    expect(dev_get_stats(r.dev).tx_dropped).toBe(1);
    dev_close(r.dev); // flushes the qdisc
    r.complete(1);
    expect(k.accounting().skbsLive).toBe(0);
  });

  it('NETDEV_TX_BUSY requeues the skb at the head', () => {
    const { q, k } = makeKernel();
    let busy = true;
    const sent: number[] = [];
    const r = ringDev(k, 100, {
      ndo_start_xmit(skb, d) {
        if (busy) {
          netif_stop_queue(d);
          return NETDEV_TX_BUSY;
        }
        sent.push(skb.buf[skb.data + 59]!);
        dev_kfree_skb_any(skb);
        return NETDEV_TX_OK;
      },
    });
    dev_open(r.dev);
    for (let i = 1; i <= 3; i++) {
      const f = frame([2, 0, 0, 0, 0, 2]);
      f[59] = i;
      xmitFrame(r.dev, f);
    }
    expect(r.dev.txBusy).toBe(1);
    busy = false;
    netif_wake_queue(r.dev);
    q.run();
    expect(sent).toEqual([1, 2, 3]);
  });

  it('the TX watchdog calls ndo_tx_timeout when the queue stays stopped', () => {
    const { q, k } = makeKernel();
    let timeouts = 0;
    const r = ringDev(k, 1, { ndo_tx_timeout: () => void timeouts++ });
    dev_open(r.dev);
    xmitFrame(r.dev, frame([2, 0, 0, 0, 0, 2]));
    q.advance(4e9);
    expect(timeouts).toBe(0);
    q.advance(8e9);
    expect(timeouts).toBe(1);
    expect(r.dev.txTimeouts).toBe(1);
    r.complete(1);
    q.advance(20e9);
    expect(timeouts).toBe(1);
    netif_carrier_off(r.dev);
    dev_close(r.dev);
    expect(k.accounting().timersPending).toBe(0);
  });
});

describe('receive path', () => {
  it('NAPI-allocated skbs pass eth_type_trans and reach the RX taps, then are freed', () => {
    const { q, k } = makeKernel();
    const r = ringDev(k, 8);
    const got: { type: number; proto: number; len: number; first: number }[] = [];
    k.net.addRxHandler(r.dev, (skb) => got.push({ type: skb.pkt_type, proto: skb.protocol, len: skb.len, first: skb.buf[skb.data]! }));
    const frames = [frame([...MAC]), frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), frame([2, 9, 9, 9, 9, 9])];
    frames.forEach((f) => (f[14] = 0x45));
    const napi = new NapiStruct();
    netif_napi_add(r.dev, napi, (n, budget) => {
      let work = 0;
      while (work < budget && frames.length > 0) {
        const f = frames.shift()!;
        const skb = napi_alloc_skb(n, f.length)!;
        skb_put_data(skb, f);
        skb.protocol = eth_type_trans(skb, r.dev);
        napi_gro_receive(n, skb);
        work++;
      }
      if (work < budget) napi_complete_done(n, work);
      return work;
    });
    napi_enable(napi);
    dev_open(r.dev);
    napi_schedule(napi);
    q.run();
    expect(got).toEqual([
      { type: PACKET_HOST, proto: ETH_P_IP, len: 46, first: 0x45 },
      { type: PACKET_BROADCAST, proto: ETH_P_IP, len: 46, first: 0x45 },
      { type: PACKET_OTHERHOST, proto: ETH_P_IP, len: 46, first: 0x45 },
    ]);
    expect(k.accounting().skbsLive).toBe(0);
  });
});

describe('sk_buff', () => {
  it('reserve/put/push/pull move data and keep header offsets on the same bytes', () => {
    const { k } = makeKernel();
    const skb = alloc_skb(k, 256)!;
    skb_reserve(skb, 64);
    expect(skb_headroom(skb)).toBe(64);
    const at = skb_put(skb, 40);
    expect(at).toBe(64);
    expect(skb.len).toBe(40);
    skb_set_network_header(skb, 0);
    skb_push(skb, 14);
    expect(skb.len).toBe(54);
    expect(skb_network_offset(skb)).toBe(14);
    expect(skb.dataPhys()).toBe(skb.phys + 50);
    expect(skb.bytes()).toHaveLength(54);
    expect(skb_pull(skb, 14)).toBe(64);
    expect(skb_network_offset(skb)).toBe(0);
    expect(skb_pull(skb, 1000)).toBeNull();
    expect(() => skb_push(skb, 100)).toThrow(/skb_under_panic/);
    expect(() => skb_put(skb, skb_tailroom(skb) + 1)).toThrow(/skb_over_panic/);
    consume_skb(skb);
    expect(() => consume_skb(skb)).toThrow(/double free/);
  });

  it('netdev_alloc_skb_ip_align leaves NET_SKB_PAD + NET_IP_ALIGN headroom in DMA-able RAM', () => {
    const { k } = makeKernel();
    const dev = alloc_etherdev(k, {});
    const skb = netdev_alloc_skb_ip_align(dev, 2048)!;
    expect(skb_headroom(skb)).toBe(66);
    expect(skb_tailroom(skb)).toBeGreaterThanOrEqual(2048);
    expect(k.ram.contains(skb.dataPhys(), 2048)).toBe(true);
    skb.buf[skb.data] = 0xab;
    const back = new Uint8Array(1);
    k.ram.read(skb.dataPhys(), back);
    expect(back[0]).toBe(0xab);
    dev_kfree_skb_any(skb);
  });
});

describe('kmalloc', () => {
  it('reuses freed blocks, aligns, and throws on double free or unknown addresses', () => {
    const { k } = makeKernel();
    const a = kmalloc(k, 100)!;
    expect(a.phys % 64).toBe(0);
    expect(a.buf.length).toBe(100);
    const big = kmalloc(k, 5000)!;
    expect(big.phys % 4096).toBe(0);
    expect(k.accounting().kmallocLive).toBe(2);
    kfree(k, a.phys);
    const b = kmalloc(k, 120)!;
    expect(b.phys).toBe(a.phys); // same 128-byte class, LIFO reuse
    expect(() => kfree(k, a.phys + 64)).toThrow(/not a live allocation/);
    kfree(k, b.phys);
    expect(() => kfree(k, b.phys)).toThrow(/double free/);
    const skb = alloc_skb(k, 64)!;
    expect(() => kfree(k, skb.phys)).toThrow(/matching API/);
    consume_skb(skb);
    kfree(k, big.phys);
    expect(k.accounting().kmallocLive).toBe(0);
    const huge = kmalloc(k, 1 << 20)!;
    expect(huge.phys % 4096).toBe(0);
    kfree(k, huge.phys);
    expect(kmalloc(k, 1 << 20)!.phys).toBe(huge.phys);
    k.faults.alloc = 1;
    expect(kmalloc(k, 10)).toBeNull();
    expect(kmalloc(k, 10)).not.toBeNull();
  });

  it('returns NULL when RAM runs out instead of throwing', () => {
    const { k } = makeKernel(1 << 20);
    let n = 0;
    while (kmalloc(k, 4096) !== null) n++;
    expect(n).toBeGreaterThan(200);
    expect(n).toBeLessThanOrEqual(256);
  });
});
