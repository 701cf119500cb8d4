import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import { MMIO_WORDS } from '../../../device/e1000e/registers.js';
import { toeplitz, computeRss, rssClassify, rssEnabled, type RssResult } from '../../../device/e1000e/rss.js';
import { makeRig, linkUp, setupRings, RX_RING, RX_BUF } from '../../support/device-helpers.js';

// Microsoft's "Verifying the RSS Hash Calculation" suite, as reproduced in Intel datasheets (82599
// §7.1.2.8.3, I210 §7.1.2.10.3) and in DPDK app/test/test_thash.c.
const MS_KEY = hex('6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa');

const V4_SUITE = [
  { dst: '161.142.100.80', dport: 1766, src: '66.9.149.187', sport: 2794, ip: 0x323e8fc2, tcp: 0x51ccc178 },
  { dst: '65.69.140.83', dport: 4739, src: '199.92.111.2', sport: 14230, ip: 0xd718262a, tcp: 0xc626b0ea },
  { dst: '12.22.207.184', dport: 38024, src: '24.19.198.95', sport: 12898, ip: 0xd2d0a5de, tcp: 0x5c2b394a },
  { dst: '209.142.163.6', dport: 2217, src: '38.27.205.30', sport: 48228, ip: 0x82989176, tcp: 0xafc7327f },
  { dst: '202.188.127.2', dport: 1303, src: '153.39.163.191', sport: 44251, ip: 0x5d1809c5, tcp: 0x10e828a2 },
];

const V6_SUITE = [
  { dst: '3ffe:2501:200:3::1', dport: 1766, src: '3ffe:2501:200:1fff::7', sport: 2794, ip: 0x2cc18cd5, tcp: 0x40207d3d },
  { dst: 'ff02::1', dport: 4739, src: '3ffe:501:8::260:97ff:fe40:efab', sport: 14230, ip: 0x0f0c461c, tcp: 0xdde51bbf },
  {
    dst: 'fe80::200:f8ff:fe21:67cf', dport: 38024, src: '3ffe:1900:4545:3:200:f8ff:fe21:67cf', sport: 44251,
    ip: 0x4b61e985, tcp: 0x02d1feef,
  },
];

function hex(s: string): Uint8Array {
  return new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
}
function v4(s: string): Uint8Array {
  return new Uint8Array(s.split('.').map(Number));
}
function v6(s: string): Uint8Array {
  const [head, tail] = s.split('::') as [string, string | undefined];
  const words = (p: string | undefined) => (p ? p.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return new Uint8Array(all.flatMap((w) => [w >> 8, w & 0xff]));
}
function be16(v: number): number[] {
  return [v >> 8, v & 0xff];
}
function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return new Uint8Array(parts.flatMap((p) => [...p]));
}

const SRC_MAC = [0x52, 0x54, 0x00, 0x00, 0x00, 0x02];
const DST_MAC = [0x52, 0x54, 0x00, 0x00, 0x00, 0x01];
function eth(etype: number, payload: Uint8Array, tag?: { tpid: number; tci: number }): Uint8Array {
  return cat(DST_MAC, SRC_MAC, tag ? [...be16(tag.tpid), ...be16(tag.tci)] : [], be16(etype), payload);
}
function tcp(sport: number, dport: number): Uint8Array {
  return cat(be16(sport), be16(dport), [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
}
function udp(sport: number, dport: number, payload = 4): Uint8Array {
  return cat(be16(sport), be16(dport), be16(8 + payload), [0, 0], new Array<number>(payload).fill(0xab));
}
function ipv4(src: string, dst: string, proto: number, l4: Uint8Array, fragField = 0x4000 /* DF */): Uint8Array {
  return cat([0x45, 0, ...be16(20 + l4.length), 0x12, 0x34, ...be16(fragField), 64, proto, 0, 0], v4(src), v4(dst), l4);
}
function ipv6(src: Uint8Array, dst: Uint8Array, next: number, payload: Uint8Array): Uint8Array {
  return cat([0x60, 0, 0, 0, ...be16(payload.length), next, 64], src, dst, payload);
}
/** Hop-by-hop options header: 8 bytes, one PadN option. */
function hopByHop(next: number): Uint8Array {
  return new Uint8Array([next, 0, 1, 4, 0, 0, 0, 0]);
}
/** Type 2 routing header (RFC 6275): 24 bytes, segments left 1, the home address. */
function routing2(next: number, home: Uint8Array): Uint8Array {
  return cat([next, 2, 2, 1, 0, 0, 0, 0], home);
}
/** Destination options header with Pad1 padding and a home address option: 24 bytes. */
function destOptsHome(next: number, home: Uint8Array): Uint8Array {
  return cat([next, 2, 0, 0, 0, 0, 0xc9, 16], home);
}
/** Fragment header: first fragment, more to come. */
function fragmentHdr(next: number): Uint8Array {
  return new Uint8Array([next, 0, 0, 1, 0, 0, 0x12, 0x34]);
}

const TCP = 6;
const UDP = 17;
const ALL_FIELDS =
  D.MRQC_RSS_FIELD_IPV4_TCP | D.MRQC_RSS_FIELD_IPV4 | D.MRQC_RSS_FIELD_IPV6_TCP_EX | D.MRQC_RSS_FIELD_IPV6_EX | D.MRQC_RSS_FIELD_IPV6;

/** A register file with the verification key in RSSRK, VET at its reset value and RSS on. */
function regs(mrqc = D.MRQC_MRQE_RSS | ALL_FIELDS, key = MS_KEY): Uint32Array {
  const m = new Uint32Array(MMIO_WORDS);
  m[D.REG.VET >>> 2] = 0x8100;
  m[D.REG.MRQC >>> 2] = mrqc;
  for (let i = 0; i < D.NUM_RSSRK; i++) {
    m[(D.REG.RSSRK >>> 2) + i] = (key[4 * i]! | (key[4 * i + 1]! << 8) | (key[4 * i + 2]! << 16) | (key[4 * i + 3]! << 24)) >>> 0;
  }
  return m;
}
function rss(m: Uint32Array, frame: Uint8Array): RssResult & { ok: boolean } {
  const out = { hash: -1, type: -1, queue: -1 };
  const ok = computeRss(m, frame, out);
  return { ok, ...out };
}
function setReta(m: Uint32Array, entry: number, value: number): void {
  const w = (D.REG.RETA >>> 2) + (entry >>> 2);
  const sh = (entry & 3) * 8;
  m[w] = ((m[w]! & ~(0xff << sh)) | (value << sh)) >>> 0;
}
/** A frame whose reads past its length throw, to catch any out-of-bounds access. */
function strict(frame: Uint8Array): Uint8Array {
  return new Proxy(frame, {
    get(t, p) {
      if (typeof p === 'string' && /^\d+$/.test(p) && Number(p) >= t.length) throw new Error(`read past end: ${p} >= ${t.length}`);
      const v = Reflect.get(t, p, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

describe('Toeplitz hash: Microsoft RSS verification suite', () => {
  for (const r of V4_SUITE) {
    it(`IPv4 ${r.src}:${r.sport} -> ${r.dst}:${r.dport}`, () => {
      const input = cat(v4(r.src), v4(r.dst), be16(r.sport), be16(r.dport));
      expect(toeplitz(MS_KEY, input, 8)).toBe(r.ip);
      expect(toeplitz(MS_KEY, input)).toBe(r.tcp);
    });
  }
  for (const r of V6_SUITE) {
    it(`IPv6 [${r.src}]:${r.sport} -> [${r.dst}]:${r.dport}`, () => {
      const input = cat(v6(r.src), v6(r.dst), be16(r.sport), be16(r.dport));
      expect(toeplitz(MS_KEY, input, 32)).toBe(r.ip);
      expect(toeplitz(MS_KEY, input)).toBe(r.tcp);
    });
  }

  it('returns an unsigned 32-bit value, 0 for empty input, and clamps len to the input', () => {
    const input = cat(v4('66.9.149.187'), v4('161.142.100.80'), be16(2794), be16(1766));
    expect(toeplitz(MS_KEY, input, 0)).toBe(0);
    expect(toeplitz(MS_KEY, input, 100)).toBe(0x51ccc178);
    expect(toeplitz(MS_KEY, new Uint8Array([0x80]))).toBe(0x6d5a56da); // the key's first 32 bits
    expect(toeplitz(MS_KEY, new Uint8Array(36).fill(0xff))).toBeGreaterThanOrEqual(0);
  });

  it('takes RSSRK in the order Linux writes it (key byte 0 = low byte of RSSRK[0])', () => {
    // e1000e's fixed key before netdev_rss_key_fill (netdev.c e1000e_setup_rss_hash) is this suite's key.
    const linuxRssKey = [0xda565a6d, 0xc20e5b25, 0x3d256741, 0xb08fa343, 0xcb2bcad0, 0xb4307bae, 0xa32dcb77, 0x0cf23080, 0x3bb7426a, 0xfa01acbe];
    const m = regs();
    linuxRssKey.forEach((v, i) => (m[(D.REG.RSSRK >>> 2) + i] = v));
    const r = rss(m, eth(0x0800, ipv4('66.9.149.187', '161.142.100.80', TCP, tcp(2794, 1766))));
    expect(r).toEqual({ ok: true, hash: 0x51ccc178, type: D.RSS_TYPE_IPV4_TCP, queue: 0 });
  });
});

describe('82574L RSS on received frames', () => {
  it('hashes IPv4/TCP on addresses and ports (TcpIPv4, type 1), every suite row', () => {
    const m = regs();
    for (const r of V4_SUITE) {
      const f = eth(0x0800, ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport)));
      expect(rss(m, f)).toEqual({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV4_TCP, queue: 0 });
    }
  });

  it('hashes IPv4/TCP on addresses only when just the IPv4 field is enabled (type 2)', () => {
    const m = regs(D.MRQC_MRQE_RSS | D.MRQC_RSS_FIELD_IPV4);
    const r = V4_SUITE[1]!;
    expect(rss(m, eth(0x0800, ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport))))).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV4, queue: 0 });
  });

  it('hashes IPv4/UDP as IPv4 only: the 82574L has no UDP hash', () => {
    const m = regs();
    for (const r of V4_SUITE) {
      const f = eth(0x0800, ipv4(r.src, r.dst, UDP, udp(r.sport, r.dport)));
      expect(rss(m, f)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV4, queue: 0 });
    }
  });

  it('hashes IPv4 fragments carrying TCP on addresses only', () => {
    const m = regs();
    const r = V4_SUITE[0]!;
    const first = eth(0x0800, ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport), 0x2000 /* MF */));
    const later = eth(0x0800, ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport), 0x0010 /* offset 128 */));
    expect(rss(m, first)).toMatchObject({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV4 });
    expect(rss(m, later)).toMatchObject({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV4 });
  });

  it('finds the TCP ports after IPv4 options', () => {
    const m = regs();
    const r = V4_SUITE[2]!;
    const ip = ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport));
    const withOpts = cat([0x46], ip.subarray(1, 20), [1, 1, 1, 0], ip.subarray(20)); // IHL 6: NOP NOP NOP EOL
    expect(rss(m, eth(0x0800, withOpts))).toMatchObject({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV4_TCP });
  });

  it('hashes IPv6/TCP on addresses and ports (TcpIPv6Ex, type 3), every suite row', () => {
    const m = regs();
    for (const r of V6_SUITE) {
      const f = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), TCP, tcp(r.sport, r.dport)));
      expect(rss(m, f)).toEqual({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV6_TCP_EX, queue: 0 });
    }
  });

  it('hashes IPv6/UDP on addresses: IPv6Ex (type 4) when enabled, else IPv6 (type 5)', () => {
    const r = V6_SUITE[1]!;
    const f = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), UDP, udp(r.sport, r.dport)));
    expect(rss(regs(), f)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV6_EX, queue: 0 });
    expect(rss(regs(D.MRQC_MRQE_RSS | D.MRQC_RSS_FIELD_IPV6), f)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV6, queue: 0 });
  });

  it('ignores MRQC bit 21 (Linux IPV6_TCP): IPv6/TCP without TCP_EX is hashed on addresses', () => {
    const r = V6_SUITE[0]!;
    const f = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), TCP, tcp(r.sport, r.dport)));
    const m = regs(D.MRQC_MRQE_RSS | D.MRQC_RSS_FIELD_IPV6_TCP | D.MRQC_RSS_FIELD_IPV6);
    expect(rss(m, f)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV6, queue: 0 });
  });

  it('walks a hop-by-hop extension header to the TCP ports', () => {
    const m = regs();
    const r = V6_SUITE[2]!;
    const f = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), 0, cat(hopByHop(TCP), tcp(r.sport, r.dport))));
    expect(rss(m, f)).toEqual({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV6_TCP_EX, queue: 0 });
  });

  it('walks routing, destination-options and authentication headers to the ports', () => {
    const m = regs();
    const r = V6_SUITE[0]!;
    const ah = new Uint8Array([TCP, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb, 0xcc, 0xcc, 0xcc, 0xcc]); // (4 + 2) * 4 bytes
    const dstOpts = new Uint8Array([51, 0, 1, 4, 0, 0, 0, 0]);
    const rh0 = new Uint8Array([60, 0, 0, 0, 0, 0, 0, 0]); // routing type 0, no segments: not type 2, ignored
    const f = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), 43, cat(rh0, dstOpts, ah, tcp(r.sport, r.dport))));
    expect(rss(m, f)).toEqual({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV6_TCP_EX, queue: 0 });
  });

  it('hashes the home address option and type 2 routing address in place of the header addresses for the Ex types', () => {
    const r = V6_SUITE[0]!;
    const careOf = v6('2001:db8::1234');
    const correspondent = v6('2001:db8::5678');
    // Header addresses are the care-of and the current hop; the options carry the suite's addresses.
    const payload = cat(destOptsHome(43, v6(r.src)), routing2(TCP, v6(r.dst)), tcp(r.sport, r.dport));
    const f = eth(0x86dd, ipv6(careOf, correspondent, 60, payload));
    expect(rss(regs(), f)).toEqual({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV6_TCP_EX, queue: 0 });

    const udpFrame = eth(0x86dd, ipv6(careOf, correspondent, 60, cat(destOptsHome(43, v6(r.src)), routing2(UDP, v6(r.dst)), udp(1, 2))));
    expect(rss(regs(), udpFrame)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV6_EX, queue: 0 });

    // The plain IPv6 hash uses the header's addresses.
    const plain = toeplitz(MS_KEY, cat(careOf, correspondent));
    expect(rss(regs(D.MRQC_MRQE_RSS | D.MRQC_RSS_FIELD_IPV6), f)).toEqual({ ok: true, hash: plain, type: D.RSS_TYPE_IPV6, queue: 0 });
  });

  it('falls back to the IPv6 hash when RFCTL disables extension-header parsing for RSS', () => {
    const r = V6_SUITE[2]!;
    const withHbh = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), 0, cat(hopByHop(TCP), tcp(r.sport, r.dport))));
    const m = regs();
    m[D.REG.RFCTL >>> 2] = D.RFCTL_IPV6_EX_DIS;
    expect(rss(m, withHbh)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV6, queue: 0 });
    // Without extension headers IPV6_EX_DIS changes nothing.
    const bare = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), TCP, tcp(r.sport, r.dport)));
    expect(rss(m, bare)).toMatchObject({ hash: r.tcp, type: D.RSS_TYPE_IPV6_TCP_EX });

    // NEW_IPV6_EXT_DIS: only packets with a home address option or type 2 routing header fall back.
    m[D.REG.RFCTL >>> 2] = D.RFCTL_NEW_IPV6_EXT_DIS;
    expect(rss(m, withHbh)).toMatchObject({ hash: r.tcp, type: D.RSS_TYPE_IPV6_TCP_EX });
    const mip = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), 43, cat(routing2(TCP, v6('2001:db8::9')), tcp(r.sport, r.dport))));
    expect(rss(m, mip)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV6, queue: 0 });
  });

  it('hashes IPv6 fragments carrying TCP on addresses only', () => {
    const r = V6_SUITE[1]!;
    const f = eth(0x86dd, ipv6(v6(r.src), v6(r.dst), 44, cat(fragmentHdr(TCP), tcp(r.sport, r.dport))));
    expect(rss(regs(), f)).toEqual({ ok: true, hash: r.ip, type: D.RSS_TYPE_IPV6_EX, queue: 0 });
  });

  it('skips an 802.1Q tag whose TPID equals VET', () => {
    const r = V4_SUITE[3]!;
    const ip = ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport));
    const m = regs();
    expect(rss(m, eth(0x0800, ip, { tpid: 0x8100, tci: 0x2005 }))).toEqual({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV4_TCP, queue: 0 });
    const r6 = V6_SUITE[0]!;
    const f6 = eth(0x86dd, ipv6(v6(r6.src), v6(r6.dst), TCP, tcp(r6.sport, r6.dport)), { tpid: 0x8100, tci: 7 });
    expect(rss(m, f6)).toMatchObject({ ok: true, hash: r6.tcp, type: D.RSS_TYPE_IPV6_TCP_EX });

    // A different VET: the 0x8100 frame is not IP to this device, a 0x88a8 one is.
    m[D.REG.VET >>> 2] = 0x88a8;
    expect(rss(m, eth(0x0800, ip, { tpid: 0x8100, tci: 5 })).ok).toBe(false);
    expect(rss(m, eth(0x0800, ip, { tpid: 0x88a8, tci: 5 }))).toMatchObject({ ok: true, hash: r.tcp });
  });

  it('returns false with zeros when MRQC.MRQE is not 01, though the fields are set', () => {
    const r = V4_SUITE[0]!;
    const f = eth(0x0800, ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport)));
    for (const mrqe of [0, 2, 3]) {
      const m = regs(mrqe | ALL_FIELDS);
      expect(rssEnabled(m)).toBe(false);
      expect(rss(m, f)).toEqual({ ok: false, hash: 0, type: D.RSS_TYPE_NONE, queue: 0 });
    }
    // What Linux e1000e writes (fields, MRQE = 00): rssClassify still selects and hashes.
    const linux = regs(D.MRQC_RSS_FIELD_IPV4 | D.MRQC_RSS_FIELD_IPV4_TCP | D.MRQC_RSS_FIELD_IPV6 | D.MRQC_RSS_FIELD_IPV6_TCP | D.MRQC_RSS_FIELD_IPV6_TCP_EX);
    const out = { hash: 0, type: 0, queue: 0 };
    expect(rssClassify(linux, f, out)).toBe(true);
    expect(out).toEqual({ hash: r.tcp, type: D.RSS_TYPE_IPV4_TCP, queue: 0 });
  });

  it('returns false when no enabled field matches the frame', () => {
    const r4 = V4_SUITE[0]!;
    const r6 = V6_SUITE[0]!;
    const f4 = eth(0x0800, ipv4(r4.src, r4.dst, TCP, tcp(r4.sport, r4.dport)));
    const f6 = eth(0x86dd, ipv6(v6(r6.src), v6(r6.dst), TCP, tcp(r6.sport, r6.dport)));
    const arp = eth(0x0806, new Uint8Array(28));
    const v6only = regs(D.MRQC_MRQE_RSS | D.MRQC_RSS_FIELD_IPV6_TCP_EX | D.MRQC_RSS_FIELD_IPV6_EX | D.MRQC_RSS_FIELD_IPV6);
    const v4only = regs(D.MRQC_MRQE_RSS | D.MRQC_RSS_FIELD_IPV4_TCP | D.MRQC_RSS_FIELD_IPV4);
    expect(rss(v6only, f4)).toEqual({ ok: false, hash: 0, type: 0, queue: 0 });
    expect(rss(v4only, f6)).toEqual({ ok: false, hash: 0, type: 0, queue: 0 });
    expect(rss(regs(D.MRQC_MRQE_RSS | D.MRQC_RSS_FIELD_IPV4_TCP), eth(0x0800, ipv4(r4.src, r4.dst, UDP, udp(1, 2)))).ok).toBe(false);
    expect(rss(regs(), arp).ok).toBe(false);
    expect(rss(regs(D.MRQC_MRQE_RSS), f4).ok).toBe(false);
    // An IPv4 ethertype with a version-6 header, or an IHL below 5, is not IPv4.
    const bad = f4.slice();
    bad[14] = 0x65;
    expect(rss(regs(), bad).ok).toBe(false);
    bad[14] = 0x44;
    expect(rss(regs(), bad).ok).toBe(false);
  });

  it('picks the queue from bit 7 of the RETA entry the hash low 7 bits index', () => {
    const r = V4_SUITE[0]!; // hash 0x51ccc178: entry 0x78 (RETA[30], byte 0)
    const f = eth(0x0800, ipv4(r.src, r.dst, TCP, tcp(r.sport, r.dport)));
    const idx = r.tcp & 0x7f;
    expect(idx).toBe(0x78);
    const m = regs();
    setReta(m, idx, 0x80);
    expect(rss(m, f)).toEqual({ ok: true, hash: r.tcp, type: D.RSS_TYPE_IPV4_TCP, queue: 1 });
    // Only bit 7 counts; the other entries do not matter.
    for (let e = 0; e < 128; e++) setReta(m, e, 0x80);
    setReta(m, idx, 0x7f);
    expect(rss(m, f).queue).toBe(0);

    // Every suite hash, IPv4 and IPv6, lands on the entry its own low 7 bits name.
    const cases = [
      ...V4_SUITE.map((x) => ({ hash: x.tcp, f: eth(0x0800, ipv4(x.src, x.dst, TCP, tcp(x.sport, x.dport))) })),
      ...V4_SUITE.map((x) => ({ hash: x.ip, f: eth(0x0800, ipv4(x.src, x.dst, UDP, udp(x.sport, x.dport))) })),
      ...V6_SUITE.map((x) => ({ hash: x.tcp, f: eth(0x86dd, ipv6(v6(x.src), v6(x.dst), TCP, tcp(x.sport, x.dport))) })),
      ...V6_SUITE.map((x) => ({ hash: x.ip, f: eth(0x86dd, ipv6(v6(x.src), v6(x.dst), UDP, udp(x.sport, x.dport))) })),
    ];
    for (const c of cases) {
      const m2 = regs();
      setReta(m2, c.hash & 0x7f, 0x80);
      expect(rss(m2, c.f)).toMatchObject({ ok: true, hash: c.hash, queue: 1 });
      setReta(m2, c.hash & 0x7f, 0x00);
      setReta(m2, (c.hash + 1) & 0x7f, 0x80);
      expect(rss(m2, c.f).queue).toBe(0);
    }
  });

  it('never reads past the end of truncated frames and never throws', () => {
    const r4 = V4_SUITE[4]!;
    const r6 = V6_SUITE[0]!;
    const frames = [
      eth(0x0800, ipv4(r4.src, r4.dst, TCP, tcp(r4.sport, r4.dport)), { tpid: 0x8100, tci: 1 }),
      eth(0x86dd, ipv6(v6(r6.src), v6(r6.dst), 0, cat(hopByHop(60), destOptsHome(43, v6(r6.src)), routing2(44, v6(r6.dst)), fragmentHdr(51), new Uint8Array([TCP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), tcp(1, 2)))),
      eth(0x86dd, ipv6(v6(r6.src), v6(r6.dst), 60, cat(destOptsHome(43, v6(r6.src)), routing2(TCP, v6(r6.dst)), tcp(r6.sport, r6.dport)))),
      eth(0x86dd, ipv6(v6(r6.src), v6(r6.dst), 43, cat(routing2(60, v6(r6.dst)), destOptsHome(UDP, v6(r6.src))))),
    ];
    const m = regs();
    for (let e = 0; e < 128; e++) setReta(m, e, 0x80);
    for (const full of frames) {
      expect(rss(m, full).ok).toBe(true);
      for (let cut = 0; cut <= full.length; cut++) {
        const out = { hash: -1, type: -1, queue: -1 };
        if (computeRss(m, strict(full.slice(0, cut)), out)) {
          expect(out.type).toBeGreaterThanOrEqual(D.RSS_TYPE_IPV4_TCP);
          expect(out.type).toBeLessThanOrEqual(D.RSS_TYPE_IPV6);
          expect(out.queue).toBe(1);
        } else {
          expect(out).toEqual({ hash: 0, type: 0, queue: 0 });
        }
      }
    }

    // A TCP header cut short: IPv4 still hashes on addresses.
    const f = eth(0x0800, ipv4(r4.src, r4.dst, TCP, tcp(r4.sport, r4.dport)));
    expect(rss(m, strict(f.slice(0, 14 + 20 + 19)))).toMatchObject({ ok: true, hash: r4.ip, type: D.RSS_TYPE_IPV4 });
    expect(rss(m, strict(f.slice(0, 14 + 20 + 20)))).toMatchObject({ ok: true, hash: r4.tcp, type: D.RSS_TYPE_IPV4_TCP });
    // An IPv6 extension header cut short: no RSS at all (QEMU: not parseable as IPv6).
    const g = frames[2]!;
    expect(rss(m, strict(g.slice(0, 14 + 40 + 1))).ok).toBe(false);

    // Random bytes behind IP ethertypes, with hostile extension-header lengths.
    let seed = 0x1234567;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const len = rnd() % 160;
      const b = new Uint8Array(len);
      for (let j = 0; j < len; j++) b[j] = rnd();
      if (len >= 14) {
        b[12] = i & 1 ? 0x86 : 0x08;
        b[13] = i & 1 ? 0xdd : 0x00;
      }
      if (len >= 15) b[14] = i & 1 ? 0x60 : 0x45;
      if (len >= 21 && i & 1) b[20] = [0, 43, 44, 51, 60, 135, 6][rnd() % 7]!;
      expect(() => computeRss(m, strict(b), { hash: 0, type: 0, queue: 0 })).not.toThrow();
    }
  });
});

describe('82574L RSS in the receive write-back', () => {
  /** A device set up as Linux's e1000e_setup_rss_hash leaves it: MRQC fields without MRQE, PCSD. */
  function linuxRig(psrctl = 0) {
    const r = makeRig();
    linkUp(r);
    setupRings(r, 16);
    for (let i = 0; i < D.NUM_RSSRK; i++) {
      r.wr(D.REG.RSSRK + 4 * i, (MS_KEY[4 * i]! | (MS_KEY[4 * i + 1]! << 8) | (MS_KEY[4 * i + 2]! << 16) | (MS_KEY[4 * i + 3]! << 24)) >>> 0);
    }
    r.wr(D.REG.MRQC, 0x00370000);
    r.wr(D.REG.RXCSUM, r.rd(D.REG.RXCSUM) | D.RXCSUM_PCSD);
    r.wr(D.REG.RCTL, r.rd(D.REG.RCTL) | D.RCTL_UPE);
    if (psrctl) {
      r.wr(D.REG.RCTL, r.rd(D.REG.RCTL) & ~D.RCTL_EN);
      r.wr(D.REG.PSRCTL, psrctl);
      r.wr(D.REG.RDLEN0, 8 * 32);
      r.wr(D.REG.RDH0, 0);
      for (let i = 0; i < 8; i++) for (let b = 0; b < 4; b++) r.host.w32(RX_RING + i * 32 + b * 8, RX_BUF + i * 0x4000 + b * 0x1000);
      r.wr(D.REG.RDT0, 14);
      r.wr(D.REG.RCTL, r.rd(D.REG.RCTL) | D.RCTL_EN | D.RCTL_DTYP_PS | D.RCTL_LPE);
    }
    return r;
  }

  for (const [name, ps] of [['extended', 0], ['packet-split', 0x04040401]] as const) {
    it(`writes the Toeplitz hash and the RSS type for every verification vector (${name} descriptors)`, () => {
      const stride = ps ? 32 : 16;
      for (const [k, v] of V4_SUITE.entries()) {
        const r = linuxRig(ps);
        r.dev.receiveFrame(eth(0x0800, ipv4(v.src, v.dst, TCP, tcp(v.sport, v.dport))));
        r.dev.receiveFrame(eth(0x0800, ipv4(v.src, v.dst, UDP, udp(v.sport, v.dport))));
        r.host.queue.run();
        expect([r.host.r32(RX_RING + 4), r.host.r32(RX_RING) & 0xf], `v4 row ${k}`).toEqual([v.tcp, D.RSS_TYPE_IPV4_TCP]);
        expect([r.host.r32(RX_RING + stride + 4), r.host.r32(RX_RING + stride) & 0xf], `v4 row ${k}`).toEqual([v.ip, D.RSS_TYPE_IPV4]);
      }
      for (const [k, v] of V6_SUITE.entries()) {
        const r = linuxRig(ps);
        r.dev.receiveFrame(eth(0x86dd, ipv6(v6(v.src), v6(v.dst), TCP, tcp(v.sport, v.dport))));
        r.dev.receiveFrame(eth(0x86dd, ipv6(v6(v.src), v6(v.dst), UDP, udp(v.sport, v.dport))));
        r.host.queue.run();
        expect([r.host.r32(RX_RING + 4), r.host.r32(RX_RING) & 0xf], `v6 row ${k}`).toEqual([v.tcp, D.RSS_TYPE_IPV6_TCP_EX]);
        expect(r.host.r32(RX_RING + stride + 4), `v6 row ${k}`).toBe(v.ip);
      }
    });
  }

  it('reports no hash without PCSD (the IP ID and packet checksum take that place)', () => {
    const r = linuxRig();
    r.wr(D.REG.RXCSUM, r.rd(D.REG.RXCSUM) & ~D.RXCSUM_PCSD);
    const v = V4_SUITE[0]!;
    r.dev.receiveFrame(eth(0x0800, ipv4(v.src, v.dst, TCP, tcp(v.sport, v.dport))));
    r.host.queue.run();
    expect(r.host.r32(RX_RING)).toBe(0);
    expect(r.host.r32(RX_RING + 4) & 0xffff).toBe(0x1234); // the IP ID
  });
});
