// Coverage feedback from V8's precise block coverage (node:inspector Profiler.takePreciseCoverage), counted over the device model's files.

import { Session } from 'node:inspector';

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: CoverageRange[];
  isBlockCoverage: boolean;
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

/** Which scripts count: the device model (device/), compiled or not, and nothing else. */
export function isDeviceScript(url: string): boolean {
  return /\/device\/(e1000e\/|pci\/|sim\/)?[\w.-]+\.(ts|js)$/.test(url) && !/node_modules|\/test\/|\/fuzz\//.test(url);
}

/** libFuzzer-style hit-count buckets: a block hit 1, 2, 3, 4-7, ... times is a different feature. */
function bucket(n: number): number {
  return n < 4 ? n - 1 : n < 8 ? 3 : n < 16 ? 4 : n < 32 ? 5 : n < 128 ? 6 : 7;
}

/**
 * The process's one inspector session with precise block coverage on. V8 instruments a function
 * for block counts only when it is compiled while block coverage is on, and stopping coverage
 * drops the counters for good (code compiled meanwhile never gets them back). So the session is
 * started once, as early as possible, and left on for the life of the process: every run after
 * the first sees the same instrumentation, which keeps coverage-guided runs reproducible.
 */
let shared: Session | null = null;
/** Script URL -> small index, shared so feature numbers mean the same block in every run of the process. */
const urls = new Map<string, number>();

function post<T>(session: Session, method: string, params?: object): T {
  let result: T | undefined;
  let error: Error | null = null;
  let done = false;
  session.post(method, params ?? {}, (err, res) => {
    error = err;
    result = res as T;
    done = true;
  });
  // The in-thread inspector session dispatches synchronously.
  if (!done) throw new Error(`inspector: ${method} did not complete synchronously`);
  if (error) throw error;
  return result as T;
}

/** Turns on precise block coverage for this process (idempotent). Call it before device code runs. */
export function startBlockCoverage(): Session {
  if (!shared) {
    const s = new Session();
    s.connect();
    post(s, 'Profiler.enable');
    post(s, 'Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    shared = s;
  }
  return shared;
}

/**
 * Collects block coverage of the device model per execution. `take()` returns the features
 * (block x hit-count bucket) executed since the previous call; V8 resets the counters on each
 * take, so each call sees exactly one execution's coverage.
 */
export class PreciseCoverage {
  private session: Session | null = null;
  /** Blocks (instrumented functions and the blocks inside them) seen executed, every range V8 reported, functions seen executed. */
  readonly blocksHit = new Set<number>();
  readonly blocksKnown = new Set<number>();
  readonly functionsHit = new Set<number>();

  constructor(private readonly filter: (url: string) => boolean = isDeviceScript) {}

  start(): void {
    this.session = startBlockCoverage();
    this.discard();
  }

  /** Drops what ran since the last take (code that is not one of this collector's executions). */
  discard(): void {
    if (!this.session) throw new Error('coverage: discard() before start()');
    post(this.session, 'Profiler.takePreciseCoverage');
  }

  /** Ends this collector's use of the session (which stays on: see startBlockCoverage). */
  stop(): void {
    this.session = null;
  }

  /** Features executed since the last call (numbers: block key x 8 + hit-count bucket). */
  take(): number[] {
    if (!this.session) throw new Error('coverage: take() before start()');
    const { result } = post<{ result: ScriptCoverage[] }>(this.session, 'Profiler.takePreciseCoverage');
    const out: number[] = [];
    for (const s of result) {
      if (!this.filter(s.url)) continue;
      let u = urls.get(s.url);
      if (u === undefined) urls.set(s.url, (u = urls.size));
      for (const fn of s.functions) {
        for (let i = 0; i < fn.ranges.length; i++) {
          const r = fn.ranges[i]!;
          const key = (u * 1_000_003 + r.startOffset) * 1_000_003 + r.endOffset;
          this.blocksKnown.add(key);
          if (r.count <= 0) continue;
          if (i > 0) {
            this.blocksHit.add(key);
            out.push(key * 8 + bucket(r.count));
          } else {
            this.functionsHit.add(key);
            // Code compiled before coverage started (at import) reports only its function range,
            // and its count stops once V8 inlines it: such ranges would make runs differ, so a
            // function counts (as a feature and a block) only when it reports blocks, i.e. it is
            // instrumented.
            if (fn.ranges.length > 1) {
              this.blocksHit.add(key);
              out.push(key * 8);
            }
          }
        }
      }
    }
    return out;
  }

  /** Files of the device model V8 has reported. */
  get files(): number {
    return urls.size;
  }
}
