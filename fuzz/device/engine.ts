// Device fuzzing loops: seeded random (corpus mutations + fresh inputs) and coverage-guided (V8 block coverage keeps inputs that add features).

import { join } from 'node:path';
import { mulberry32 } from '../../device/sim/rng.js';
import { CORPUS_DIR, inputBytes, listInputs, loadInput, makeInput, saveInput, type FuzzInput, type FuzzReport } from '../finding.js';
import { execute, type HarnessOptions } from './exec.js';
import { generateInput } from './ops.js';
import { mutate } from './mutate.js';
import { minimizeBytes, failureSignature } from './minimize.js';
import { PreciseCoverage } from './coverage.js';

/** Options of runDeviceFuzz. */
export interface DeviceFuzzOptions {
  seconds: number;
  seed: number;
  engine?: 'random' | 'coverage';
  /** Stop after this many executions (with a generous `seconds`, a run is then deterministic). */
  maxExecs?: number;
  /** Where findings are saved (nothing is written without it). */
  findingsDir?: string;
  /** Seed inputs (default: fuzz/corpus/device/). */
  corpusDir?: string;
  log?: (l: string) => void;
  /** Harness limits (reentrancy bound, event budgets). */
  harness?: HarnessOptions;
  /** Keep at most this many distinct findings (default 16). */
  maxFindings?: number;
}

/** The device corpus kept in the repository. */
export const DEVICE_CORPUS_DIR = join(CORPUS_DIR, 'device');

function loadCorpus(dir: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of listInputs(dir)) {
    try {
      const i = loadInput(f);
      if (i.kind === 'device') out.push(inputBytes(i));
    } catch {
      // Not an input: ignored, as a fuzzer should ignore junk in its corpus folder.
    }
  }
  return out;
}

/** Runs the device fuzzer for `seconds` (or `maxExecs` executions) and reports what it did and found. */
export async function runDeviceFuzz(o: DeviceFuzzOptions): Promise<FuzzReport> {
  const engine = o.engine ?? 'random';
  const log = o.log ?? (() => {});
  const rng = mulberry32(o.seed);
  const hopts = o.harness ?? {};
  const corpus = loadCorpus(o.corpusDir ?? DEVICE_CORPUS_DIR);
  const maxExecs = o.maxExecs ?? Infinity;
  const maxFindings = o.maxFindings ?? 16;
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;
  const cov = engine === 'coverage' ? new PreciseCoverage() : null;
  const features = new Set<number>();
  const pool: Uint8Array[] = corpus.slice();
  const findings: FuzzInput[] = [];
  const findingFiles: string[] = [];
  const seen = new Set<string>();
  let execs = 0;
  let failing = 0;
  let events = 0;
  let ops = 0;
  let kept = 0;
  let aliasDma = 0;
  let framesSent = 0;
  let dmaRefused = 0;
  let boundsChecked = 0;
  let psFetches = 0;
  let jumboWrites = 0;

  const found = (bytes: Uint8Array, oracle: string, message: string): void => {
    const sig = `${failureSignature({ oracle, message })}|${oracle === 'exception' ? '' : message.replace(/0x[0-9a-f]+|\d+/gi, 'N').replace(/\(in op N \w+\)|\(in [^)]*\)/, '')}`;
    if (seen.has(sig) || findings.length >= maxFindings) return;
    seen.add(sig);
    const small = minimizeBytes(bytes, hopts, 1500);
    const r = execute(small, hopts);
    // Saved findings must replay to the same oracle.
    const use = !r.ok && r.oracle === oracle ? small : bytes;
    const rr = use === small ? r : execute(bytes, hopts);
    const input = makeInput('device', use, {
      seed: o.seed,
      oracle: rr.oracle ?? oracle,
      message: rr.message ?? message,
      options: { engine, ...(hopts.reentrancyBound !== undefined ? { reentrancyBound: hopts.reentrancyBound } : {}) },
    });
    findings.push(input);
    if (o.findingsDir) findingFiles.push(saveInput(o.findingsDir, input));
    log(`finding ${findings.length}: ${input.oracle}: ${input.message} (${bytes.length} -> ${use.length} bytes)`);
    cov?.discard(); // minimization's coverage is not this execution's
  };

  const runOne = (bytes: Uint8Array): void => {
    const r = execute(bytes, hopts);
    execs++;
    events += r.events;
    ops += r.ops;
    aliasDma += r.host.aliasAccesses;
    framesSent += r.host.sentCount;
    dmaRefused += r.host.dmaRefused;
    boundsChecked += r.host.boundsChecked;
    psFetches += r.host.psFetches;
    jumboWrites += r.host.jumboWrites;
    let novel = false;
    if (cov) {
      for (const f of cov.take()) {
        if (!features.has(f)) {
          features.add(f);
          novel = true;
        }
      }
    }
    if (!r.ok) {
      failing++;
      found(bytes, r.oracle!, r.message ?? '');
    } else if (novel && cov) {
      pool.push(bytes);
      kept++;
    }
  };

  cov?.start();
  try {
    for (const c of corpus) {
      if (execs >= maxExecs) break;
      runOne(c);
    }
    let lastLog = performance.now();
    while (execs < maxExecs && performance.now() < deadline) {
      let input: Uint8Array;
      if (cov) {
        // Favour recent discoveries: they sit at the frontier of what is covered.
        const pick = pool.length === 0 ? -1 : rng() < 0.5 ? pool.length - 1 - Math.floor(rng() * Math.min(pool.length, 16)) : Math.floor(rng() * pool.length);
        input = pick >= 0 && rng() < 0.9 ? mutate(rng, pool[pick]!, pool) : generateInput(rng);
      } else {
        input = pool.length > 0 && rng() < 0.5 ? mutate(rng, pool[Math.floor(rng() * pool.length)]!, pool) : generateInput(rng);
      }
      runOne(input);
      if (execs % 256 === 0) {
        await new Promise<void>((res) => setImmediate(res));
        const now = performance.now();
        if (now - lastLog > 5000) {
          lastLog = now;
          log(`${execs} execs, ${Math.round(execs / ((now - t0) / 1000))}/s${cov ? `, ${cov.blocksHit.size} blocks, ${features.size} features, corpus ${pool.length}` : ''}, findings ${findings.length}`);
        }
      }
    }
  } finally {
    cov?.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    kind: 'device',
    engine: engine === 'coverage' ? 'coverage (V8 precise block coverage)' : 'random (seeded mulberry32)',
    execs,
    seconds,
    execsPerSec: execs / Math.max(seconds, 1e-9),
    coverage: cov
      ? { features: features.size, blocks: cov.blocksHit.size, blocksReported: cov.blocksKnown.size, functions: cov.functionsHit.size, files: cov.files, corpus: pool.length }
      : null,
    findings,
    findingFiles,
    extra: { corpusSeeds: corpus.length, kept, failingExecs: failing, ops, events, aliasDma, framesSent, dmaRefused, boundsChecked, psFetches, jumboWrites },
  };
}
