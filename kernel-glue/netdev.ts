// Network devices (struct net_device, net/core/dev.c): registration, open/close, queue control, a pfifo qdisc, TX watchdog, RX delivery.

import { HZ, NSEC_PER_JIFFY } from './clock.js';
import { EINVAL, ENETDOWN, ENODEV } from './errno.js';
import type { Kernel } from './kernel.js';
import { netif_napi_del, type NapiStruct } from './napi.js';
import type { PciDev } from './pci.js';
import { Ring } from './ring.js';
import { alloc_skb, consume_skb, kfree_skb, NET_SKB_PAD, skb_put_data, skb_reserve, type SkBuff } from './skbuff.js';
import { NET_TX_SOFTIRQ } from './softirq.js';
import { mod_timer, del_timer, timer_setup, TimerList } from './timer.js';

// dev->flags
export const IFF_UP = 1 << 0;
export const IFF_BROADCAST = 1 << 1;
export const IFF_LOOPBACK = 1 << 3;
export const IFF_PROMISC = 1 << 8;
export const IFF_ALLMULTI = 1 << 9;
export const IFF_MULTICAST = 1 << 12;

// Feature bits. Names are Linux's; the bit positions are ours (kept below 2^31 for cheap bit ops).
export const NETIF_F_SG = 1 << 0;
export const NETIF_F_IP_CSUM = 1 << 1;
export const NETIF_F_HW_CSUM = 1 << 3;
export const NETIF_F_IPV6_CSUM = 1 << 4;
export const NETIF_F_HIGHDMA = 1 << 5;
export const NETIF_F_HW_VLAN_CTAG_TX = 1 << 7;
export const NETIF_F_HW_VLAN_CTAG_RX = 1 << 8;
export const NETIF_F_HW_VLAN_CTAG_FILTER = 1 << 9;
export const NETIF_F_TSO = 1 << 16;
export const NETIF_F_TSO6 = 1 << 19;
export const NETIF_F_RXHASH = 1 << 24;
export const NETIF_F_RXCSUM = 1 << 25;
export const NETIF_F_RXFCS = 1 << 26;
export const NETIF_F_RXALL = 1 << 27;
export const NETIF_F_CSUM_MASK = NETIF_F_IP_CSUM | NETIF_F_HW_CSUM | NETIF_F_IPV6_CSUM;

/** ndo_start_xmit results. */
export const NETDEV_TX_OK = 0x00;
export const NETDEV_TX_BUSY = 0x10;
/** dev_queue_xmit results. */
export const NET_XMIT_SUCCESS = 0x00;
export const NET_XMIT_DROP = 0x01;
/** netif_receive_skb results. */
export const NET_RX_SUCCESS = 0;
export const NET_RX_DROP = 1;

/** Default TX queue length (pfifo limit). */
export const DEFAULT_TX_QUEUE_LEN = 1000;

/** struct rtnl_link_stats64. */
export interface RtnlLinkStats64 {
  rx_packets: number;
  tx_packets: number;
  rx_bytes: number;
  tx_bytes: number;
  rx_errors: number;
  tx_errors: number;
  rx_dropped: number;
  tx_dropped: number;
  multicast: number;
  collisions: number;
  rx_length_errors: number;
  rx_over_errors: number;
  rx_crc_errors: number;
  rx_frame_errors: number;
  rx_fifo_errors: number;
  rx_missed_errors: number;
  tx_aborted_errors: number;
  tx_carrier_errors: number;
  tx_fifo_errors: number;
  tx_heartbeat_errors: number;
  tx_window_errors: number;
  rx_compressed: number;
  tx_compressed: number;
  rx_nohandler: number;
}

/** A zeroed stats block. */
export function newLinkStats(): RtnlLinkStats64 {
  return {
    rx_packets: 0,
    tx_packets: 0,
    rx_bytes: 0,
    tx_bytes: 0,
    rx_errors: 0,
    tx_errors: 0,
    rx_dropped: 0,
    tx_dropped: 0,
    multicast: 0,
    collisions: 0,
    rx_length_errors: 0,
    rx_over_errors: 0,
    rx_crc_errors: 0,
    rx_frame_errors: 0,
    rx_fifo_errors: 0,
    rx_missed_errors: 0,
    tx_aborted_errors: 0,
    tx_carrier_errors: 0,
    tx_fifo_errors: 0,
    tx_heartbeat_errors: 0,
    tx_window_errors: 0,
    rx_compressed: 0,
    tx_compressed: 0,
    rx_nohandler: 0,
  };
}

/** struct net_device_ops (the subset e1000e uses). */
export interface NetDeviceOps {
  ndo_open(dev: NetDevice): number;
  ndo_stop(dev: NetDevice): number;
  ndo_start_xmit(skb: SkBuff, dev: NetDevice): number;
  ndo_set_rx_mode?(dev: NetDevice): void;
  ndo_get_stats64?(dev: NetDevice, stats: RtnlLinkStats64): void;
  ndo_tx_timeout?(dev: NetDevice, txqueue: number): void;
  /** Gets the new address directly (Linux passes a struct sockaddr). */
  ndo_set_mac_address?(dev: NetDevice, addr: Uint8Array): number;
  ndo_change_mtu?(dev: NetDevice, mtu: number): number;
  ndo_set_features?(dev: NetDevice, features: number): number;
  ndo_validate_addr?(dev: NetDevice): number;
  /** Picks the TX queue for an skb (else the flow hash decides). */
  ndo_select_queue?(dev: NetDevice, skb: SkBuff): number;
}

/** An RX tap: sees each skb the stack receives; the skb is freed after all taps ran (copy to keep). */
export type RxHandler = (skb: SkBuff) => void;

/**
 * Byte queue limits of one TX queue (struct dql): what was handed to hardware and what it
 * completed, and (when the device enforces limits) how many bytes may be in flight.
 */
export interface BqlState {
  queuedPackets: number;
  queuedBytes: number;
  completedPackets: number;
  completedBytes: number;
  /** Bytes that may be in flight before the stack stops the queue (__QUEUE_STATE_STACK_XOFF). */
  limit: number;
  /** Bounds the limit moves within (sysfs byte_queue_limits/limit_min, limit_max). */
  limitMin: number;
  limitMax: number;
  /** The queue went over its limit since the last completion. */
  overLimit: boolean;
  /** Smallest excess in flight seen since shrinkStart (bytes that were never needed). */
  lowestSlack: number;
  /** Jiffies when the current slack watch began. */
  shrinkStart: number;
}

/** Largest BQL limit (as Linux's DQL_MAX_LIMIT: a quarter of the 32-bit counter range, near enough). */
export const BQL_LIMIT_MAX = 0x3fffffff;
/** How long a queue must show slack before its limit is lowered (Linux holds it for HZ). */
const BQL_SLACK_HOLD = HZ;

function newBql(): BqlState {
  return { queuedPackets: 0, queuedBytes: 0, completedPackets: 0, completedBytes: 0, limit: 0, limitMin: 0, limitMax: BQL_LIMIT_MAX, overLimit: false, lowestSlack: Infinity, shrinkStart: 0 };
}

/** Per-queue counters of what the stack handed the driver and dropped (the per-queue part of `ip -s`, `ethtool -S`). */
export interface QueueStats {
  packets: number;
  bytes: number;
  dropped: number;
}

/** struct netdev_queue: one TX queue with its own pfifo, stop state and BQL. */
export class NetdevQueue {
  readonly qdisc = new Ring<SkBuff>(1024);
  /** __QUEUE_STATE_DRV_XOFF: the driver stopped it (ring full). */
  stopped = false;
  /** __QUEUE_STATE_STACK_XOFF: BQL stopped it (limit reached). */
  stackStopped = false;
  qdiscRunning = false;
  /** jiffies of this queue's last transmit. */
  trans_start = 0;
  readonly bql: BqlState = newBql();
  readonly stats: QueueStats = { packets: 0, bytes: 0, dropped: 0 };
  constructor(
    readonly dev: NetDevice,
    readonly index: number,
  ) {}
}

/** struct netdev_rx_queue: the per-queue RX counters (skbs delivered with skb_record_rx_queue). */
export class NetdevRxQueue {
  readonly stats: QueueStats = { packets: 0, bytes: 0, dropped: 0 };
  constructor(readonly index: number) {}
}

/** struct net_device with its TX and RX queues (one of each unless allocated with alloc_etherdev_mqs). */
export class NetDevice<P = unknown> {
  name = 'eth%d';
  readonly dev_addr = new Uint8Array(6);
  readonly perm_addr = new Uint8Array(6);
  readonly broadcast = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  addr_len = 6;
  mtu = 1500;
  min_mtu = 68;
  max_mtu = 1500;
  hard_header_len = 14;
  features = 0;
  hw_features = 0;
  vlan_features = 0;
  flags = IFF_BROADCAST | IFF_MULTICAST;
  priv_flags = 0;
  /** Multicast list. */
  mc: Uint8Array[] = [];
  /** Secondary unicast list. */
  uc: Uint8Array[] = [];
  promiscuity = 0;
  allmulti = 0;
  /** TX watchdog period in jiffies. */
  watchdog_timeo = 5 * HZ;
  tx_queue_len = DEFAULT_TX_QUEUE_LEN;
  /** Driver-maintained counters (dev->stats). */
  stats: RtnlLinkStats64 = newLinkStats();
  /** Drops counted by the core (qdisc overflow, down device), added by dev_get_stats. */
  readonly core_stats = { rx_dropped: 0, tx_dropped: 0 };
  netdev_ops: NetDeviceOps | null = null;
  ethtool_ops: unknown = null;
  /** Parent device (SET_NETDEV_DEV). */
  pdev: PciDev | null = null;
  irq = 0;

  registered = false;
  freed = false;
  /** __LINK_STATE_START: set from just before ndo_open until dev_close. */
  running = false;
  /** __LINK_STATE_PRESENT. */
  present = true;
  /** !__LINK_STATE_NOCARRIER. */
  carrier = true;
  /** Allocated queues, and how many are in use (netif_set_real_num_tx_queues/rx_queues). */
  readonly num_tx_queues: number;
  readonly num_rx_queues: number;
  real_num_tx_queues: number;
  real_num_rx_queues: number;
  readonly txq: NetdevQueue[];
  readonly rxq: NetdevRxQueue[];
  /**
   * BQL's dynamic limit stops a queue (STACK_XOFF) once it has that many bytes in flight.
   * Linux always enforces it; here a device created with alloc_etherdev_mqs does, and the
   * single-queue alloc_etherdev keeps BQL to its counters (the e1000e driver and its tests).
   */
  bqlLimits = false;
  /** __QUEUE_STATE_DRV_XOFF of TX queue 0 (netif_stop_queue and friends act on queue 0). */
  get queueStopped(): boolean {
    return this.txq[0]!.stopped;
  }
  set queueStopped(v: boolean) {
    this.txq[0]!.stopped = v;
  }
  /** TX queue 0's pfifo. */
  get qdisc(): Ring<SkBuff> {
    return this.txq[0]!.qdisc;
  }
  get qdiscRunning(): boolean {
    return this.txq[0]!.qdiscRunning;
  }
  set qdiscRunning(v: boolean) {
    this.txq[0]!.qdiscRunning = v;
  }
  /** TX queue 0's BQL. */
  get bql(): BqlState {
    return this.txq[0]!.bql;
  }
  /** jiffies of the last successful transmit on any queue. */
  trans_start = 0;
  /** Times ndo_tx_timeout was called. */
  txTimeouts = 0;
  /** NETDEV_TX_BUSY returns. */
  txBusy = 0;
  txScheduled = false;
  readonly napis = new Set<NapiStruct>();
  readonly rxHandlers: RxHandler[] = [];
  readonly watchdogTimer = new TimerList();

  constructor(
    readonly kernel: Kernel,
    /** Driver-private state (netdev_priv). Writable so a driver can build it after the netdev. */
    public priv: P,
    txqs = 1,
    rxqs = 1,
  ) {
    if (!(Number.isInteger(txqs) && txqs >= 1 && Number.isInteger(rxqs) && rxqs >= 1)) throw new Error(`net_device: ${txqs} TX and ${rxqs} RX queues`);
    this.num_tx_queues = this.real_num_tx_queues = txqs;
    this.num_rx_queues = this.real_num_rx_queues = rxqs;
    this.txq = Array.from({ length: txqs }, (_, i) => new NetdevQueue(this, i));
    this.rxq = Array.from({ length: rxqs }, (_, i) => new NetdevRxQueue(i));
    this.watchdogTimer.internal = true;
    timer_setup(kernel, this.watchdogTimer, () => dev_watchdog(this), 0);
    this.watchdogTimer.owner = null;
  }
}

/** The network core of one kernel: registered devices and RX taps. */
export class NetCore {
  readonly devices: NetDevice[] = [];
  private readonly allRx: RxHandler[] = [];
  /** skbs delivered to the stack. */
  rxDelivered = 0;

  constructor(private readonly kernel: Kernel) {}

  /**
   * Registers an RX tap for `dev` (or for every device when null). Returns a function that
   * removes it. Handlers see skbs after eth_type_trans (data at the network header).
   */
  addRxHandler(dev: NetDevice | null, fn: RxHandler): () => void {
    const list = dev === null ? this.allRx : dev.rxHandlers;
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  deliver(skb: SkBuff): void {
    const dev = skb.dev!;
    this.rxDelivered++;
    const h = dev.rxHandlers;
    for (let i = 0; i < h.length; i++) h[i]!(skb);
    const a = this.allRx;
    for (let i = 0; i < a.length; i++) a[i]!(skb);
  }

  /** Finds a registered device by name. */
  byName(name: string): NetDevice | undefined {
    return this.devices.find((d) => d.name === name);
  }

  /** The kernel this belongs to. */
  get owner(): Kernel {
    return this.kernel;
  }
}

/** Allocates an Ethernet device carrying `priv`. */
export function alloc_etherdev<P>(kernel: Kernel, priv: P): NetDevice<P> {
  return new NetDevice<P>(kernel, priv);
}
/** An Ethernet device with `txqs` TX and `rxqs` RX queues, BQL limits enforced (alloc_etherdev_mqs). */
export function alloc_etherdev_mqs<P>(kernel: Kernel, priv: P, txqs: number, rxqs: number): NetDevice<P> {
  const dev = new NetDevice<P>(kernel, priv, txqs, rxqs);
  dev.bqlLimits = true;
  return dev;
}

/** The same number of TX and RX queues. */
export function alloc_etherdev_mq<P>(kernel: Kernel, priv: P, queues: number): NetDevice<P> {
  return alloc_etherdev_mqs(kernel, priv, queues, queues);
}

/**
 * Queues in use for TX (1..num_tx_queues). Queues beyond the new count are stopped and their
 * backlog dropped (qdisc_reset_all_tx_gt). 0 or -EINVAL.
 */
export function netif_set_real_num_tx_queues(dev: NetDevice, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > dev.num_tx_queues) return -EINVAL;
  for (let i = n; i < dev.real_num_tx_queues; i++) {
    const q = dev.txq[i]!;
    while (q.qdisc.length > 0) {
      kfree_skb(q.qdisc.shift()!);
      q.stats.dropped++;
      dev.core_stats.tx_dropped++;
    }
  }
  dev.real_num_tx_queues = n;
  return 0;
}

/** Queues in use for RX (1..num_rx_queues). 0 or -EINVAL. */
export function netif_set_real_num_rx_queues(dev: NetDevice, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > dev.num_rx_queues) return -EINVAL;
  dev.real_num_rx_queues = n;
  return 0;
}

export function netdev_get_tx_queue(dev: NetDevice, i: number): NetdevQueue {
  const q = dev.txq[i];
  if (!q) throw new Error(`netdev_get_tx_queue: ${dev.name} has no TX queue ${i}`);
  return q;
}

/** Allows transmission on one queue (no qdisc kick). */
export function netif_tx_start_queue(q: NetdevQueue): void {
  q.stopped = false;
}
/** Stops one queue: its pfifo holds packets until it is woken. */
export function netif_tx_stop_queue(q: NetdevQueue): void {
  q.stopped = true;
}
/** Restarts one stopped queue and schedules NET_TX. */
export function netif_tx_wake_queue(q: NetdevQueue): void {
  if (q.stopped) {
    q.stopped = false;
    __netif_schedule(q.dev);
  }
}
/** The driver stopped it. */
export function netif_tx_queue_stopped(q: NetdevQueue): boolean {
  return q.stopped;
}
/** The driver or BQL stopped it: the qdisc hands it nothing (netif_xmit_stopped). */
export function netif_xmit_stopped(q: NetdevQueue): boolean {
  return q.stopped || q.stackStopped;
}
export function netif_stop_subqueue(dev: NetDevice, i: number): void {
  netif_tx_stop_queue(netdev_get_tx_queue(dev, i));
}
export function netif_wake_subqueue(dev: NetDevice, i: number): void {
  netif_tx_wake_queue(netdev_get_tx_queue(dev, i));
}
export function netif_start_subqueue(dev: NetDevice, i: number): void {
  netif_tx_start_queue(netdev_get_tx_queue(dev, i));
}
export function __netif_subqueue_stopped(dev: NetDevice, i: number): boolean {
  return netif_tx_queue_stopped(netdev_get_tx_queue(dev, i));
}

/** The driver-private state. */
export function netdev_priv<P>(dev: NetDevice<P>): P {
  return dev.priv;
}

/** Sets the parent device resources are attributed to. */
export function SET_NETDEV_DEV(dev: NetDevice, pdev: PciDev): void {
  dev.pdev = pdev;
}

function callCtx<T>(dev: NetDevice, fn: () => T): T {
  const k = dev.kernel;
  const prev = k.ctx;
  k.ctx = dev.pdev;
  try {
    return fn();
  } finally {
    k.ctx = prev;
  }
}

/** Makes the device visible, naming it ethN (lowest free N). 0 or -errno. */
export function register_netdev(dev: NetDevice): number {
  if (dev.registered || dev.freed) return -EINVAL;
  if (dev.netdev_ops === null) return -EINVAL;
  const net = dev.kernel.net;
  if (dev.name.includes('%d')) {
    let n = 0;
    while (net.devices.some((d) => d.name === dev.name.replace('%d', String(n)))) n++;
    dev.name = dev.name.replace('%d', String(n));
  } else if (net.byName(dev.name)) return -17; // -EEXIST
  for (const n of dev.napis) n.name = n.name.replace(/^[^/]*/, dev.name);
  dev.registered = true;
  dev.present = true;
  net.devices.push(dev);
  return 0;
}

/** Closes (if up) and unregisters. */
export function unregister_netdev(dev: NetDevice): void {
  if (!dev.registered) throw new Error(`unregister_netdev: ${dev.name} is not registered`);
  dev_close(dev);
  const list = dev.kernel.net.devices;
  list.splice(list.indexOf(dev), 1);
  dev.registered = false;
  dev.name = 'eth%d';
}

/** Releases the device and any napis still added. It must be unregistered. */
export function free_netdev(dev: NetDevice): void {
  if (dev.registered) throw new Error(`free_netdev: ${dev.name} is still registered`);
  if (dev.freed) throw new Error('free_netdev: double free');
  for (const n of [...dev.napis]) netif_napi_del(n);
  dev.freed = true;
}

/** Brings the device up: ndo_open, IFF_UP, rx mode, TX watchdog. 0 or -errno. */
export function dev_open(dev: NetDevice): number {
  if (!dev.registered) return -ENODEV;
  if (dev.flags & IFF_UP) return 0;
  if (!dev.present) return -ENODEV;
  dev.running = true;
  const rc = callCtx(dev, () => dev.netdev_ops!.ndo_open(dev));
  if (rc !== 0) {
    dev.running = false;
    return rc;
  }
  dev.flags |= IFF_UP;
  dev_set_rx_mode(dev);
  if (dev.carrier) dev_watchdog_up(dev);
  return 0;
}

/** Takes the device down: stops the watchdog, flushes the qdisc, calls ndo_stop, clears IFF_UP. */
export function dev_close(dev: NetDevice): void {
  if (!(dev.flags & IFF_UP)) return;
  dev.running = false;
  del_timer(dev.watchdogTimer);
  qdisc_reset(dev);
  callCtx(dev, () => dev.netdev_ops!.ndo_stop(dev));
  dev.flags &= ~IFF_UP;
}

function qdisc_reset(dev: NetDevice): void {
  for (const q of dev.txq) for (let skb = q.qdisc.shift(); skb !== undefined; skb = q.qdisc.shift()) kfree_skb(skb);
}

/** Calls ndo_set_rx_mode when the device is up. */
export function dev_set_rx_mode(dev: NetDevice): void {
  if (!(dev.flags & IFF_UP) && !dev.running) return;
  const op = dev.netdev_ops?.ndo_set_rx_mode;
  if (op) callCtx(dev, () => op(dev));
}

/** True between the start of dev_open and dev_close (__LINK_STATE_START). */
export function netif_running(dev: NetDevice): boolean {
  return dev.running;
}

/** Allows transmission on queue 0 (no qdisc kick). */
export function netif_start_queue(dev: NetDevice): void {
  dev.queueStopped = false;
}
export function netif_tx_start_all_queues(dev: NetDevice): void {
  for (const q of dev.txq) q.stopped = false;
}

/** Stops transmission on queue 0: its qdisc holds packets until netif_wake_queue. */
export function netif_stop_queue(dev: NetDevice): void {
  dev.queueStopped = true;
}
export function netif_tx_stop_all_queues(dev: NetDevice): void {
  for (const q of dev.txq) q.stopped = true;
}
/** Stops every queue (used on the way down). */
export const netif_tx_disable = netif_tx_stop_all_queues;

/** Restarts queue 0 if stopped and schedules NET_TX so queued packets go out. */
export function netif_wake_queue(dev: NetDevice): void {
  netif_tx_wake_queue(dev.txq[0]!);
}
export function netif_tx_wake_all_queues(dev: NetDevice): void {
  for (const q of dev.txq) netif_tx_wake_queue(q);
}

/** True while queue 0 is stopped. */
export function netif_queue_stopped(dev: NetDevice): boolean {
  return dev.queueStopped;
}

/** Queues the device's qdisc to run from NET_TX. */
export function __netif_schedule(dev: NetDevice): void {
  if (dev.txScheduled) return;
  dev.txScheduled = true;
  const s = dev.kernel.softirq;
  s.outputQueue.push(dev);
  s.raise(NET_TX_SOFTIRQ);
}

/** Link up: starts the TX watchdog if running. */
export function netif_carrier_on(dev: NetDevice): void {
  if (dev.carrier) return;
  dev.carrier = true;
  if (dev.running) dev_watchdog_up(dev);
  // dev_activate: the real qdisc is back; anything waiting in it gets a run.
  if (dev.txq.some((q) => q.qdisc.length > 0)) __netif_schedule(dev);
  const t = dev.kernel.trace;
  if (t.enabled('net_carrier')) t.emit('net_carrier', { dev: dev.name, up: true });
}

/** Link down. */
export function netif_carrier_off(dev: NetDevice): void {
  if (!dev.carrier) return;
  dev.carrier = false;
  // linkwatch -> dev_deactivate -> qdisc_reset: what was queued for a dead link is dropped.
  for (const q of dev.txq) {
    while (q.qdisc.length > 0) {
      kfree_skb(q.qdisc.shift()!);
      q.stats.dropped++;
      dev.core_stats.tx_dropped++;
    }
  }
  const t = dev.kernel.trace;
  if (t.enabled('net_carrier')) t.emit('net_carrier', { dev: dev.name, up: false });
}

/** True while the link is up. */
export function netif_carrier_ok(dev: NetDevice): boolean {
  return dev.carrier;
}

/** True unless detached. */
export function netif_device_present(dev: NetDevice): boolean {
  return dev.present;
}

/** Marks the device gone (suspend, reset): stops the queue if running. */
export function netif_device_detach(dev: NetDevice): void {
  if (!dev.present) return;
  dev.present = false;
  if (dev.running) netif_tx_stop_all_queues(dev);
}

/** Marks the device back: wakes the queue and the watchdog if running. */
export function netif_device_attach(dev: NetDevice): void {
  if (dev.present) return;
  dev.present = true;
  if (dev.running) {
    netif_tx_wake_all_queues(dev);
    if (dev.carrier) dev_watchdog_up(dev);
  }
}

/** Stamps the last transmit time (quiets the watchdog). */
export function netif_trans_update(dev: NetDevice): void {
  dev.trans_start = dev.kernel.jiffies;
}

/**
 * BQL: `bytes` handed to the hardware on queue `q`. With limits on, a queue whose bytes in
 * flight pass its limit is stopped by the stack (STACK_XOFF) until completions bring it under.
 */
export function netdev_tx_sent_queue(q: NetdevQueue, bytes: number): void {
  const b = q.bql;
  b.queuedPackets++;
  b.queuedBytes += bytes;
  if (!q.dev.bqlLimits) return;
  if (b.queuedBytes - b.completedBytes > b.limit) {
    b.overLimit = true;
    q.stackStopped = true;
  }
}

/**
 * BQL: the hardware completed `pkts` packets of `bytes` on queue `q`. Completing more than was
 * sent is a driver bug and throws. With limits on, the limit adapts, in our own rule after
 * Linux's dynamic queue limits: a queue that was held back by its limit and then ran dry was
 * starved, so the limit grows by what just completed; a queue that kept more in flight than it
 * needed for a whole second shrinks by the least it had to spare. A stopped queue restarts once
 * under its limit.
 */
export function netdev_tx_completed_queue(q: NetdevQueue, pkts: number, bytes: number): void {
  const b = q.bql;
  if (b.completedBytes + bytes > b.queuedBytes || b.completedPackets + pkts > b.queuedPackets) {
    throw new Error(`netdev_completed_queue: ${q.dev.name} queue ${q.index} completed more than was sent`);
  }
  b.completedPackets += pkts;
  b.completedBytes += bytes;
  const dev = q.dev;
  if (!dev.bqlLimits || bytes === 0) return;
  const inFlight = b.queuedBytes - b.completedBytes;
  const now = dev.kernel.jiffies;
  if (b.overLimit && inFlight === 0) {
    b.limit += bytes;
    b.lowestSlack = Infinity;
    b.shrinkStart = now;
  } else if (inFlight > 0) {
    // Bytes still queued after this completion beyond twice what completed: more than needed.
    const slack = Math.max(0, inFlight - 2 * bytes);
    if (slack < b.lowestSlack) b.lowestSlack = slack;
    if (now - b.shrinkStart > BQL_SLACK_HOLD) {
      b.limit = Math.max(0, b.limit - b.lowestSlack);
      b.lowestSlack = Infinity;
      b.shrinkStart = now;
    }
  }
  b.limit = Math.min(b.limitMax, Math.max(b.limitMin, b.limit));
  b.overLimit = false;
  if (q.stackStopped && inFlight <= b.limit) {
    q.stackStopped = false;
    __netif_schedule(dev);
  }
}

/** BQL: forget in-flight accounting (ring reset); the limit stays. */
export function netdev_tx_reset_queue(q: NetdevQueue): void {
  const b = q.bql;
  b.queuedPackets = b.queuedBytes = b.completedPackets = b.completedBytes = 0;
  b.overLimit = false;
  q.stackStopped = false;
}

/** Queue-0 forms (single-queue drivers). */
export function netdev_sent_queue(dev: NetDevice, bytes: number): void {
  netdev_tx_sent_queue(dev.txq[0]!, bytes);
}
export function netdev_completed_queue(dev: NetDevice, pkts: number, bytes: number): void {
  netdev_tx_completed_queue(dev.txq[0]!, pkts, bytes);
}
export function netdev_reset_queue(dev: NetDevice): void {
  netdev_tx_reset_queue(dev.txq[0]!);
}

function dev_watchdog_up(dev: NetDevice): void {
  if (dev.watchdog_timeo <= 0 || !dev.netdev_ops?.ndo_tx_timeout) return;
  if (dev.watchdogTimer.handle === null) mod_timer(dev.watchdogTimer, dev.kernel.jiffies + dev.watchdog_timeo);
}

/** dev_watchdog: a queue stopped for longer than watchdog_timeo since the last transmit means a hang. */
function dev_watchdog(dev: NetDevice): void {
  if (!(dev.present && dev.running && dev.carrier)) return;
  const now = dev.kernel.jiffies;
  // The first queue the driver has kept stopped past the timeout since its last transmit.
  const hung = dev.txq.find((q, i) => i < dev.real_num_tx_queues && q.stopped && now > Math.max(q.trans_start, i === 0 ? dev.trans_start : 0) + dev.watchdog_timeo);
  if (hung) {
    dev.txTimeouts++;
    dev.kernel.printk('err', `NETDEV WATCHDOG: ${dev.name}: transmit queue ${hung.index} timed out`);
    const t = dev.kernel.trace;
    if (t.enabled('net_tx_timeout')) t.emit('net_tx_timeout', { dev: dev.name, queue: hung.index });
    dev.trans_start = now;
    hung.trans_start = now;
    callCtx(dev, () => dev.netdev_ops!.ndo_tx_timeout!(dev, hung.index));
  }
  if (dev.running && dev.carrier && dev.watchdogTimer.handle === null) {
    mod_timer(dev.watchdogTimer, now + dev.watchdog_timeo);
  }
}

/**
 * Runs the qdisc: hands queued skbs to ndo_start_xmit until the queue stops, it empties, or
 * dev_tx_weight packets went (then NET_TX is rescheduled). NETDEV_TX_BUSY requeues at the head.
 */
/** Set while ndo_start_xmit runs: whether the qdisc will hand over another skb right after this one. */
let xmitMore = false;

/**
 * netdev_xmit_more(): true when the stack is about to send another packet in this batch, so a
 * driver may defer its doorbell (tail register write) to the last one.
 */
export function netdev_xmit_more(): boolean {
  return xmitMore;
}

/** Runs every TX queue in use that has a backlog (NET_TX, or a wake-up). */
export function qdisc_run(dev: NetDevice): void {
  for (let i = 0; i < dev.real_num_tx_queues; i++) {
    const q = dev.txq[i]!;
    if (q.qdisc.length > 0) qdisc_run_queue(q);
  }
}

/**
 * Runs one queue's pfifo: hands skbs to ndo_start_xmit until the queue stops (driver or BQL),
 * it empties, or dev_tx_weight packets went (then NET_TX is rescheduled). NETDEV_TX_BUSY
 * requeues at the head.
 */
export function qdisc_run_queue(txq: NetdevQueue): void {
  const dev = txq.dev;
  if (txq.qdiscRunning) return;
  const k = dev.kernel;
  const q = txq.qdisc;
  txq.qdiscRunning = true;
  const prev = k.ctx;
  k.ctx = dev.pdev;
  try {
    let quota = k.dev_tx_weight;
    while (!txq.stopped && !txq.stackStopped && q.length > 0 && dev.running && dev.present) {
      if (quota-- <= 0) {
        __netif_schedule(dev);
        break;
      }
      const skb = q.shift()!;
      xmitMore = q.length > 0 && quota > 0;
      const len = skb.len;
      let rc: number;
      try {
        rc = dev.netdev_ops!.ndo_start_xmit(skb, dev);
      } finally {
        xmitMore = false;
      }
      if (rc === NETDEV_TX_BUSY) {
        q.unshift(skb);
        dev.txBusy++;
        if (!txq.stopped) __netif_schedule(dev);
        break;
      }
      txq.stats.packets++;
      txq.stats.bytes += len;
      const j = Math.floor(k.clock.now() / NSEC_PER_JIFFY);
      txq.trans_start = j;
      if (txq.index === 0) dev.trans_start = j;
    }
  } finally {
    k.ctx = prev;
    txq.qdiscRunning = false;
  }
}

/**
 * The TX queue for `skb` (netdev_pick_tx): the driver's ndo_select_queue if it has one, else
 * the flow hash scaled to the queues in use, so one flow always takes one queue.
 */
export function netdev_pick_tx(dev: NetDevice, skb: SkBuff): number {
  const n = dev.real_num_tx_queues;
  if (n === 1) return 0;
  const sel = dev.netdev_ops?.ndo_select_queue;
  if (sel) {
    const i = sel(dev, skb);
    return Number.isInteger(i) && i >= 0 && i < n ? i : 0;
  }
  return reciprocal_scale(skb_get_hash(skb), n);
}

/** (val * n) >> 32: a 32-bit hash to 0..n-1 without a division. */
export function reciprocal_scale(val: number, n: number): number {
  return Math.floor(((val >>> 0) * n) / 0x100000000);
}

/**
 * The skb's flow hash (skb_get_hash): computed once from the flow's addresses, protocol and
 * ports (TCP, UDP, SCTP, DCCP, UDP-Lite; not for a later fragment), else the Ethernet
 * addresses. Our own mix of the words (not Linux's siphash with a boot-time key): stable per
 * flow, spread across queues, never 0.
 */
export function skb_get_hash(skb: SkBuff): number {
  if (skb.hash !== 0) return skb.hash;
  const d = skb.bytes();
  const words: number[] = [];
  let l3 = 14;
  let et = d.length >= 14 ? (d[12]! << 8) | d[13]! : 0;
  if (et === 0x8100 && d.length >= 18) {
    et = (d[16]! << 8) | d[17]!;
    l3 = 18;
  }
  const u32 = (o: number) => ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;
  let proto = -1;
  let l4 = -1;
  if (et === 0x0800 && d.length >= l3 + 20 && d[l3]! >>> 4 === 4) {
    words.push(u32(l3 + 12), u32(l3 + 16));
    proto = d[l3 + 9]!;
    const fragOff = ((d[l3 + 6]! << 8) | d[l3 + 7]!) & 0x1fff;
    if (fragOff === 0) l4 = l3 + (d[l3]! & 0xf) * 4;
  } else if (et === 0x86dd && d.length >= l3 + 40 && d[l3]! >>> 4 === 6) {
    for (let o = l3 + 8; o < l3 + 40; o += 4) words.push(u32(o));
    proto = d[l3 + 6]!;
    l4 = l3 + 40;
  } else if (d.length >= 12) {
    words.push(u32(0), u32(4), u32(8));
  }
  if (proto >= 0) words.push(proto);
  if (l4 >= 0 && (proto === 6 || proto === 17 || proto === 132 || proto === 33 || proto === 136) && d.length >= l4 + 4) words.push(u32(l4));
  let h = 0x9747b28c ^ words.length;
  for (const w of words) {
    let k1 = Math.imul(w, 0xcc9e2d51);
    k1 = (k1 << 15) | (k1 >>> 17);
    h ^= Math.imul(k1, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  skb.hash = h >>> 0 || 1;
  return skb.hash;
}

/**
 * Queues `skb` for transmission on skb.dev through a pfifo of tx_queue_len and runs the qdisc.
 * NET_XMIT_SUCCESS, NET_XMIT_DROP (queue full) or -ENETDOWN; the skb is consumed either way.
 */
export function dev_queue_xmit(skb: SkBuff): number {
  const dev = skb.dev;
  if (dev === null) throw new Error('dev_queue_xmit: skb has no device');
  if (!(dev.flags & IFF_UP) || !dev.present) {
    dev.core_stats.tx_dropped++;
    kfree_skb(skb);
    return -ENETDOWN;
  }
  if (!dev.carrier) {
    // No carrier: the noop qdisc linkwatch installed drops everything.
    dev.core_stats.tx_dropped++;
    kfree_skb(skb);
    return NET_XMIT_DROP;
  }
  const qi = netdev_pick_tx(dev, skb);
  skb.queue_mapping = qi;
  const txq = dev.txq[qi]!;
  if (txq.qdisc.length >= dev.tx_queue_len) {
    dev.core_stats.tx_dropped++;
    txq.stats.dropped++;
    kfree_skb(skb);
    // As in __dev_xmit_skb, the qdisc still runs: a full queue must not also be a stuck one.
    qdisc_run_queue(txq);
    return NET_XMIT_DROP;
  }
  txq.qdisc.push(skb);
  qdisc_run_queue(txq);
  return NET_XMIT_SUCCESS;
}

/** Delivers a received skb to the RX taps, then frees it. Returns NET_RX_SUCCESS or NET_RX_DROP. */
export function netif_receive_skb(skb: SkBuff): number {
  const dev = skb.dev;
  if (dev === null) throw new Error('netif_receive_skb: skb has no device');
  if (!(dev.flags & IFF_UP)) {
    dev.core_stats.rx_dropped++;
    kfree_skb(skb);
    return NET_RX_DROP;
  }
  // Per-queue RX counters: the queue skb_record_rx_queue noted (stored as queue + 1).
  const rq = dev.rxq[skb.queue_mapping > 0 ? skb.queue_mapping - 1 : 0];
  if (rq) {
    rq.stats.packets++;
    rq.stats.bytes += skb.len;
  }
  try {
    dev.kernel.net.deliver(skb);
  } finally {
    consume_skb(skb);
  }
  return NET_RX_SUCCESS;
}
/** Same as netif_receive_skb (no backlog queue). */
export const netif_rx = netif_receive_skb;

/** Stats for userspace: ndo_get_stats64 (or dev.stats) plus core drops. */
export function dev_get_stats(dev: NetDevice): RtnlLinkStats64 {
  let s: RtnlLinkStats64;
  const op = dev.netdev_ops?.ndo_get_stats64;
  if (op) {
    s = newLinkStats();
    op(dev, s);
  } else s = { ...dev.stats };
  s.rx_dropped += dev.core_stats.rx_dropped;
  s.tx_dropped += dev.core_stats.tx_dropped;
  return s;
}

function addrIndex(list: Uint8Array[], addr: Uint8Array): number {
  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    if (a[0] === addr[0] && a[1] === addr[1] && a[2] === addr[2] && a[3] === addr[3] && a[4] === addr[4] && a[5] === addr[5]) return i;
  }
  return -1;
}

/** Adds a multicast address (once) and updates the rx mode. 0. */
export function dev_mc_add(dev: NetDevice, addr: Uint8Array): number {
  if (addrIndex(dev.mc, addr) < 0) {
    dev.mc.push(Uint8Array.from(addr.subarray(0, 6)));
    dev_set_rx_mode(dev);
  }
  return 0;
}
/** Removes a multicast address. 0 or -ENOENT. */
export function dev_mc_del(dev: NetDevice, addr: Uint8Array): number {
  const i = addrIndex(dev.mc, addr);
  if (i < 0) return -2;
  dev.mc.splice(i, 1);
  dev_set_rx_mode(dev);
  return 0;
}
/** Adds a secondary unicast address. */
export function dev_uc_add(dev: NetDevice, addr: Uint8Array): number {
  if (addrIndex(dev.uc, addr) < 0) {
    dev.uc.push(Uint8Array.from(addr.subarray(0, 6)));
    dev_set_rx_mode(dev);
  }
  return 0;
}
/** Removes a secondary unicast address. */
export function dev_uc_del(dev: NetDevice, addr: Uint8Array): number {
  const i = addrIndex(dev.uc, addr);
  if (i < 0) return -2;
  dev.uc.splice(i, 1);
  dev_set_rx_mode(dev);
  return 0;
}
export function netdev_mc_count(dev: NetDevice): number {
  return dev.mc.length;
}
export function netdev_mc_empty(dev: NetDevice): boolean {
  return dev.mc.length === 0;
}
export function netdev_uc_count(dev: NetDevice): number {
  return dev.uc.length;
}

/** Adjusts the promiscuity count; IFF_PROMISC follows it. 0. */
export function dev_set_promiscuity(dev: NetDevice, inc: number): number {
  dev.promiscuity = Math.max(0, dev.promiscuity + inc);
  const was = dev.flags;
  dev.flags = dev.promiscuity > 0 ? dev.flags | IFF_PROMISC : dev.flags & ~IFF_PROMISC;
  if (was !== dev.flags) dev_set_rx_mode(dev);
  return 0;
}

/** Adjusts the allmulti count; IFF_ALLMULTI follows it. 0. */
export function dev_set_allmulti(dev: NetDevice, inc: number): number {
  dev.allmulti = Math.max(0, dev.allmulti + inc);
  const was = dev.flags;
  dev.flags = dev.allmulti > 0 ? dev.flags | IFF_ALLMULTI : dev.flags & ~IFF_ALLMULTI;
  if (was !== dev.flags) dev_set_rx_mode(dev);
  return 0;
}

/** Changes the MTU through ndo_change_mtu (or directly). 0 or -errno. */
export function dev_set_mtu(dev: NetDevice, mtu: number): number {
  if (mtu < dev.min_mtu || mtu > dev.max_mtu) return -EINVAL;
  const op = dev.netdev_ops?.ndo_change_mtu;
  if (op) return callCtx(dev, () => op(dev, mtu));
  dev.mtu = mtu;
  return 0;
}

/** Changes the MAC address through ndo_set_mac_address (or directly). 0 or -errno. */
export function dev_set_mac_address(dev: NetDevice, addr: Uint8Array): number {
  const op = dev.netdev_ops?.ndo_set_mac_address;
  if (op) return callCtx(dev, () => op(dev, addr));
  dev.dev_addr.set(addr.subarray(0, 6));
  return 0;
}

/** No locking is needed with one thread; kept so driver code reads like Linux. */
export function rtnl_lock(): void {}
export function rtnl_unlock(): void {}

/** Logs through the kernel log with the device name. */
export function netdev_err(dev: NetDevice, msg: string): void {
  dev.kernel.printk('err', `${dev.name}: ${msg}`);
}
export function netdev_warn(dev: NetDevice, msg: string): void {
  dev.kernel.printk('warn', `${dev.name}: ${msg}`);
}
export function netdev_info(dev: NetDevice, msg: string): void {
  dev.kernel.printk('info', `${dev.name}: ${msg}`);
}
export function netdev_dbg(dev: NetDevice, msg: string): void {
  dev.kernel.printk('debug', `${dev.name}: ${msg}`);
}

/**
 * Test and benchmark helper (not Linux): copies an Ethernet frame into a fresh skb with
 * NET_SKB_PAD headroom, sets dev/protocol/network header and dev_queue_xmit()s it.
 * Returns dev_queue_xmit's result, or -ENOMEM (-12) when no skb could be allocated.
 */
export function xmitFrame(dev: NetDevice, frame: Uint8Array): number {
  const skb = alloc_skb(dev.kernel, frame.length + NET_SKB_PAD);
  if (skb === null) return -12;
  skb_reserve(skb, NET_SKB_PAD);
  skb_put_data(skb, frame);
  skb.dev = dev;
  skb.protocol = frame.length >= 14 ? (frame[12]! << 8) | frame[13]! : 0;
  skb.network_header = 14;
  return dev_queue_xmit(skb);
}

// netdevice.h also declares the NAPI API and drivers get eth_type_trans from it via
// etherdevice.h; re-exported so `import ... from 'kernel-glue/netdev.js'` reads like the includes.
export {
  NapiStruct,
  NAPI_POLL_WEIGHT,
  netif_napi_add,
  netif_napi_add_weight,
  netif_napi_del,
  napi_enable,
  napi_disable,
  napi_schedule,
  napi_schedule_irqoff,
  napi_schedule_prep,
  __napi_schedule,
  __napi_schedule_irqoff,
  napi_complete,
  napi_complete_done,
  napi_gro_receive,
  napi_gro_flush,
  type NapiPoll,
} from './napi.js';
export { eth_type_trans, eth_hw_addr_set, is_valid_ether_addr } from './etherdevice.js';
