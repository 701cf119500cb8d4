// 82574L transmit offloads: checksum insertion, TCP segmentation and VLAN insertion (datasheet §7.2.4-7.2.6).

/** Context fields a context descriptor loads (datasheet §7.2.10.2). */
export interface TxContext {
  ipcss: number;
  ipcso: number;
  ipcse: number;
  tucss: number;
  tucso: number;
  tucse: number;
  paylen: number;
  /** TUCMD.IP: IPv4 (set) or IPv6 (clear) for TSO header fix-ups. */
  ipv4: boolean;
  /** TUCMD.TCP: TCP (set) or UDP (clear). */
  tcp: boolean;
  hdrlen: number;
  mss: number;
}

export function emptyContext(): TxContext {
  return { ipcss: 0, ipcso: 0, ipcse: 0, tucss: 0, tucso: 0, tucse: 0, paylen: 0, ipv4: false, tcp: false, hdrlen: 0, mss: 0 };
}

/** Unfolded 16-bit big-endian one's-complement sum of buf[start, end), added to `init`. */
export function onesSum(buf: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  let i = start;
  if (end - start >= 64) {
    // Four bytes at a time: a 32-bit word hi:lo is congruent to hi + lo modulo 0xffff, so the
    // folded sum is the same; a frame's worth stays far below 2^53.
    let a = buf.byteOffset + i;
    if ((a & 1) === 0) {
      if (a & 2) {
        s += (buf[i]! << 8) | buf[i + 1]!;
        i += 2;
        a += 2;
      }
      // Aligned native (little-endian) words: the one's-complement sum of byte-swapped words
      // is the byte-swapped sum (RFC 1071 §2(B)), so swap the folded result back.
      const n = (end - i) >>> 2;
      const w = new Uint32Array(buf.buffer, a, n);
      let le = 0;
      for (let k = 0; k < n; k++) le += w[k]!;
      le = foldSum(le);
      s += ((le & 0xff) << 8) | (le >>> 8);
      i += n * 4;
    } else {
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (const stop = end - 3; i < stop; i += 4) s += v.getUint32(i, false);
    }
  }
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  return s;
}

export function foldSum(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}
function get16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

/**
 * Inserts the complement of the one's-complement sum of [start, end] (end inclusive; 0 = to the
 * end of the packet) at `offset`. The field itself is part of the sum: software seeds it (the
 * pseudo-header sum for TCP/UDP, zero for IPv4 headers). Returns false when the offsets do not fit.
 */
export function insertChecksum(buf: Uint8Array, len: number, start: number, offset: number, endIncl: number, extra = 0): boolean {
  const end = endIncl === 0 ? len : Math.min(endIncl + 1, len);
  if (start >= end || offset + 2 > len || offset < start) return false;
  const s = foldSum(onesSum(buf, start, end, extra));
  put16(buf, offset, ~s & 0xffff);
  return true;
}

/** IPv4 header checksum: zeroes the field, then inserts over [ipcss, ipcse]. */
export function insertIpChecksum(buf: Uint8Array, len: number, ctx: TxContext): boolean {
  if (ctx.ipcso + 2 > len) return false;
  put16(buf, ctx.ipcso, 0);
  return insertChecksum(buf, len, ctx.ipcss, ctx.ipcso, ctx.ipcse);
}

/** Result of segmenting one TSO packet. */
export type TsoResult = 'ok' | 'bad-context';

/**
 * Splits a TSO packet (header of ctx.hdrlen bytes + payload) into MSS-sized frames, fixing per
 * segment the IPv4 total length and ID (or IPv6 payload length), the IP checksum (when ixsm), the
 * TCP sequence number, FIN/PSH (last segment only) and the TCP/UDP checksum (when txsm).
 * Each frame is passed to `emit`, which owns it.
 */
export function tsoSegment(
  pkt: Uint8Array,
  len: number,
  ctx: TxContext,
  ixsm: boolean,
  txsm: boolean,
  emit: (frame: Uint8Array, isLast: boolean) => void,
): TsoResult {
  const hdr = ctx.hdrlen;
  const mss = ctx.mss;
  if (mss === 0 || hdr < 14 || hdr >= len) return 'bad-context';
  if (ctx.tcp && ctx.tucss + 20 > hdr) return 'bad-context';
  if (txsm && ctx.tucso + 2 > hdr) return 'bad-context';
  if (ctx.ipv4 ? ctx.ipcss + 20 > hdr : ctx.ipcss + 40 > hdr) return 'bad-context';
  const payload = len - hdr;
  const nseg = Math.ceil(payload / mss);
  const id0 = ctx.ipv4 ? get16(pkt, ctx.ipcss + 4) : 0;
  const seq0 = ctx.tcp ? readU32(pkt, ctx.tucss + 4) : 0;
  const flags0 = ctx.tcp ? pkt[ctx.tucss + 13]! : 0;
  for (let i = 0; i < nseg; i++) {
    const off = hdr + i * mss;
    const plen = Math.min(mss, len - off);
    const flen = hdr + plen;
    const last = i === nseg - 1;
    const f = new Uint8Array(flen);
    f.set(pkt.subarray(0, hdr), 0);
    f.set(pkt.subarray(off, off + plen), hdr);
    if (ctx.ipv4) {
      put16(f, ctx.ipcss + 2, flen - ctx.ipcss);
      put16(f, ctx.ipcss + 4, (id0 + i) & 0xffff);
      if (ixsm) insertIpChecksum(f, flen, ctx);
    } else {
      put16(f, ctx.ipcss + 4, flen - ctx.ipcss - 40);
    }
    if (ctx.tcp) {
      writeU32(f, ctx.tucss + 4, (seq0 + i * mss) >>> 0);
      // FIN and PSH belong to the last segment only; CWR to the first only.
      f[ctx.tucss + 13] = last ? flags0 : i === 0 ? flags0 & ~0x09 : flags0 & ~0x89;
    } else {
      put16(f, ctx.tucss + 4, flen - ctx.tucss); // UDP length
    }
    if (txsm) insertChecksum(f, flen, ctx.tucss, ctx.tucso, 0, flen - ctx.tucss);
    emit(f, last);
  }
  return 'ok';
}

/**
 * Makes a TSO packet ready, in place, for a host that segments it (GSO, virtio-net's
 * NEEDS_CSUM): the IPv4 total length and header checksum (or the IPv6 payload length) for the
 * whole packet, and the TCP checksum field holding the folded pseudo-header sum over the whole
 * TCP length (not complemented), which segmentation adjusts per segment. Returns `pkt`.
 */
export function gsoPacket(pkt: Uint8Array, ctx: TxContext): Uint8Array {
  const f = pkt;
  const len = f.length;
  const l4len = len - ctx.tucss;
  let pseudo: number;
  if (ctx.ipv4) {
    put16(f, ctx.ipcss + 2, len - ctx.ipcss);
    put16(f, ctx.ipcss + 10, 0);
    const ihl = (f[ctx.ipcss]! & 0xf) * 4;
    put16(f, ctx.ipcss + 10, ~foldSum(onesSum(f, ctx.ipcss, ctx.ipcss + ihl)) & 0xffff);
    pseudo = onesSum(f, ctx.ipcss + 12, ctx.ipcss + 20) + 6 + l4len;
  } else {
    put16(f, ctx.ipcss + 4, len - ctx.ipcss - 40);
    pseudo = onesSum(f, ctx.ipcss + 8, ctx.ipcss + 40) + 6 + l4len;
  }
  put16(f, ctx.tucso, foldSum(pseudo));
  return f;
}

/** Inserts an 802.1Q tag after the two MAC addresses. */
export function insertVlanTag(frame: Uint8Array, tpid: number, tci: number): Uint8Array {
  const out = new Uint8Array(frame.length + 4);
  out.set(frame.subarray(0, 12), 0);
  put16(out, 12, tpid);
  put16(out, 14, tci);
  out.set(frame.subarray(12), 16);
  return out;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}
function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}
