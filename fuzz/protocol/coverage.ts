// V8 precise block coverage over the vfio-user server's sources (qemu/), as features for a coverage-guided engine.

import { Session } from 'node:inspector';

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: Range[];
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

/** AFL-style hit-count buckets: a block run once, twice, 3 times, 4-7, 8-15, ... are different features. */
function bucket(n: number): number {
  if (n <= 3) return n;
  return 2 + Math.min(30, 31 - Math.clz32(n));
}

/**
 * Collects block coverage of scripts whose URL matches `filter` (the server, the session, DMA
 * windows, IRQ state). Counts reset at every take, so each take covers what ran since the last.
 */
export class CoverageProbe {
  private readonly session = new Session();
  private readonly seen = new Set<string>();
  private started = false;

  constructor(private readonly filter: (url: string) => boolean = (u) => /\/qemu\/[^/]+\.(ts|js)/.test(u) && !u.includes('/guest')) {}

  start(): void {
    this.session.connect();
    // The inspector session runs these synchronously in this thread.
    this.session.post('Profiler.enable');
    this.session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    this.started = true;
    this.take(); // drop what ran before
  }

  /** Coverage since the last take, as feature keys. */
  take(): string[] {
    if (!this.started) return [];
    let result: ScriptCoverage[] = [];
    this.session.post('Profiler.takePreciseCoverage', (err, r) => {
      if (!err) result = (r as unknown as { result: ScriptCoverage[] }).result;
    });
    const out: string[] = [];
    for (const s of result) {
      if (!this.filter(s.url)) continue;
      const file = s.url.slice(s.url.lastIndexOf('/qemu/') + 1);
      for (const f of s.functions) {
        for (const r of f.ranges) if (r.count > 0) out.push(`${file}:${r.startOffset}-${r.endOffset}#${bucket(r.count)}`);
      }
    }
    return out;
  }

  /** Records features; returns how many were new. */
  add(features: string[]): number {
    let n = 0;
    for (const f of features) {
      if (!this.seen.has(f)) {
        this.seen.add(f);
        n++;
      }
    }
    return n;
  }

  get features(): number {
    return this.seen.size;
  }

  /** Distinct blocks reached, whatever their counts. */
  get blocks(): number {
    const b = new Set<string>();
    for (const f of this.seen) b.add(f.slice(0, f.lastIndexOf('#')));
    return b.size;
  }

  stop(): void {
    if (!this.started) return;
    this.session.post('Profiler.stopPreciseCoverage');
    this.session.post('Profiler.disable');
    this.session.disconnect();
    this.started = false;
  }
}
