// Test-side packet builders and an independent checksum verifier (written apart from the device's offload code).

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

/** Independent 16-bit one's-complement checksum: sums 32-bit words with end-around carry. */
export function internetChecksum(parts: Uint8Array[]): number {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length + (p.length & 1), 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length + (p.length & 1); // each part padded to even length, as the pseudo-header rules need
  }
  let sum = 0n;
  for (let i = 0; i < all.length; i += 2) sum += BigInt((all[i]! << 8) | (all[i + 1] ?? 0));
  while (sum >> 16n) sum = (sum & 0xffffn) + (sum >> 16n);
  return Number(~sum & 0xffffn);
}

export interface ParsedL4 {
  version: 4 | 6;
  proto: number;
  l3: number;
  l4: number;
  end: number;
  src: Uint8Array;
  dst: Uint8Array;
}

/** Finds IP and L4 boundaries of an untagged Ethernet frame. */
export function parseFrame(f: Uint8Array): ParsedL4 {
  const et = (f[12]! << 8) | f[13]!;
  if (et === ETH_P_IP) {
    const ihl = (f[14]! & 0xf) * 4;
    const total = (f[16]! << 8) | f[17]!;
    return { version: 4, proto: f[23]!, l3: 14, l4: 14 + ihl, end: 14 + total, src: f.slice(26, 30), dst: f.slice(30, 34) };
  }
  if (et === ETH_P_IPV6) {
    const plen = (f[18]! << 8) | f[19]!;
    return { version: 6, proto: f[20]!, l3: 14, l4: 54, end: 54 + plen, src: f.slice(22, 38), dst: f.slice(38, 54) };
  }
  throw new Error(`not IP: ethertype ${et.toString(16)}`);
}

/** True when the frame's IPv4 header checksum (if v4) and its TCP/UDP checksum are valid. */
export function verifyChecksums(f: Uint8Array): { ip: boolean; l4: boolean } {
  const p = parseFrame(f);
  let ip = true;
  if (p.version === 4) ip = internetChecksum([f.subarray(p.l3, p.l4)]) === 0;
  const seg = f.subarray(p.l4, p.end);
  const len = seg.length;
  const pseudo =
    p.version === 4
      ? new Uint8Array([...p.src, ...p.dst, 0, p.proto, len >> 8, len & 0xff])
      : new Uint8Array([...p.src, ...p.dst, 0, 0, len >> 8, len & 0xff, 0, 0, 0, p.proto]);
  if (p.proto === 17 && seg[6] === 0 && seg[7] === 0) return { ip, l4: true }; // UDP: no checksum
  return { ip, l4: internetChecksum([pseudo, seg]) === 0 };
}

export interface BuildOpts {
  version: 4 | 6;
  proto: 'tcp' | 'udp';
  payload: Uint8Array;
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  seq?: number;
  ipId?: number;
  tcpFlags?: number;
  /** Leave the L4 checksum field holding only the pseudo-header sum (CHECKSUM_PARTIAL). */
  partial?: boolean;
  /** For TSO: zero IP lengths/checksum and seed a zero-length pseudo-header sum. */
  tso?: boolean;
}

const SRC4 = [169, 254, 10, 1];
const DST4 = [169, 254, 10, 2];
const SRC6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

function foldNoComplement(parts: Uint8Array[]): number {
  return ~internetChecksum(parts) & 0xffff;
}

/** Builds Ethernet + IPv4/IPv6 + TCP(20 B + 12 B timestamp option)/UDP + payload. */
export function buildPacket(o: BuildOpts): { frame: Uint8Array; l3: number; l4: number; l4hdr: number; csumOff: number } {
  const l4hdr = o.proto === 'tcp' ? 32 : 8;
  const l3len = o.version === 4 ? 20 : 40;
  const l4 = 14 + l3len;
  const f = new Uint8Array(l4 + l4hdr + o.payload.length);
  f.set(o.dstMac, 0);
  f.set(o.srcMac, 6);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, o.version === 4 ? ETH_P_IP : ETH_P_IPV6);
  const proto = o.proto === 'tcp' ? 6 : 17;
  const l4len = l4hdr + o.payload.length;
  if (o.version === 4) {
    f[14] = 0x45;
    dv.setUint16(16, o.tso ? 0 : l3len + l4len);
    dv.setUint16(18, o.ipId ?? 0x1234);
    dv.setUint16(20, 0x4000);
    f[22] = 64;
    f[23] = proto;
    f.set(SRC4, 26);
    f.set(DST4, 30);
    if (!o.tso) dv.setUint16(24, internetChecksum([f.subarray(14, 34)]));
  } else {
    dv.setUint32(14, 0x60000000);
    dv.setUint16(18, o.tso ? 0 : l4len);
    f[20] = proto;
    f[21] = 64;
    f.set(SRC6, 22);
    f.set(DST6, 38);
  }
  let csumOff: number;
  if (o.proto === 'tcp') {
    dv.setUint16(l4, 40000);
    dv.setUint16(l4 + 2, 5201);
    dv.setUint32(l4 + 4, o.seq ?? 1000);
    dv.setUint32(l4 + 8, 777);
    f[l4 + 12] = (l4hdr / 4) << 4;
    f[l4 + 13] = o.tcpFlags ?? 0x18;
    dv.setUint16(l4 + 14, 0xffff);
    f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], l4 + 20);
    csumOff = l4 + 16;
  } else {
    dv.setUint16(l4, 40000);
    dv.setUint16(l4 + 2, 5201);
    dv.setUint16(l4 + 4, l4len);
    csumOff = l4 + 6;
  }
  f.set(o.payload, l4 + l4hdr);
  const src = o.version === 4 ? new Uint8Array(SRC4) : new Uint8Array(SRC6);
  const dst = o.version === 4 ? new Uint8Array(DST4) : new Uint8Array(DST6);
  const pseudoLen = o.tso ? 0 : l4len;
  const pseudo =
    o.version === 4
      ? new Uint8Array([...src, ...dst, 0, proto, pseudoLen >> 8, pseudoLen & 0xff])
      : new Uint8Array([...src, ...dst, 0, 0, pseudoLen >> 8, pseudoLen & 0xff, 0, 0, 0, proto]);
  if (o.partial || o.tso) {
    dv.setUint16(csumOff, foldNoComplement([pseudo]));
  } else {
    dv.setUint16(csumOff, 0);
    let c = internetChecksum([pseudo, f.subarray(l4)]);
    if (proto === 17 && c === 0) c = 0xffff;
    dv.setUint16(csumOff, c);
  }
  return { frame: f, l3: 14, l4, l4hdr, csumOff };
}
