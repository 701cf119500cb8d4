// The one's-complement sum behind every checksum offload: its word-at-a-time path against the plain 16-bit definition (RFC 1071).
import { describe, it, expect } from 'vitest';
import { foldSum, onesSum } from '../../../device/e1000e/offload.js';

/** RFC 1071 by the letter: big-endian 16-bit words, an odd last byte padded with zero. */
function reference(b: Uint8Array, start: number, end: number, init: number): number {
  let s = init;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return foldSum(s);
}

/** xorshift32: the same bytes every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe('onesSum', () => {
  it('folds to the RFC 1071 sum for every buffer alignment, start parity and length', () => {
    const r = rng(20261203);
    let checked = 0;
    for (let t = 0; t < 4000; t++) {
      const n = 1 + (r() % 9300);
      const base = new Uint8Array(n + 8);
      for (let i = 0; i < base.length; i++) base[i] = r() & 0xff;
      const off = r() % 8; // the view's byteOffset: 0..7, so aligned and unaligned word paths both run
      const b = base.subarray(off, off + n);
      const start = r() % n;
      const end = start + (r() % (n - start + 1));
      const init = r() % 0x100000;
      expect(foldSum(onesSum(b, start, end, init)), `n ${n} off ${off} [${start}, ${end})`).toBe(reference(b, start, end, init));
      checked++;
    }
    expect(checked).toBe(4000);
  });

  it('gives 0xffff over a valid checksummed header, and all-ones data stays all ones', () => {
    // An IPv4 header with its checksum in place (RFC 1071's example values aside, any valid one sums to 0xffff).
    const h = Uint8Array.from([0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 169, 254, 10, 2, 169, 254, 10, 1]);
    const c = ~foldSum(onesSum(h, 0, 20)) & 0xffff;
    h[10] = c >> 8;
    h[11] = c & 0xff;
    expect(foldSum(onesSum(h, 0, 20))).toBe(0xffff);
    const ones = new Uint8Array(1500).fill(0xff);
    expect(foldSum(onesSum(ones, 0, 1500))).toBe(0xffff);
  });
});
