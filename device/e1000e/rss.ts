// 82574L receive-side scaling: Toeplitz hash, MRQC field selection, RETA queue choice (datasheet §7.1.10).

import {
  REG, MRQC_MRQE_MASK, MRQC_MRQE_RSS, MRQC_RSS_FIELD_IPV4_TCP, MRQC_RSS_FIELD_IPV4, MRQC_RSS_FIELD_IPV6_TCP_EX,
  MRQC_RSS_FIELD_IPV6_EX, MRQC_RSS_FIELD_IPV6, RSS_TYPE_NONE, RSS_TYPE_IPV4_TCP, RSS_TYPE_IPV4, RSS_TYPE_IPV6_TCP_EX,
  RSS_TYPE_IPV6_EX, RSS_TYPE_IPV6, RSS_KEY_BYTES, RETA_ENTRIES, RETA_ENTRY_QUEUE_SHIFT,
  RFCTL_IPV6_EX_DIS, RFCTL_NEW_IPV6_EXT_DIS,
} from './defs.js';

const W = (off: number): number => off >>> 2;
const MRQC = W(REG.MRQC);
const RFCTL = W(REG.RFCTL);
const VET = W(REG.VET);
const RETA0 = W(REG.RETA);
const RSSRK0 = W(REG.RSSRK);

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const IPPROTO_TCP = 6;
const TCP_HDR_MIN = 20;
// IPv6 extension headers the parser walks (QEMU eth_is_ip6_extension_header_type).
const IP6_HOP_BY_HOP = 0;
const IP6_ROUTING = 43;
const IP6_FRAGMENT = 44;
const IP6_AUTH = 51;
const IP6_DEST_OPTS = 60;
const IP6_MOBILITY = 135;
const IP6_OPT_PAD1 = 0;
/** Home Address destination option (RFC 6275 §6.3). */
const IP6_OPT_HOME = 0xc9;

/**
 * The Toeplitz hash of Microsoft RSS over input[0, len): for every set input bit, XOR in the 32 key
 * bits that start at that bit's position (MSB of byte 0 first). Key bits past the key's end count
 * as zero, so a 40-byte key covers the 36-byte IPv6/TCP input. Allocates nothing.
 */
export function toeplitz(key: Uint8Array, input: Uint8Array, len = input.length): number {
  const n = Math.min(len, input.length);
  const kl = key.length;
  // v holds key bits [i, i + 32) while input bit i is looked at.
  let v = ((kl > 0 ? key[0]! : 0) << 24) | ((kl > 1 ? key[1]! : 0) << 16) | ((kl > 2 ? key[2]! : 0) << 8) | (kl > 3 ? key[3]! : 0);
  let h = 0;
  for (let i = 0; i < n; i++) {
    const b = input[i]!;
    const next = i + 4 < kl ? key[i + 4]! : 0;
    for (let bit = 7; bit >= 0; bit--) {
      if ((b >>> bit) & 1) h ^= v;
      v = (v << 1) | ((next >>> bit) & 1);
    }
  }
  return h >>> 0;
}

/** What RSS decided for one frame: the hash, the write-back RSS type, and the RETA queue. */
export interface RssResult {
  /** Toeplitz hash (unsigned 32-bit); 0 when no hash applies. */
  hash: number;
  /** RSS_TYPE_* for the MRQ field of the extended write-back. */
  type: number;
  /** Receive queue (0 or 1) from RETA bit 7. */
  queue: number;
}

/** MRQC.MRQE = 01: multiple receive queues by RSS. */
export function rssEnabled(mac: Uint32Array): boolean {
  return (mac[MRQC]! & MRQC_MRQE_MASK) === MRQC_MRQE_RSS;
}

// Scratch for rssClassify: the key as bytes and the hash input, refilled per frame.
const keyBytes = new Uint8Array(RSS_KEY_BYTES);
const hashIn = new Uint8Array(36);

/**
 * MRQC field selection, hash and RETA lookup, regardless of MRQC.MRQE. Returns false (and zeros
 * in `out`) when no enabled field applies to the frame or the frame cannot be parsed that far.
 * `frame` is wire data starting at the Ethernet header (a tag whose TPID equals VET is skipped);
 * nothing is read past its end.
 *
 * Selection follows QEMU's e1000e_rss_get_hash_type: IPv4 with a TCP header and not a fragment
 * takes TcpIPv4 (addresses and ports), else IPv4 (addresses). IPv6: unless RFCTL.IPV6_EX_DIS is set
 * and the packet has extension headers, or RFCTL.NEW_IPV6_EXT_DIS is set and it carries a home
 * address option or type 2 routing header, TCP (not a fragment) takes TcpIPv6Ex, else IPv6Ex; the Ex
 * hashes use the home address option for the source and the type 2 routing header's address for
 * the destination when present. Otherwise IPv6 (header addresses only).
 */
export function rssClassify(mac: Uint32Array, frame: Uint8Array, out: RssResult): boolean {
  out.hash = 0;
  out.type = RSS_TYPE_NONE;
  out.queue = 0;
  const len = frame.length;
  const mrqc = mac[MRQC]!;
  if (len < 14) return false;
  let l3 = 14;
  let etype = (frame[12]! << 8) | frame[13]!;
  if (etype === (mac[VET]! & 0xffff)) {
    if (len < 18) return false;
    etype = (frame[16]! << 8) | frame[17]!;
    l3 = 18;
  }

  let n = 0;
  let type = RSS_TYPE_NONE;
  if (etype === ETH_P_IP) {
    if (l3 + 20 > len) return false;
    const vihl = frame[l3]!;
    const ihl = (vihl & 0xf) * 4;
    if (vihl >>> 4 !== 4 || ihl < 20) return false;
    const fragment = (((frame[l3 + 6]! << 8) | frame[l3 + 7]!) & 0x3fff) !== 0; // MF or a fragment offset
    const l4 = l3 + ihl;
    const tcp = frame[l3 + 9] === IPPROTO_TCP && !fragment && l4 + TCP_HDR_MIN <= len;
    if (tcp && mrqc & MRQC_RSS_FIELD_IPV4_TCP) type = RSS_TYPE_IPV4_TCP;
    else if (mrqc & MRQC_RSS_FIELD_IPV4) type = RSS_TYPE_IPV4;
    else return false;
    copy(frame, l3 + 12, 8, 0); // source, destination address
    n = 8;
    if (type === RSS_TYPE_IPV4_TCP) {
      copy(frame, l4, 4, 8); // source, destination port
      n = 12;
    }
  } else if (etype === ETH_P_IPV6) {
    if (l3 + 40 > len || frame[l3]! >>> 4 !== 6) return false;
    let next = frame[l3 + 6]!;
    let off = l3 + 40;
    let hasExt = false;
    let fragment = false;
    let exSrc = -1;
    let exDst = -1;
    while (isIp6ExtHeader(next)) {
      hasExt = true;
      if (off + 2 > len) return false; // QEMU: an unparseable IPv6 packet gets no RSS at all
      const hlen = next === IP6_AUTH ? (frame[off + 1]! + 2) * 4 : (frame[off + 1]! + 1) * 8;
      if (next === IP6_ROUTING) {
        // Type 2 routing header (RFC 6275 §6.4): one address, segments left 1, address after 4 reserved bytes.
        if (frame[off + 1] === 2 && off + 24 <= len && frame[off + 2] === 2 && frame[off + 3] === 1) exDst = off + 8;
      } else if (next === IP6_DEST_OPTS) {
        const home = findHomeAddress(frame, off, Math.min(off + hlen, len));
        if (home >= 0) exSrc = home;
      } else if (next === IP6_FRAGMENT) {
        fragment = true;
      }
      next = frame[off]!;
      off += hlen;
    }
    const tcp = next === IPPROTO_TCP && !fragment && off + TCP_HDR_MIN <= len;
    const exAllowed =
      (!(mac[RFCTL]! & RFCTL_IPV6_EX_DIS) || !hasExt) &&
      (!(mac[RFCTL]! & RFCTL_NEW_IPV6_EXT_DIS) || (exSrc < 0 && exDst < 0));
    if (exAllowed && tcp && mrqc & MRQC_RSS_FIELD_IPV6_TCP_EX) type = RSS_TYPE_IPV6_TCP_EX;
    else if (exAllowed && mrqc & MRQC_RSS_FIELD_IPV6_EX) type = RSS_TYPE_IPV6_EX;
    else if (mrqc & MRQC_RSS_FIELD_IPV6) type = RSS_TYPE_IPV6;
    else return false;
    const ex = type !== RSS_TYPE_IPV6;
    copy(frame, ex && exSrc >= 0 ? exSrc : l3 + 8, 16, 0);
    copy(frame, ex && exDst >= 0 ? exDst : l3 + 24, 16, 16);
    n = 32;
    if (type === RSS_TYPE_IPV6_TCP_EX) {
      copy(frame, off, 4, 32);
      n = 36;
    }
  } else {
    return false;
  }

  for (let i = 0; i < RSS_KEY_BYTES; i++) keyBytes[i] = mac[RSSRK0 + (i >>> 2)]! >>> ((i & 3) * 8);
  const hash = toeplitz(keyBytes, hashIn, n);
  const idx = hash & (RETA_ENTRIES - 1);
  const entry = (mac[RETA0 + (idx >>> 2)]! >>> ((idx & 3) * 8)) & 0xff;
  out.hash = hash;
  out.type = type;
  out.queue = entry >>> RETA_ENTRY_QUEUE_SHIFT;
  return true;
}

/**
 * RSS for one received frame, for the rx path: false (and zeros in `out`) when MRQC.MRQE is not 01
 * or no enabled hash field applies; see rssClassify for the selection. Callers decide separately
 * whether the write-back carries it (QEMU also requires RXCSUM.PCSD and extended descriptors).
 */
export function computeRss(mac: Uint32Array, frame: Uint8Array, out: RssResult): boolean {
  if (!rssEnabled(mac)) {
    out.hash = 0;
    out.type = RSS_TYPE_NONE;
    out.queue = 0;
    return false;
  }
  return rssClassify(mac, frame, out);
}

function isIp6ExtHeader(t: number): boolean {
  return t === IP6_HOP_BY_HOP || t === IP6_ROUTING || t === IP6_FRAGMENT || t === IP6_AUTH || t === IP6_DEST_OPTS || t === IP6_MOBILITY;
}

/** Offset of the home address in a destination options header at `hdr` (options end at `end`), or -1. */
function findHomeAddress(frame: Uint8Array, hdr: number, end: number): number {
  let o = hdr + 2;
  while (o + 2 <= end) {
    const t = frame[o]!;
    if (t === IP6_OPT_PAD1) {
      o++;
      continue;
    }
    const olen = frame[o + 1]!;
    if (o + 2 + olen > end) return -1;
    if (t === IP6_OPT_HOME) return olen >= 16 ? o + 2 : -1;
    o += 2 + olen;
  }
  return -1;
}

/** Copies frame[from, from + n) into the hash input at `at`; callers have checked the bounds. */
function copy(frame: Uint8Array, from: number, n: number, at: number): void {
  for (let i = 0; i < n; i++) hashIn[at + i] = frame[from + i]!;
}
