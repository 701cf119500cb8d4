// The device fuzzer: corpus replay, smoke runs of both engines, determinism, oracles that really fire, minimization.

import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inputBytes, listInputs, loadInput, makeInput } from '../../fuzz/finding.js';
import {
  runDeviceFuzz, replayDevice, minimizeDevice, execute, encode, decode, deviceSeeds, generateInput, DEVICE_CORPUS_DIR,
  startBlockCoverage,
} from '../../fuzz/device/index.js';
import { REG } from '../../device/e1000e/defs.js';
import { mulberry32 } from '../../device/sim/rng.js';

// V8 counts blocks only in code compiled after block coverage is on: turn it on before any
// device code runs in this worker, so the coverage engine's tests see the same instrumentation.
startBlockCoverage();

const corpus = listInputs(DEVICE_CORPUS_DIR);
/**
 * Device bugs the fuzzer found that are reported and not yet fixed, one minimized input each.
 * When a fix lands, its test below fails: move the input into fuzz/corpus/device/ as a
 * regression seed (it must then pass) and delete it here.
 */
const known: { file: string; input: ReturnType<typeof loadInput> }[] = [];
const KNOWN_ORACLES = [...new Set(known.map((k) => k.input.oracle!))];

function corpusInput(name: string) {
  return loadInput(join(DEVICE_CORPUS_DIR, `${name}.json`));
}

// First in the file: the coverage engine, before other tests have run (and compiled) device code.
describe('device fuzz coverage engine', () => {
  it('coverage engine: a 3-second smoke run finds nothing new and reports block coverage', async () => {
    const r = await runDeviceFuzz({ seconds: 3, seed: 1, engine: 'coverage', harness: { skipOracles: KNOWN_ORACLES } });
    console.info(`device fuzz coverage: ${r.execs} execs in ${r.seconds.toFixed(1)} s = ${Math.round(r.execsPerSec)} exec/s, coverage ${JSON.stringify(r.coverage)}`);
    expect(r.findings.map((f) => `${f.oracle}: ${f.message}`)).toEqual([]);
    expect(r.coverage!['blocks']).toBeGreaterThan(300);
    expect(r.coverage!['features']).toBeGreaterThanOrEqual(r.coverage!['blocks']!);
    expect(r.coverage!['files']).toBeGreaterThan(5);
    // The corpus seeds alone add coverage, and the loop keeps inputs that add more.
    expect(r.coverage!['corpus']).toBeGreaterThan(corpus.length);
  });

  it('both engines are deterministic: the same seed and maxExecs give the same executions and findings', async () => {
    for (const engine of ['random', 'coverage'] as const) {
      const run = () => runDeviceFuzz({ seconds: 600, seed: 42, engine, maxExecs: 300 });
      const a = await run();
      const b = await run();
      expect(a.execs).toBe(300);
      expect(b.execs).toBe(a.execs);
      expect(b.findings.map((f) => [f.oracle, f.data])).toEqual(a.findings.map((f) => [f.oracle, f.data]));
      expect(b.extra).toEqual(a.extra); // every decision alike: inputs kept, ops, events, frames
      if (engine === 'coverage') {
        expect(b.coverage!['features']).toBe(a.coverage!['features']);
        expect(b.coverage!['blocks']).toBe(a.coverage!['blocks']);
      }
    }
  });

});

describe('device fuzz corpus', () => {
  it('holds 10 to 30 seeds, all of them the inputs seeds.ts builds (plus the regression inputs of fixed findings)', () => {
    const seeds = corpus.filter((f) => !f.includes('/regression-'));
    expect(seeds.length).toBeGreaterThanOrEqual(10);
    expect(seeds.length).toBeLessThanOrEqual(30);
    const byName = new Map(corpus.map((f) => [f.split('/').pop()!.replace(/\.json$/, ''), loadInput(f)]));
    for (const s of deviceSeeds()) {
      expect(byName.get(s.name)?.data, s.name).toBe(Buffer.from(s.bytes).toString('base64'));
    }
  });

  it.each(corpus.map((f) => [f.split('/').pop()!, f]))('%s passes every oracle', (_name, file) => {
    const r = replayDevice(loadInput(file));
    expect(r, `${r.oracle}: ${r.message}`).toEqual({ ok: true });
  });

  it('seeds do what their names say (traffic flows, alias DMA happens, bad rings fault)', () => {
    const sane = execute(inputBytes(corpusInput('sane-tx-rx-intx')));
    expect(sane.host.sentCount).toBe(2); // the seed's frame and the recovery check's
    const tso = execute(inputBytes(corpusInput('tso-ipv4-tcp')));
    expect(tso.host.sentCount).toBe(1 + Math.ceil((9000 - 54) / 1460));
    expect(execute(inputBytes(corpusInput('tx-ring-in-bar-alias'))).host.aliasAccesses).toBeGreaterThan(0);
    expect(execute(inputBytes(corpusInput('tx-ring-outside-ram-then-fixed'))).host.dmaRefused).toBeGreaterThan(0);
  });
});

describe('fixed device findings are regression seeds in the corpus', () => {
  const regressions = listInputs(new URL('../../fuzz/corpus/device/', import.meta.url).pathname).filter((f) => f.includes('/regression-'));
  it('there are four (reentrancy, intx-level, two irq-mode)', () => expect(regressions.length).toBe(4));
  it.each(regressions.map((f) => [f.split('/').pop()!, f]))('%s replays clean', (_n, f) => {
    const r = replayDevice(loadInput(f));
    expect(r, `${r.oracle}: ${r.message}`).toMatchObject({ ok: true });
  });

  it('the reentrancy input no longer recurses even without the host bound: the device drops its own DMA into its BAR', () => {
    const f = regressions.find((x) => x.includes('reentrancy'))!;
    const r = execute(inputBytes(loadInput(f)), { reentrancyBound: 1_000_000 });
    expect(r.oracle).toBeUndefined();
  });
});

describe('device fuzz oracles fire', () => {
  const sane = () => inputBytes(corpusInput('sane-tx-rx-intx'));

  it('reentrancy: DMA into the BAR alias window with the depth bound at 0', () => {
    const r = execute(inputBytes(corpusInput('tx-ring-in-bar-alias')), { reentrancyBound: 0 });
    expect(r.oracle).toBe('reentrancy');
    expect(r.message).toMatch(/alias DMA read .* nested 1 deep \(bound 0\)/);
  });

  it('icr-asserted: ICR with causes but without bit 31', () => {
    const r = execute(sane(), { testHook: (dev, _h, i) => { if (i === 1) dev.mac[REG.ICR >>> 2] = 0x4; } });
    expect(r.oracle).toBe('icr-asserted');
    expect(r.failedAt).toBe(1);
  });

  it('stats-monotonic: a counter going backwards without a read', () => {
    const r = execute(sane(), { testHook: (dev, _h, i) => { if (i === 3) dev.mac[REG.GPRC >>> 2] = 0; } });
    expect(r.oracle).toBe('stats-monotonic');
  });

  it('ring-head: the device leaving TDH outside the ring', () => {
    const r = execute(sane(), { testHook: (dev, _h, i) => { if (i === 2) dev.mac[REG.TDH0 >>> 2] = 999; } });
    expect(r.oracle).toBe('ring-head');
  });

  it('dma-bounds and dma-fault-accounting: a broken host or a fault the device did not count', () => {
    const a = execute(sane(), { testHook: (_d, h, i) => { if (i === 1) h.dmaWrite(0x100000 as never, { length: 2 ** 40 } as Uint8Array); } });
    expect(a.oracle).toBe('dma-bounds');
    const b = execute(sane(), { testHook: (_d, h, i) => { if (i === 1) h.dmaRefused++; } });
    expect(b.oracle).toBe('dma-fault-accounting');
  });

  /** Packet split as Linux sets it up (PSRCTL 0x04040401), promiscuous, then a 9,014-byte IPv4/TCP frame. */
  const jumboSplit = () =>
    encode(0, [
      { name: 'setup', args: [64 | 1, 2, 32] },
      { name: 'frame', args: [1, 0x8000 | (9014 - 1515), 3 << 3] },
      { name: 'run', args: [0, 100] },
    ]);

  it('dma-outside-buffer: a receive path that writes past the buffer size its descriptor gave', () => {
    expect(execute(jumboSplit()).ok).toBe(true);
    const r = execute(jumboSplit(), {
      testHook: (dev, _h, i) => {
        if (i !== 0) return;
        // Break the device on purpose: every buffer write runs 8 bytes long.
        const rx = dev.rx as unknown as { putBuffer: (a: number, size: number, d: Uint8Array) => number };
        rx.putBuffer = (a, _size, d) => {
          const long = new Uint8Array(d.length + 8);
          long.set(d);
          dev.dmaWrite(a as never, long);
          return d.length;
        };
      },
    });
    expect(r.oracle).toBe('dma-outside-buffer');
    expect(r.message).toMatch(/outside the buffers and descriptor slots/);
  });

  it('random inputs reach packet split and jumbo frames under the bounds oracle (seeded)', async () => {
    const r = await runDeviceFuzz({ seconds: 600, seed: 20261203, engine: 'random', maxExecs: 1500 });
    expect(r.findings.map((f) => `${f.oracle}: ${f.message}`)).toEqual([]);
    expect(r.extra!['psFetches']).toBeGreaterThan(100);
    expect(r.extra!['jumboWrites']).toBeGreaterThan(10);
    expect(r.extra!['boundsChecked']).toBeGreaterThan(1000);
  });

  it('hang: an event budget smaller than a TSO burst needs', () => {
    const r = execute(inputBytes(corpusInput('tso-ipv6-tcp-paced')), { maxEventsPerOp: 5 });
    expect(r.oracle).toBe('hang');
  });

  it('exception: an error thrown inside the device is caught and named', () => {
    const r = execute(sane(), { testHook: (dev, _h, i) => { if (i === 1) (dev as unknown as { rx: { receive: null } }).rx.receive = null; } });
    expect(r.oracle).toBe('exception');
    expect(r.message).toMatch(/TypeError/);
  });

  it('reset-recovery: a device that no longer transmits after reset', () => {
    const r = execute(sane(), { testHook: (_d, h, i) => { if (i === 0) h.sendFrame = () => {}; } });
    expect(r.oracle).toBe('reset-recovery');
  });
});

describe('device fuzz inputs', () => {
  it('decode is total and bounded: any bytes decode to at most 96 ops and execute without escaping', () => {
    const r = mulberry32(9);
    for (let i = 0; i < 200; i++) {
      const b = new Uint8Array(Math.floor(r() * 600)).map(() => Math.floor(r() * 256));
      expect(decode(b).ops.length).toBeLessThanOrEqual(96);
      const res = execute(b, { skipOracles: KNOWN_ORACLES });
      expect(res.oracle === undefined || res.oracle !== 'exception', res.message).toBe(true);
    }
  });

  it('encode and decode agree', () => {
    const r = mulberry32(5);
    for (let i = 0; i < 50; i++) {
      const b = generateInput(r);
      const p = decode(b);
      const again = encode(p.profile, p.ops.map((o) => ({ name: o.name, args: o.args, ...(o.data ? { data: o.data } : {}) })));
      expect(Buffer.from(again).equals(Buffer.from(b))).toBe(true);
    }
  });

  it('minimizeDevice shrinks a finding while the same oracle fails', () => {
    const bytes = inputBytes(corpusInput('tx-ring-in-bar-alias'));
    // Padding the finding with unrelated operations: the minimizer must strip them again.
    const p = decode(bytes);
    const padded = encode(p.profile, [
      { name: 'cfgRead', args: [0x10, 0] }, { name: 'run', args: [3, 0] },
      ...p.ops.map((o) => ({ name: o.name, args: o.args })), { name: 'carrier', args: [1] }, { name: 'run', args: [6, 0] },
    ]);
    const input = makeInput('device', padded, { oracle: 'reentrancy', options: { reentrancyBound: 0 } });
    const m = minimizeDevice(input);
    expect(m.oracle).toBe('reentrancy');
    expect(inputBytes(m).length).toBeLessThan(padded.length);
    expect(replayDevice(m).oracle).toBe('reentrancy');
  });
});

describe('device fuzz engines', () => {
  it('random engine: a 3-second smoke run with a fixed seed finds nothing new', async () => {
    const r = await runDeviceFuzz({ seconds: 3, seed: 1, engine: 'random', harness: { skipOracles: KNOWN_ORACLES } });
    console.info(`device fuzz random: ${r.execs} execs in ${r.seconds.toFixed(1)} s = ${Math.round(r.execsPerSec)} exec/s`);
    expect(r.execs).toBeGreaterThan(corpus.length);
    expect(r.findings.map((f) => `${f.oracle}: ${f.message}`)).toEqual([]);
    expect(r.coverage).toBeNull();
  });

  it('saves findings that replay to the same oracle (reentrancy bound 0: any alias DMA breaks it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'device-fuzz-'));
    try {
      const r = await runDeviceFuzz({ seconds: 60, seed: 3, maxExecs: corpus.length, findingsDir: dir, harness: { reentrancyBound: 0 } });
      const f = r.findings.find((x) => x.oracle === 'reentrancy');
      expect(f).toBeDefined();
      expect(r.findingFiles.length).toBe(r.findings.length);
      for (const file of r.findingFiles) {
        const saved = loadInput(file);
        expect(saved.options?.['reentrancyBound']).toBe(0);
        const rr = replayDevice(saved);
        expect(rr.oracle).toBe(saved.oracle);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
