// A hostile stream peer: random records and random bytes, cut anywhere, never confuse the deframer.
import { describe, it, expect } from 'vitest';
import { StreamDeframer, encodeStreamFrame } from '../../wire/socket.js';
import { mulberry32 } from '../../device/sim/rng.js';

/** Feeds `stream` in random cuts; returns the frames and the first bad length (if any). */
function feed(stream: Uint8Array, rnd: () => number, max: number): { frames: Uint8Array[]; bad: number | undefined; consumedAll: boolean } {
  const d = new StreamDeframer(max);
  const frames: Uint8Array[] = [];
  let off = 0;
  while (off < stream.length) {
    const n = 1 + Math.floor(rnd() * Math.min(5000, stream.length - off));
    const bad = d.push(stream.subarray(off, off + n), (f) => void frames.push(f));
    off += n;
    if (bad !== undefined) return { frames, bad, consumedAll: false };
  }
  return { frames, bad: undefined, consumedAll: d.partial === 0 };
}

describe('stream deframer against a hostile peer', () => {
  it('valid records cut at random points always come out whole, in order, the same for every cut', () => {
    const rnd = mulberry32(7);
    for (let round = 0; round < 60; round++) {
      const frames = Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => Uint8Array.from({ length: 1 + Math.floor(rnd() * 1500) }, () => Math.floor(rnd() * 256)));
      const stream = Buffer.concat(frames.map((f) => encodeStreamFrame(f)));
      const a = feed(stream, rnd, 4096);
      const b = feed(stream, mulberry32(round), 4096);
      expect(a.bad).toBeUndefined();
      expect(a.consumedAll).toBe(true);
      expect(a.frames).toEqual(frames);
      expect(b.frames).toEqual(frames);
    }
  });

  it('random bytes: never throws, every frame is 1..max bytes, and a bad length stops it at once', () => {
    const rnd = mulberry32(11);
    let bad = 0;
    let frames = 0;
    for (let round = 0; round < 2000; round++) {
      const max = 1 + Math.floor(rnd() * 2000);
      // Valid records with garbage between them: frames come out until the garbage breaks the framing.
      const parts: Uint8Array[] = [];
      for (let k = 0, n = 1 + Math.floor(rnd() * 8); k < n; k++) {
        parts.push(rnd() < 0.7
          ? encodeStreamFrame(Uint8Array.from({ length: 1 + Math.floor(rnd() * max) }, () => Math.floor(rnd() * 256)))
          : Uint8Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
      }
      const stream = Buffer.concat(parts);
      const r = feed(stream, rnd, max);
      for (const f of r.frames) {
        expect(f.length).toBeGreaterThanOrEqual(1);
        expect(f.length).toBeLessThanOrEqual(max);
      }
      frames += r.frames.length;
      if (r.bad !== undefined) {
        bad++;
        expect(r.bad === 0 || r.bad > max).toBe(true);
      }
    }
    // Both outcomes happen: the test exercises the frame path and the error path.
    expect(bad).toBeGreaterThan(100);
    expect(frames).toBeGreaterThan(100);
  });
});
