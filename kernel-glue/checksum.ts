// Internet checksum helpers (include/net/checksum.h, net/core/skbuff.c skb_checksum_help).

import { CHECKSUM_NONE, CHECKSUM_PARTIAL, type SkBuff } from './skbuff.js';

/** One's-complement sum of buf[off, off+len) added to `sum` (32-bit, unfolded). */
export function csum_partial(buf: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** Folds to 16 bits and complements. */
export function csum_fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

function be32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

/** IPv4 pseudo-header sum; addresses as 32-bit big-endian values. Returns the unfolded sum. */
export function csum_tcpudp_nofold(saddr: number, daddr: number, len: number, proto: number, sum = 0): number {
  let s = sum + (saddr >>> 16) + (saddr & 0xffff) + (daddr >>> 16) + (daddr & 0xffff) + proto + len;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * Folded, complemented IPv4 pseudo-header checksum. Addresses are 32-bit big-endian values,
 * or pass a buffer and the indices of the two addresses in it (the `iph->saddr` pointer form):
 * `csum_tcpudp_magic(buf, saddrIdx, daddrIdx, len, proto, sum?)`.
 */
export function csum_tcpudp_magic(saddr: number, daddr: number, len: number, proto: number, sum?: number): number;
export function csum_tcpudp_magic(buf: Uint8Array, saddrIdx: number, daddrIdx: number, len: number, proto: number, sum?: number): number;
export function csum_tcpudp_magic(a: number | Uint8Array, b: number, c: number, d: number, e?: number, f?: number): number {
  if (typeof a === 'number') return csum_fold(csum_tcpudp_nofold(a, b, c, d, e ?? 0));
  return csum_fold(csum_tcpudp_nofold(be32(a, b), be32(a, c), d, e!, f ?? 0));
}

/**
 * Folded, complemented IPv6 pseudo-header checksum. Addresses are 16-byte arrays, or a buffer
 * and the indices of the two addresses: `csum_ipv6_magic(buf, saddrIdx, daddrIdx, len, proto, sum?)`.
 */
export function csum_ipv6_magic(saddr: Uint8Array, daddr: Uint8Array, len: number, proto: number, sum?: number): number;
export function csum_ipv6_magic(buf: Uint8Array, saddrIdx: number, daddrIdx: number, len: number, proto: number, sum?: number): number;
export function csum_ipv6_magic(
  a: Uint8Array,
  b: Uint8Array | number,
  c: number,
  d: number,
  e?: number,
  f?: number,
): number {
  let sIdx = 0;
  let dBuf: Uint8Array;
  let dIdx = 0;
  let len: number;
  let proto: number;
  let sum: number;
  if (typeof b === 'number') {
    sIdx = b;
    dBuf = a;
    dIdx = c;
    len = d;
    proto = e!;
    sum = f ?? 0;
  } else {
    dBuf = b;
    len = c;
    proto = d;
    sum = e ?? 0;
  }
  let s = csum_partial(a, sIdx, 16, sum);
  s = csum_partial(dBuf, dIdx, 16, s);
  s += Math.floor(len / 0x10000) + (len & 0xffff) + proto;
  return csum_fold(s);
}

/** Software fallback for CHECKSUM_PARTIAL: computes and stores the checksum, then CHECKSUM_NONE. 0. */
export function skb_checksum_help(skb: SkBuff): number {
  if (skb.ip_summed !== CHECKSUM_PARTIAL) return 0;
  const start = skb.data + skb.csum_start;
  const at = start + skb.csum_offset;
  const b = skb.buf;
  // The field holds the pseudo-header sum the stack seeded, so it is summed as is.
  const c = csum_fold(csum_partial(b, start, skb.tail - start, 0));
  const v = c === 0 ? 0xffff : c;
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
  skb.ip_summed = CHECKSUM_NONE;
  return 0;
}
