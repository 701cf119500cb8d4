// Frames for the device fuzzer: Ethernet/VLAN, IPv4/IPv6 with TCP/UDP, correct or corrupted checksums (RFC 791/793/768/8200).

/** The station address the fuzzed device gets (NVM -> RAL0/RAH0). */
export const DEV_MAC = new Uint8Array([0x52, 0x54, 0x00, 0xfe, 0x00, 0x01]);
export const PEER_MAC = new Uint8Array([0x52, 0x54, 0x00, 0xfe, 0x00, 0x02]);
export const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
export const MULTICAST = new Uint8Array([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);

function sum16(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
function put16(b: Uint8Array, off: number, v: number): void {
  if (off + 1 >= b.length) return;
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** What a built frame looks like to a driver that wants to offload it. */
export interface BuiltFrame {
  frame: Uint8Array;
  /** Offsets for context descriptors (0 when not IP). */
  ipcss: number;
  ipcso: number;
  ipcse: number;
  tucss: number;
  tucso: number;
  hdrlen: number;
  ipv4: boolean;
  tcp: boolean;
}

export type L3Kind = 'raw' | 'ipv4-tcp' | 'ipv4-udp' | 'ipv6-tcp' | 'ipv6-udp' | 'ipv4-bad';

/**
 * Builds a frame of about `len` bytes (never shorter than its headers) with payload taken
 * cyclically from `fill`. `csum`: 'good' fills correct checksums, 'bad' corrupts them,
 * 'pseudo' leaves the pseudo-header sum in the L4 field and 0 in the IP field (what a driver
 * hands to checksum offload / TSO).
 */
export function buildFrame(o: {
  dst: Uint8Array;
  src?: Uint8Array;
  kind: L3Kind;
  len: number;
  vlan?: number;
  fill?: Uint8Array;
  csum?: 'good' | 'bad' | 'pseudo';
  tcpFlags?: number;
}): BuiltFrame {
  const vl = o.vlan !== undefined ? 4 : 0;
  const l3 = 14 + vl;
  const ipv6 = o.kind.startsWith('ipv6');
  const ip = o.kind !== 'raw';
  const tcp = o.kind.endsWith('tcp') || o.kind === 'ipv4-bad';
  const l4len = tcp ? 20 : 8;
  const iphl = ipv6 ? 40 : 20;
  const hdrlen = ip ? l3 + iphl + l4len : 14 + vl;
  const len = Math.max(o.len, hdrlen);
  const f = new Uint8Array(len);
  const fill = o.fill && o.fill.length > 0 ? o.fill : new Uint8Array([0x5a, 0xa5, 0x3c]);
  for (let i = hdrlen; i < len; i++) f[i] = fill[(i - hdrlen) % fill.length]!;
  f.set(o.dst.subarray(0, 6), 0);
  f.set((o.src ?? PEER_MAC).subarray(0, 6), 6);
  if (o.vlan !== undefined) {
    put16(f, 12, 0x8100);
    put16(f, 14, o.vlan & 0xffff);
  }
  const ethertype = !ip ? 0x88b5 : ipv6 ? 0x86dd : 0x0800;
  put16(f, 12 + vl, ethertype);
  const built: BuiltFrame = { frame: f, ipcss: 0, ipcso: 0, ipcse: 0, tucss: 0, tucso: 0, hdrlen, ipv4: !ipv6 && ip, tcp };
  if (!ip) return built;
  const l4 = l3 + iphl;
  const proto = tcp ? 6 : 17;
  const l4total = len - l4;
  if (ipv6) {
    f[l3] = 0x60;
    put16(f, l3 + 4, l4total);
    f[l3 + 6] = proto;
    f[l3 + 7] = 64;
    // fe80::1 -> fe80::2
    f.set([0xfe, 0x80], l3 + 8);
    f[l3 + 23] = 1;
    f.set([0xfe, 0x80], l3 + 24);
    f[l3 + 39] = 2;
  } else {
    f[l3] = 0x45;
    put16(f, l3 + 2, len - l3);
    put16(f, l3 + 4, 0x1234);
    f[l3 + 8] = 64;
    f[l3 + 9] = proto;
    f.set([169, 254, 10, 1], l3 + 12);
    f.set([169, 254, 10, 2], l3 + 16);
    built.ipcss = l3;
    built.ipcso = l3 + 10;
    built.ipcse = l3 + 19;
  }
  put16(f, l4, 40000);
  put16(f, l4 + 2, 80);
  if (tcp) {
    put16(f, l4 + 4, 0x0102);
    put16(f, l4 + 6, 0x0304);
    f[l4 + 12] = 0x50;
    f[l4 + 13] = o.tcpFlags ?? 0x18;
    put16(f, l4 + 14, 0xffff);
  } else {
    put16(f, l4 + 4, l4total);
  }
  built.tucss = l4;
  built.tucso = l4 + (tcp ? 16 : 6);
  const pseudo = ipv6
    ? sum16(f, l3 + 8, l3 + 40) + proto + l4total
    : sum16(f, l3 + 12, l3 + 20) + proto + l4total;
  const mode = o.csum ?? 'good';
  if (mode === 'pseudo') {
    put16(f, built.tucso, fold(pseudo));
    return built;
  }
  if (!ipv6) put16(f, l3 + 10, ~fold(sum16(f, l3, l3 + 20)) & 0xffff);
  let c = ~fold(sum16(f, l4, len, pseudo)) & 0xffff;
  if (!tcp && c === 0) c = 0xffff;
  put16(f, built.tucso, c);
  if (mode === 'bad' || o.kind === 'ipv4-bad') {
    f[built.tucso] ^= 0x5a;
    if (!ipv6) f[l3 + 10] ^= 0x01;
  }
  return built;
}
