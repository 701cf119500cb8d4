// Driver fuzzing: a hostile 82574L against our e1000e (in-process, virtual time) or the guest's Linux e1000e (QEMU).

import { makeInput, inputBytes, saveInput, type FuzzInput, type FuzzReport, type ReplayResult } from '../finding.js';
import { mulberry32 } from '../../device/sim/rng.js';
import { runScenario, type DriverRunResult } from './inprocess.js';
import { decodeScenario, encodeScenario, randomScenario, describeScenario, type Scenario } from './scenario.js';

export { decodeScenario, encodeScenario, describeScenario, type Scenario, type FaultSpec, FaultKind, FAULT_NAMES } from './scenario.js';
export { runScenario, type DriverRunResult } from './inprocess.js';
export { FaultLayer, type FaultLower } from './faults.js';

export interface DriverFuzzOptions {
  seconds: number;
  seed: number;
  /** Against the guest's Linux e1000e under QEMU (oracle: the guest console). */
  guest?: boolean;
  maxExecs?: number;
  findingsDir?: string;
  log?: (l: string) => void;
  /**
   * In-process: our driver without its recovery beyond Linux 6.1's e1000e (`recoveryBeyondLinux`
   * off), so the run finds what Linux's driver would suffer, deterministically.
   */
  linuxExact?: boolean;
}

/** Runs one in-process input (seed + bytes) to its result. */
export function runDriverInput(input: FuzzInput): DriverRunResult {
  return runScenario(decodeScenario(inputBytes(input)), input.seed ?? 0, { linuxExact: input.options?.['linuxExact'] === true });
}

function add(into: Record<string, number>, from: Record<string, number>, prefix = ''): void {
  for (const [k, v] of Object.entries(from)) into[prefix + k] = (into[prefix + k] ?? 0) + v;
}

/**
 * Fuzzes for `seconds` (or `maxExecs` scenarios). Each exec is one fault scenario: a random
 * schedule of faults (seeded by `seed` and the exec number) run to its oracles. Findings are
 * minimized and saved under findingsDir; `extra` counts faults injected by kind.
 */
export async function runDriverFuzz(o: DriverFuzzOptions): Promise<FuzzReport> {
  if (o.guest) {
    const { runGuestDriverFuzz } = await import('./guest.js');
    return runGuestDriverFuzz(o);
  }
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const rnd = mulberry32(o.seed >>> 0);
  const findings: FuzzInput[] = [];
  const findingFiles: string[] = [];
  const extra: Record<string, number> = {};
  const seen = new Set<string>();
  let execs = 0;
  while ((performance.now() - t0) / 1000 < o.seconds && (o.maxExecs === undefined || execs < o.maxExecs)) {
    const scenario = randomScenario(rnd);
    const seed = Math.floor(rnd() * 0x1_0000_0000);
    const r = runScenario(scenario, seed, { linuxExact: o.linuxExact });
    execs++;
    add(extra, r.injected, 'injected.');
    add(extra, r.notes, 'note.');
    if (r.ok) continue;
    // One finding per shape (oracle, direction, driver state).
    const key = r.signature ?? String(r.oracle);
    extra[`oracle.${r.oracle}`] = (extra[`oracle.${r.oracle}`] ?? 0) + 1;
    if (seen.has(key)) continue;
    seen.add(key);
    let input = makeInput('driver', encodeScenario(scenario), { seed, oracle: r.oracle, message: r.message, options: o.linuxExact ? { guest: false, linuxExact: true } : { guest: false } });
    log(`driver fuzz: ${r.oracle}: ${r.message}\n  scenario: ${describeScenario(scenario)} seed=${seed}`);
    input = minimizeDriver(input);
    log(`  minimized: ${describeScenario(decodeScenario(inputBytes(input)))}`);
    findings.push(input);
    if (o.findingsDir) findingFiles.push(saveInput(o.findingsDir, input));
  }
  const seconds = (performance.now() - t0) / 1000;
  extra['findings'] = findings.length;
  return { kind: 'driver', engine: 'fault-injection', execs, seconds, execsPerSec: execs / seconds, coverage: null, findings, findingFiles, extra };
}

/** Replays a saved input: in-process deterministically, or (options.guest) one guest session with the same schedule. */
export async function replayDriver(input: FuzzInput): Promise<ReplayResult> {
  if (input.options?.['guest']) {
    const { replayGuestDriver } = await import('./guest.js');
    return replayGuestDriver(input);
  }
  const r = runDriverInput(input);
  return r.ok ? { ok: true } : { ok: false, oracle: r.oracle, message: r.message };
}

/**
 * Shrinks an in-process finding's fault set while the same oracle still fails: drops faults,
 * then shortens windows, lowers rates and the fault phase. Guest inputs are returned as they
 * are (one replay takes minutes and is not deterministic).
 */
export function minimizeDriver(input: FuzzInput): FuzzInput {
  if (input.options?.['guest'] || !input.oracle) return input;
  const seed = input.seed ?? 0;
  const linuxExact = input.options?.['linuxExact'] === true;
  // The same shape must persist (oracle, and for stuck queues the direction and driver state),
  // so shrinking cannot wander off to a different bug with the same oracle name.
  let want: string | undefined;
  const fails = (s: Scenario): DriverRunResult | null => {
    const r = runScenario(s, seed, { linuxExact });
    return !r.ok && r.oracle === input.oracle && (want === undefined || r.signature === want) ? r : null;
  };
  let best = decodeScenario(inputBytes(input));
  let bestRun = fails(best);
  if (!bestRun) return input;
  want = bestRun.signature;
  const tryIt = (s: Scenario): boolean => {
    const r = fails(s);
    if (r) {
      best = s;
      bestRun = r;
    }
    return r !== null;
  };
  // Drop faults one at a time until none can go.
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < best.faults.length && best.faults.length > 1; i++) {
      if (tryIt({ ...best, faults: best.faults.filter((_, j) => j !== i) })) {
        changed = true;
        i--;
      }
    }
  }
  // Shorter windows, lower rates, and a shorter phase, each kept only if it still fails.
  for (let i = 0; i < best.faults.length; i++) {
    for (const shrink of [
      (f: Scenario['faults'][number]) => ({ ...f, durMs: Math.max(1, Math.floor(f.durMs / 2)) }),
      (f: Scenario['faults'][number]) => ({ ...f, startMs: 0 }),
      (f: Scenario['faults'][number]) => ({ ...f, rate: Math.floor(f.rate / 2) }),
    ]) {
      for (let k = 0; k < 6; k++) {
        const f = best.faults[i]!;
        const g = shrink(f);
        if (JSON.stringify(g) === JSON.stringify(f)) break;
        if (!tryIt({ ...best, faults: best.faults.map((x, j) => (j === i ? g : x)) })) break;
      }
    }
  }
  const end = Math.max(...best.faults.map((f) => f.startMs + f.durMs));
  if (end < best.phaseMs) tryIt({ ...best, phaseMs: Math.max(100, Math.ceil(end / 100) * 100) });
  if (best.intMode !== 2) tryIt({ ...best, intMode: 2 });
  const r: DriverRunResult = bestRun;
  return makeInput('driver', encodeScenario(best), { seed, oracle: r.oracle, message: r.message, options: { ...(input.options ?? {}), guest: false }, created: input.created });
}
