// The timing model's figures are deterministic (virtual time), so they are checked exactly like functions.
import { describe, it, expect } from 'vitest';
import { measureTx, measureRx, measureLatency, runInterruptModeration, lineRatePps } from '../../bench/modeled.js';
import { ZERO_TIMING } from '../../device/sim/timing.js';

const W = { windowNs: 3e6 };

describe('modeled throughput', () => {
  it('computes the line rate the reference numbers give', () => {
    expect(Math.round(lineRatePps(64, 1000))).toBe(1_488_095);
    expect(Math.round(lineRatePps(1518, 1000))).toBe(81_274);
    expect(Math.round(lineRatePps(64, 10_000))).toBe(14_880_952);
    expect(Math.round(lineRatePps(1518, 10_000))).toBe(812_744);
  });

  for (const size of [64, 1518]) {
    it(`reaches 1 GbE line rate within 1% for ${size}-byte frames, TX and RX`, () => {
      for (const r of [measureTx(size, W), measureRx(size, W)]) {
        expect(Math.abs(r.ratio - 1)).toBeLessThan(0.01);
        expect(r.lineRatePps).toBeCloseTo(lineRatePps(size, 1000), 3);
      }
    });
    it(`scales to 10 GbE line rate within 1% for ${size}-byte frames (4096-descriptor rings)`, () => {
      const o = { ...W, linkMbps: 10_000, params: { txRingSize: 4096, rxRingSize: 4096 } };
      for (const r of [measureTx(size, o), measureRx(size, o)]) expect(Math.abs(r.ratio - 1)).toBeLessThan(0.01);
    });
  }

  it('with 256-descriptor rings at 10 GbE, 64-byte TX is bounded by TX cleaning at the 50 us EITR interval', () => {
    const r = measureTx(64, { ...W, linkMbps: 10_000 });
    // 256 descriptors reclaimed per 51.2 us of EITR interval: about 5 Mpps.
    expect(r.pps).toBeLessThan(256 / 51.2e-6 * 1.05);
    expect(r.pps).toBeGreaterThan(256 / 51.2e-6 * 0.85);
  });

  it('has a light-load latency that is the sum of the modeled delays, and zero-timing latency of just the wire', () => {
    const l = measureLatency(64, { latencyFrames: 50 });
    expect(l.p50).toBe(250 + 500 + 500 + 672 + 250); // MMIO, descriptor fetch, data read, serialization, write-back
    const z = measureLatency(64, { latencyFrames: 50, timing: { ...ZERO_TIMING, autonegNs: 1e6 } });
    expect(z.p50).toBe(0);
  });
});

describe('interrupt moderation under full load', () => {
  it('EITR at 20000/s holds RX interrupts to at most 20,000 per second (within 2%); with throttling off, one per completion batch', () => {
    const [fixed, off] = runInterruptModeration(W);
    expect(fixed!.rxInterruptsPerSec).toBeLessThanOrEqual(20_000 * 1.02);
    expect(fixed!.rxInterruptsPerSec).toBeGreaterThan(20_000 * 0.98);
    expect(off!.rxInterruptsPerSec).toBeGreaterThan(20_000 * 10);
    expect(Math.abs(off!.rxInterruptsPerSec - off!.napiCompletionsPerSec) / off!.napiCompletionsPerSec).toBeLessThan(0.01);
  });
});
