// Fuzz inputs and findings as files: one JSON format for all three fuzzers, replayable with `nicsim fuzz replay`.

import { mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export type FuzzKind = 'device' | 'protocol' | 'driver';

/** A saved input: what a fuzzer ran, and (for findings) which oracle it broke. */
export interface FuzzInput {
  format: 'nicsim-fuzz-1';
  kind: FuzzKind;
  /** The input's bytes (base64). Each fuzzer decodes its own bytes deterministically. */
  data: string;
  /** The seed of the run that produced it (driver fuzzing replays from seed + data). */
  seed?: number;
  /** Set on findings: the oracle that failed and its message. */
  oracle?: string;
  message?: string;
  /** Fuzzer-specific settings needed to replay (e.g. the guest flag). */
  options?: Record<string, unknown>;
  created?: string;
}

/** What every fuzzer returns from a run. */
export interface FuzzReport {
  kind: FuzzKind;
  engine: string;
  execs: number;
  seconds: number;
  execsPerSec: number;
  /** Coverage as the engine reports it (edges, features), or null when it gives none. */
  coverage: Record<string, number> | null;
  findings: FuzzInput[];
  /** Files written for the findings. */
  findingFiles: string[];
  /** Anything else the fuzzer wants printed (messages sent, faults injected, ...). */
  extra?: Record<string, number>;
}

/** What replaying an input found. */
export interface ReplayResult {
  ok: boolean;
  oracle?: string;
  message?: string;
}

export function makeInput(kind: FuzzKind, data: Uint8Array, extra: Partial<FuzzInput> = {}): FuzzInput {
  return { format: 'nicsim-fuzz-1', kind, data: Buffer.from(data).toString('base64'), created: new Date().toISOString(), ...extra };
}

export function inputBytes(i: FuzzInput): Uint8Array {
  return new Uint8Array(Buffer.from(i.data, 'base64'));
}

export function loadInput(path: string): FuzzInput {
  const j = JSON.parse(readFileSync(path, 'utf8')) as FuzzInput;
  if (j.format !== 'nicsim-fuzz-1' || !['device', 'protocol', 'driver'].includes(j.kind) || typeof j.data !== 'string') {
    throw new Error(`${path}: not a nicsim fuzz input`);
  }
  return j;
}

/** Saves under dir with a content-derived name (the same input is saved once). */
export function saveInput(dir: string, i: FuzzInput): string {
  mkdirSync(dir, { recursive: true });
  const h = createHash('sha256').update(i.kind).update(i.data).update(String(i.seed ?? '')).digest('hex').slice(0, 16);
  const path = join(dir, `${i.kind}-${i.oracle ? 'finding' : 'input'}-${h}.json`);
  writeFileSync(path, JSON.stringify(i, null, 2) + '\n');
  return path;
}

export function listInputs(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** The corpus kept in the repository, replayed by the tests. */
export const CORPUS_DIR = new URL(import.meta.url.includes('/dist/') ? '../../fuzz/corpus/' : './corpus/', import.meta.url).pathname;
