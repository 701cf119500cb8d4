// The device fuzzer's public surface: run, replay and minimize (a hostile driver against the 82574L model).

import { inputBytes, makeInput, type FuzzInput, type ReplayResult } from '../finding.js';
import { execute, type HarnessOptions } from './exec.js';
import { minimizeBytes } from './minimize.js';

export { runDeviceFuzz, DEVICE_CORPUS_DIR, type DeviceFuzzOptions } from './engine.js';
export { execute, PROFILES, type HarnessOptions, type ExecResult } from './exec.js';
export { decode, encode, generateInput, type OpSource, type OpName } from './ops.js';
export { deviceSeeds } from './seeds.js';
export { startBlockCoverage, PreciseCoverage } from './coverage.js';
export { FuzzHost, RAM_BASE, RAM_SIZE, ALIAS_BASE, ALIAS_SIZE } from './host.js';

/** Harness options a saved input carries (e.g. a reentrancy bound it was found with). */
function harnessOptions(input: FuzzInput): HarnessOptions {
  const o = input.options ?? {};
  const h: HarnessOptions = {};
  if (typeof o['reentrancyBound'] === 'number') h.reentrancyBound = o['reentrancyBound'];
  return h;
}

/** Replays a saved device input; deterministic. */
export function replayDevice(input: FuzzInput): ReplayResult {
  const r = execute(inputBytes(input), harnessOptions(input));
  return r.ok ? { ok: true } : { ok: false, oracle: r.oracle!, message: r.message! };
}

/** Shrinks a failing input while the same oracle still fails (a passing input comes back unchanged). */
export function minimizeDevice(input: FuzzInput): FuzzInput {
  const opts = harnessOptions(input);
  const small = minimizeBytes(inputBytes(input), opts);
  const r = execute(small, opts);
  return makeInput('device', small, {
    ...(input.seed !== undefined ? { seed: input.seed } : {}),
    ...(r.ok ? {} : { oracle: r.oracle!, message: r.message! }),
    ...(input.options ? { options: input.options } : {}),
  });
}
