// Socket buffers (struct sk_buff, include/linux/skbuff.h): one linear buffer in simulated RAM so devices can DMA it.

import type { Kernel } from './kernel.js';
import type { NapiStruct } from './napi.js';
import type { NetDevice } from './netdev.js';
import type { PciDev } from './pci.js';
import { AllocKind } from './ram.js';

export const CHECKSUM_NONE = 0;
export const CHECKSUM_UNNECESSARY = 1;
export const CHECKSUM_COMPLETE = 2;
export const CHECKSUM_PARTIAL = 3;

export const SKB_GSO_TCPV4 = 1 << 0;
export const SKB_GSO_TCPV6 = 1 << 4;

export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;

/** Headroom netdev_alloc_skb reserves. */
export const NET_SKB_PAD = 64;
/** Extra headroom so the IP header lands 4-byte aligned after the 14-byte Ethernet header. */
export const NET_IP_ALIGN = 2;

/** The parts of skb_shared_info a driver reads (skb_shinfo(skb) returns the skb itself). */
export interface SkbSharedInfo {
  gso_size: number;
  gso_segs: number;
  gso_type: number;
  readonly nr_frags: number;
}

/**
 * A packet buffer. `buf` is the whole allocation (head is offset 0), `phys` its physical
 * address; `data`/`tail`/`end` are offsets into `buf`. Header positions (mac_header,
 * network_header, transport_header) and csum_start are offsets FROM `data` (so they read the
 * same as skb_network_offset etc.); skb_push/skb_pull/skb_reserve keep them pointing at the
 * same bytes.
 */
export class SkBuff implements SkbSharedInfo {
  data: number;
  tail: number;
  readonly end: number;
  readonly head = 0;
  len = 0;
  /** Always 0: no paged fragments. */
  readonly data_len = 0;
  readonly nr_frags = 0;
  mac_header = 0;
  network_header = 0;
  transport_header = 0;
  /** Where checksumming starts, as an offset from data (CHECKSUM_PARTIAL). */
  csum_start = 0;
  /** Where the checksum goes, relative to csum_start. */
  csum_offset = 0;
  /** CHECKSUM_COMPLETE value. */
  csum = 0;
  ip_summed = CHECKSUM_NONE;
  csum_level = 0;
  /** Ethertype in host order (0x0800 for IPv4). */
  protocol = 0;
  pkt_type = PACKET_HOST;
  priority = 0;
  mark = 0;
  hash = 0;
  gso_size = 0;
  gso_segs = 0;
  gso_type = 0;
  vlan_present = false;
  vlan_tci = 0;
  vlan_proto = 0;
  dev: NetDevice | null = null;
  queue_mapping = 0;
  /** Device the buffer is accounted to (the allocating driver's). */
  owner: PciDev | null = null;
  freed = false;

  constructor(
    readonly kernel: Kernel,
    readonly buf: Uint8Array,
    readonly phys: number,
  ) {
    this.data = 0;
    this.tail = 0;
    this.end = buf.length;
  }

  /** Physical address of the first data byte. */
  dataPhys(): number {
    return this.phys + this.data;
  }

  /** View of data..tail. */
  bytes(): Uint8Array {
    return this.buf.subarray(this.data, this.tail);
  }

  moveData(delta: number): void {
    this.data += delta;
    this.mac_header -= delta;
    this.network_header -= delta;
    this.transport_header -= delta;
    this.csum_start -= delta;
  }
}

function newSkb(kernel: Kernel, size: number): SkBuff | null {
  if (kernel.faults.alloc > 0) {
    kernel.faults.alloc--;
    return null;
  }
  const owner = kernel.ctxOwnerIdx();
  const phys = kernel.mem.alloc(size, AllocKind.Skb, owner);
  if (phys < 0) return null;
  const skb = new SkBuff(kernel, kernel.mem.blockView(phys), phys);
  kernel.globalAcct.skbsLive++;
  const o = kernel.owners[owner] ?? null;
  if (o) {
    o.acct.skbsLive++;
    skb.owner = o;
  }
  return skb;
}

/** Allocates an skb with at least `size` bytes of room and no headroom. NULL on exhaustion. */
export function alloc_skb(kernel: Kernel, size: number, _gfp?: number): SkBuff | null {
  return newSkb(kernel, size);
}

/** An skb for receiving on `dev`, with NET_SKB_PAD headroom. */
export function __netdev_alloc_skb(dev: NetDevice, len: number, _gfp?: number): SkBuff | null {
  const skb = newSkb(dev.kernel, len + NET_SKB_PAD);
  if (skb === null) return null;
  skb_reserve(skb, NET_SKB_PAD);
  skb.dev = dev;
  return skb;
}

/** __netdev_alloc_skb with the default gfp. */
export function netdev_alloc_skb(dev: NetDevice, len: number): SkBuff | null {
  return __netdev_alloc_skb(dev, len);
}

/** An RX skb whose IP header will be aligned: NET_SKB_PAD + NET_IP_ALIGN headroom. */
export function __netdev_alloc_skb_ip_align(dev: NetDevice, len: number, gfp?: number): SkBuff | null {
  const skb = __netdev_alloc_skb(dev, len + NET_IP_ALIGN, gfp);
  if (skb !== null) skb_reserve(skb, NET_IP_ALIGN);
  return skb;
}

/** __netdev_alloc_skb_ip_align with the default gfp. */
export function netdev_alloc_skb_ip_align(dev: NetDevice, len: number): SkBuff | null {
  return __netdev_alloc_skb_ip_align(dev, len);
}

/** An RX skb allocated from NAPI context (aligned like netdev_alloc_skb_ip_align). */
export function napi_alloc_skb(napi: NapiStruct, len: number): SkBuff | null {
  if (napi.dev === null) throw new Error('napi_alloc_skb: napi was never added to a device');
  return __netdev_alloc_skb_ip_align(napi.dev, len);
}

function freeSkb(skb: SkBuff, api: string): void {
  if (skb.freed) throw new Error(`${api}: double free of skb at 0x${skb.phys.toString(16)}`);
  skb.freed = true;
  const k = skb.kernel;
  k.mem.release(skb.phys, AllocKind.Skb, api);
  k.globalAcct.skbsLive--;
  if (skb.owner) skb.owner.acct.skbsLive--;
}

/** Frees an skb that was dropped. Double free throws. */
export function kfree_skb(skb: SkBuff): void {
  freeSkb(skb, 'kfree_skb');
}
/** Frees an skb that was consumed normally. */
export function consume_skb(skb: SkBuff): void {
  freeSkb(skb, 'consume_skb');
}
/** Frees an skb from any context. */
export function dev_kfree_skb_any(skb: SkBuff): void {
  freeSkb(skb, 'dev_kfree_skb_any');
}
/** Frees an skb from IRQ context. */
export function dev_kfree_skb_irq(skb: SkBuff): void {
  freeSkb(skb, 'dev_kfree_skb_irq');
}
/** Frees an skb (process/softirq context). */
export function dev_kfree_skb(skb: SkBuff): void {
  freeSkb(skb, 'dev_kfree_skb');
}
/** Frees a consumed skb from any context. */
export function dev_consume_skb_any(skb: SkBuff): void {
  freeSkb(skb, 'dev_consume_skb_any');
}
/** Frees a transmitted skb from NAPI context. */
export function napi_consume_skb(skb: SkBuff, _budget: number): void {
  freeSkb(skb, 'napi_consume_skb');
}

/** Moves data and tail forward by `len` on an empty buffer, creating headroom. */
export function skb_reserve(skb: SkBuff, len: number): void {
  if (skb.tail + len > skb.end) throw new Error(`skb_reserve: ${len} bytes exceed the buffer`);
  skb.moveData(len);
  skb.tail += len;
}

/** Extends data at the tail by `len`; returns the buf index of the added bytes. Overflow throws (skb_over_panic). */
export function skb_put(skb: SkBuff, len: number): number {
  const at = skb.tail;
  if (len < 0 || at + len > skb.end) {
    throw new Error(`skb_over_panic: put ${len} with tail ${at} end ${skb.end}`);
  }
  skb.tail = at + len;
  skb.len += len;
  return at;
}

/** skb_put and copy `src` in; returns the buf index. */
export function skb_put_data(skb: SkBuff, src: Uint8Array): number {
  const at = skb_put(skb, src.length);
  skb.buf.set(src, at);
  return at;
}

/** skb_put of zeroed bytes. */
export function skb_put_zero(skb: SkBuff, len: number): number {
  const at = skb_put(skb, len);
  skb.buf.fill(0, at, at + len);
  return at;
}

/** Extends data at the head by `len`; returns the new data index. Underflow throws (skb_under_panic). */
export function skb_push(skb: SkBuff, len: number): number {
  if (len < 0 || skb.data - len < 0) {
    throw new Error(`skb_under_panic: push ${len} with headroom ${skb.data}`);
  }
  skb.moveData(-len);
  skb.len += len;
  return skb.data;
}

/** Removes `len` bytes from the head; returns the new data index, or null when len > skb.len. */
export function skb_pull(skb: SkBuff, len: number): number | null {
  if (len < 0 || len > skb.len) return null;
  skb.moveData(len);
  skb.len -= len;
  return skb.data;
}

/** Cuts the buffer down to `len` bytes. */
export function skb_trim(skb: SkBuff, len: number): void {
  if (skb.len > len) {
    skb.len = len;
    skb.tail = skb.data + len;
  }
}

/** Bytes before data. */
export function skb_headroom(skb: SkBuff): number {
  return skb.data;
}
/** Bytes after tail. */
export function skb_tailroom(skb: SkBuff): number {
  return skb.end - skb.tail;
}
/** Bytes in the linear part (all of it here). */
export function skb_headlen(skb: SkBuff): number {
  return skb.len - skb.data_len;
}

/**
 * Pads with zeros to `len` bytes, growing skb.len. On failure (no tailroom) the skb is freed
 * and -ENOMEM returned, as in Linux. 0 on success.
 */
export function skb_put_padto(skb: SkBuff, len: number): number {
  if (skb.len >= len) return 0;
  const pad = len - skb.len;
  if (skb_tailroom(skb) < pad) {
    kfree_skb(skb);
    return -12;
  }
  skb_put_zero(skb, pad);
  return 0;
}

/** Zeroes tailroom up to `len` without changing skb.len (freed + -ENOMEM if it cannot). */
export function skb_padto(skb: SkBuff, len: number): number {
  if (skb.len >= len) return 0;
  if (skb.data + len > skb.end) {
    kfree_skb(skb);
    return -12;
  }
  skb.buf.fill(0, skb.tail, skb.data + len);
  return 0;
}

export function skb_reset_mac_header(skb: SkBuff): void {
  skb.mac_header = 0;
}
export function skb_reset_network_header(skb: SkBuff): void {
  skb.network_header = 0;
}
export function skb_reset_transport_header(skb: SkBuff): void {
  skb.transport_header = 0;
}
/** Marks the network header `offset` bytes after data. */
export function skb_set_network_header(skb: SkBuff, offset: number): void {
  skb.network_header = offset;
}
/** Marks the transport header `offset` bytes after data. */
export function skb_set_transport_header(skb: SkBuff, offset: number): void {
  skb.transport_header = offset;
}
/** Marks the MAC header `offset` bytes after data. */
export function skb_set_mac_header(skb: SkBuff, offset: number): void {
  skb.mac_header = offset;
}
/** Buf index of the MAC header (Linux returns a pointer). */
export function skb_mac_header(skb: SkBuff): number {
  return skb.data + skb.mac_header;
}
/** Buf index of the network header. */
export function skb_network_header(skb: SkBuff): number {
  return skb.data + skb.network_header;
}
/** Buf index of the transport header. */
export function skb_transport_header(skb: SkBuff): number {
  return skb.data + skb.transport_header;
}
/** Buf index of the IPv4 header. */
export const ip_hdr = skb_network_header;
/** Buf index of the IPv6 header. */
export const ipv6_hdr = skb_network_header;
/** Buf index of the TCP header. */
export const tcp_hdr = skb_transport_header;
/** Network header offset from data. */
export function skb_network_offset(skb: SkBuff): number {
  return skb.network_header;
}
/** Transport header offset from data. */
export function skb_transport_offset(skb: SkBuff): number {
  return skb.transport_header;
}
/** Checksum start offset from data. */
export function skb_checksum_start_offset(skb: SkBuff): number {
  return skb.csum_start;
}
/** IPv4 header length from its IHL field. */
export function ip_hdrlen(skb: SkBuff): number {
  return (skb.buf[skb.data + skb.network_header]! & 0x0f) * 4;
}
/** TCP header length from its data-offset field. */
export function tcp_hdrlen(skb: SkBuff): number {
  return (skb.buf[skb.data + skb.transport_header + 12]! >> 4) * 4;
}

/** Requests checksum offload: start is relative to data, off relative to start. */
export function skb_partial_csum_set(skb: SkBuff, start: number, off: number): boolean {
  if (start < 0 || start + off + 2 > skb.len) return false;
  skb.ip_summed = CHECKSUM_PARTIAL;
  skb.csum_start = start;
  skb.csum_offset = off;
  return true;
}

/** The skb itself carries the shared-info fields. */
export function skb_shinfo(skb: SkBuff): SkbSharedInfo {
  return skb;
}
/** True for a TSO skb. */
export function skb_is_gso(skb: SkBuff): boolean {
  return skb.gso_size !== 0;
}
/** True for an IPv6 TSO skb. */
export function skb_is_gso_v6(skb: SkBuff): boolean {
  return (skb.gso_type & SKB_GSO_TCPV6) !== 0;
}

/** Attaches a hardware-accelerated VLAN tag. */
export function __vlan_hwaccel_put_tag(skb: SkBuff, proto: number, tci: number): void {
  skb.vlan_present = true;
  skb.vlan_proto = proto;
  skb.vlan_tci = tci & 0xffff;
}
/** Drops the accelerated VLAN tag. */
export function __vlan_hwaccel_clear_tag(skb: SkBuff): void {
  skb.vlan_present = false;
  skb.vlan_tci = 0;
}
export function skb_vlan_tag_present(skb: SkBuff): boolean {
  return skb.vlan_present;
}
export function skb_vlan_tag_get(skb: SkBuff): number {
  return skb.vlan_tci;
}

/** Records the RX queue (stored as queue + 1, as Linux does). */
export function skb_record_rx_queue(skb: SkBuff, q: number): void {
  skb.queue_mapping = q + 1;
}
export function skb_get_queue_mapping(skb: SkBuff): number {
  return skb.queue_mapping;
}
/** Resets ip_summed to CHECKSUM_NONE. */
export function skb_checksum_none_assert(skb: SkBuff): void {
  skb.ip_summed = CHECKSUM_NONE;
}
