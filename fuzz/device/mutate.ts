// Mutations of device fuzz inputs: byte-level (flips, interesting values) and operation-level (insert, delete, duplicate, splice).

import { decode, encodeOp, generateOp, generateInput, MAX_INPUT_BYTES } from './ops.js';

type Rng = () => number;
const int = (r: Rng, n: number): number => Math.floor(r() * n);
const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x40, 0x20, 0x08];
const INTERESTING_16 = [0, 0x7fff, 0x8000, 0xffff, 0x100, 0x5ea, 0x5ee, 0x2000, 0x3c, 0x40];
const INTERESTING_32 = [0, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000, 0x400000, 0xfff80, 0x20000];

/** Op boundaries of an input: [start, end) of each op, after the profile byte. */
function bounds(b: Uint8Array): [number, number][] {
  return decode(b).ops.map((o) => [o.start, o.end]);
}

function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function mutateOnce(r: Rng, b: Uint8Array, pool: readonly Uint8Array[]): Uint8Array {
  if (b.length < 2) return generateInput(r, 8);
  const out = b.slice();
  const pos = 1 + int(r, out.length - 1);
  switch (int(r, 13)) {
    case 0:
      out[pos] = out[pos]! ^ (1 << int(r, 8));
      return out;
    case 1:
      out[pos] = INTERESTING_8[int(r, INTERESTING_8.length)]!;
      return out;
    case 2:
      out[pos] = int(r, 256);
      return out;
    case 3: {
      const v = INTERESTING_16[int(r, INTERESTING_16.length)]!;
      out[pos] = v & 0xff;
      if (pos + 1 < out.length) out[pos + 1] = v >>> 8;
      return out;
    }
    case 4: {
      const v = INTERESTING_32[int(r, INTERESTING_32.length)]!;
      for (let i = 0; i < 4 && pos + i < out.length; i++) out[pos + i] = (v >>> (8 * i)) & 0xff;
      return out;
    }
    case 5:
      out[0] = int(r, 256);
      return out;
    case 6: {
      // Small arithmetic on a byte.
      out[pos] = (out[pos]! + int(r, 33) - 16) & 0xff;
      return out;
    }
    default:
      break;
  }
  const bs = bounds(b);
  if (bs.length === 0) return cat(b, encodeOp(generateOp(r)));
  const k = int(r, bs.length);
  const [s, e] = bs[k]!;
  switch (int(r, 6)) {
    case 0: // insert a fresh op before op k (or at the end)
      return r() < 0.3 ? cat(b, encodeOp(generateOp(r))) : cat(b.subarray(0, s), encodeOp(generateOp(r)), b.subarray(s));
    case 1: // delete op k
      return bs.length > 1 ? cat(b.subarray(0, s), b.subarray(e)) : cat(b, encodeOp(generateOp(r)));
    case 2: // duplicate op k
      return cat(b.subarray(0, e), b.subarray(s, e), b.subarray(e));
    case 3: {
      // swap op k with another
      const j = int(r, bs.length);
      if (j === k) return cat(b, encodeOp(generateOp(r)));
      const [a0, a1] = bs[Math.min(j, k)]!;
      const [b0, b1] = bs[Math.max(j, k)]!;
      return cat(b.subarray(0, a0), b.subarray(b0, b1), b.subarray(a1, b0), b.subarray(a0, a1), b.subarray(b1));
    }
    case 4: {
      // splice: our ops up to k, then another input's ops from some point
      const other = pool.length ? pool[int(r, pool.length)]! : generateInput(r, 8);
      const ob = bounds(other);
      const from = ob.length ? ob[int(r, ob.length)]![0] : 1;
      return cat(b.subarray(0, e), other.subarray(from));
    }
    default:
      // truncate after op k
      return b.subarray(0, e).slice();
  }
}

/** One to four stacked mutations of `b`, bounded in size. */
export function mutate(r: Rng, b: Uint8Array, pool: readonly Uint8Array[]): Uint8Array {
  let out = b;
  const n = 1 + int(r, 4);
  for (let i = 0; i < n; i++) out = mutateOnce(r, out, pool);
  return out.length > MAX_INPUT_BYTES ? out.slice(0, MAX_INPUT_BYTES) : out;
}
