import { describe, expect, it } from 'vitest';
import {
  alloc_skb,
  CHECKSUM_NONE,
  consume_skb,
  csum_fold,
  csum_ipv6_magic,
  csum_partial,
  csum_tcpudp_magic,
  skb_checksum_help,
  skb_partial_csum_set,
  skb_put_data,
} from '../../kernel-glue/index.js';
import { makeKernel } from './fake-pci.js';

describe('checksums', () => {
  it('computes the IPv4 header checksum of a known header', () => {
    const h = Uint8Array.from([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
    expect(csum_fold(csum_partial(h, 0, 20))).toBe(0xb861);
  });

  it('accepts addresses as values or as buffer indices', () => {
    const b = new Uint8Array(40);
    b.set([10, 0, 0, 1], 12);
    b.set([10, 0, 0, 2], 16);
    expect(csum_tcpudp_magic(b, 12, 16, 20, 6)).toBe(csum_tcpudp_magic(0x0a000001, 0x0a000002, 20, 6));
    const s6 = new Uint8Array(16).fill(1);
    const d6 = new Uint8Array(16).fill(2);
    const buf = new Uint8Array(40);
    buf.set(s6, 8);
    buf.set(d6, 24);
    expect(csum_ipv6_magic(buf, 8, 24, 20, 6)).toBe(csum_ipv6_magic(s6, d6, 20, 6));
  });

  it('skb_checksum_help fills in a CHECKSUM_PARTIAL UDP checksum that verifies', () => {
    const { k } = makeKernel();
    const skb = alloc_skb(k, 128)!;
    const udp = Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0, 12, 0, 0, 1, 2, 3, 4]);
    // Seed the checksum field with the pseudo-header sum, as the stack does for CHECKSUM_PARTIAL.
    const pseudo = (~csum_tcpudp_magic(0x0a000001, 0x0a000002, 12, 17) & 0xffff);
    udp[6] = pseudo >> 8;
    udp[7] = pseudo & 0xff;
    skb_put_data(skb, udp);
    expect(skb_partial_csum_set(skb, 0, 6)).toBe(true);
    skb_checksum_help(skb);
    expect(skb.ip_summed).toBe(CHECKSUM_NONE);
    // Verify: pseudo header + segment sums to 0xffff.
    const v = csum_partial(skb.bytes(), 0, 12, (~csum_tcpudp_magic(0x0a000001, 0x0a000002, 12, 17)) & 0xffff);
    expect(csum_fold(v)).toBe(0);
    consume_skb(skb);
  });
});
