// Ethernet helpers (include/linux/etherdevice.h, net/ethernet/eth.c): address tests and eth_type_trans.

import type { NetDevice } from './netdev.js';
import {
  PACKET_BROADCAST,
  PACKET_HOST,
  PACKET_MULTICAST,
  PACKET_OTHERHOST,
  skb_pull,
  skb_put_padto,
  skb_reset_mac_header,
  type SkBuff,
} from './skbuff.js';

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
export const ETH_ZLEN = 60;
export const ETH_DATA_LEN = 1500;
export const ETH_FRAME_LEN = 1514;
export const ETH_FCS_LEN = 4;
export const VLAN_HLEN = 4;
export const VLAN_ETH_HLEN = 18;
/** Ethertypes, host order. */
export const ETH_P_802_3 = 0x0001;
export const ETH_P_802_2 = 0x0004;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021AD = 0x88a8;

/** True for a group (multicast or broadcast) address. */
export function is_multicast_ether_addr(a: Uint8Array): boolean {
  return (a[0]! & 1) === 1;
}
/** True for ff:ff:ff:ff:ff:ff. */
export function is_broadcast_ether_addr(a: Uint8Array): boolean {
  return (a[0]! & a[1]! & a[2]! & a[3]! & a[4]! & a[5]!) === 0xff;
}
/** True for 00:00:00:00:00:00. */
export function is_zero_ether_addr(a: Uint8Array): boolean {
  return (a[0]! | a[1]! | a[2]! | a[3]! | a[4]! | a[5]!) === 0;
}
/** Unicast and non-zero. */
export function is_valid_ether_addr(a: Uint8Array): boolean {
  return !is_multicast_ether_addr(a) && !is_zero_ether_addr(a);
}
/** Byte-wise equality of two addresses. */
export function ether_addr_equal(a: Uint8Array, b: Uint8Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4] && a[5] === b[5];
}
/** Copies 6 bytes. */
export function ether_addr_copy(dst: Uint8Array, src: Uint8Array): void {
  dst.set(src.subarray(0, 6));
}
/** Sets dev_addr (Linux 5.15+ accessor). */
export function eth_hw_addr_set(dev: NetDevice, addr: Uint8Array): void {
  dev.dev_addr.set(addr.subarray(0, 6));
}
/** Formats aa:bb:cc:dd:ee:ff. */
export function formatMac(a: Uint8Array): string {
  return Array.from(a.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Sets skb.dev, records the MAC header, pulls the 14-byte Ethernet header, classifies the
 * destination (pkt_type) against dev_addr and returns the protocol (host-order ethertype,
 * or ETH_P_802_3/ETH_P_802_2 for length fields), which it also stores in skb.protocol.
 */
export function eth_type_trans(skb: SkBuff, dev: NetDevice): number {
  skb.dev = dev;
  skb_reset_mac_header(skb);
  const b = skb.buf;
  const d = skb.data;
  if (skb.len < ETH_HLEN) throw new Error(`eth_type_trans: ${skb.len}-byte frame is shorter than an Ethernet header`);
  if (b[d]! & 1) {
    skb.pkt_type =
      (b[d]! & b[d + 1]! & b[d + 2]! & b[d + 3]! & b[d + 4]! & b[d + 5]!) === 0xff ? PACKET_BROADCAST : PACKET_MULTICAST;
  } else {
    const a = dev.dev_addr;
    skb.pkt_type =
      b[d] === a[0] && b[d + 1] === a[1] && b[d + 2] === a[2] && b[d + 3] === a[3] && b[d + 4] === a[4] && b[d + 5] === a[5]
        ? PACKET_HOST
        : PACKET_OTHERHOST;
  }
  const type = (b[d + 12]! << 8) | b[d + 13]!;
  skb_pull(skb, ETH_HLEN);
  let proto: number;
  if (type >= 0x600) proto = type;
  else if (skb.len >= 2 && b[skb.data] === 0xff && b[skb.data + 1] === 0xff) proto = ETH_P_802_3;
  else proto = ETH_P_802_2;
  skb.protocol = proto;
  return proto;
}

/** Pads a short frame to ETH_ZLEN (freeing it and returning -ENOMEM if it cannot). */
export function eth_skb_pad(skb: SkBuff): number {
  return skb_put_padto(skb, ETH_ZLEN);
}
