// Typed trace points (`area_event`), off by default, switched on by pattern.

/** A trace record: a point name like `e1000e_reg_write` and its fields. */
export interface TraceRecord {
  readonly time: number;
  readonly point: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Consumers decide cheaply whether a point is on before any record is built. */
export interface TraceSink {
  enabled(point: string): boolean;
  emit(point: string, fields: Record<string, unknown>): void;
}

/** A sink that drops everything: the default. */
export const NULL_TRACE: TraceSink = {
  enabled: () => false,
  emit: () => {},
};

/** A trace sink that forwards to one chosen later (a backend opened before its NIC's sink exists). */
export class ForwardingTrace implements TraceSink {
  target: TraceSink = NULL_TRACE;
  enabled(point: string): boolean {
    return this.target.enabled(point);
  }
  emit(point: string, fields: Record<string, unknown>): void {
    this.target.emit(point, fields);
  }
}

/** Converts a pattern list like `e1000e_tx_*,pci_*` to a matcher. `*` matches any run of characters. */
export function tracePatternMatcher(patterns: string): (point: string) => boolean {
  const parts = patterns
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (parts.length === 0) return () => false;
  const res = parts.map(
    (p) => new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$'),
  );
  return (point) => res.some((r) => r.test(point));
}

/** A sink switched on by pattern, caching the verdict per point name so enabled() stays cheap. */
abstract class PatternTrace implements TraceSink {
  private readonly cache = new Map<string, boolean>();
  private readonly match: (point: string) => boolean;

  constructor(patterns: string) {
    this.match = tracePatternMatcher(patterns);
  }

  enabled(point: string): boolean {
    let v = this.cache.get(point);
    if (v === undefined) {
      v = this.match(point);
      this.cache.set(point, v);
    }
    return v;
  }

  abstract emit(point: string, fields: Record<string, unknown>): void;
}

/** A sink that keeps records in memory (tests, the fuzzers' oracles) and optionally forwards them. */
export class RecordingTrace extends PatternTrace {
  readonly records: TraceRecord[] = [];

  constructor(
    patterns: string,
    private readonly clock: () => number = () => 0,
    private readonly limit = 1_000_000,
    private readonly forward?: (r: TraceRecord) => void,
  ) {
    super(patterns);
  }

  emit(point: string, fields: Record<string, unknown>): void {
    if (!this.enabled(point)) return;
    const r: TraceRecord = { time: this.clock(), point, fields };
    if (this.records.length < this.limit) this.records.push(r);
    this.forward?.(r);
  }

  /** Records whose point name matches a pattern. */
  find(pattern: string): TraceRecord[] {
    const m = tracePatternMatcher(pattern);
    return this.records.filter((r) => m(r.point));
  }

  clear(): void {
    this.records.length = 0;
  }
}

/** Keeps the last `size` matching records (the server trace tail shown when a boot fails). */
export class RingTrace extends PatternTrace {
  private readonly buf: (TraceRecord | undefined)[];
  private next = 0;
  private total = 0;

  constructor(
    patterns: string,
    private readonly clock: () => number,
    readonly size = 200,
    private readonly forward?: (r: TraceRecord) => void,
  ) {
    super(patterns);
    this.buf = new Array(size);
  }

  emit(point: string, fields: Record<string, unknown>): void {
    if (!this.enabled(point)) return;
    const r = { time: this.clock(), point, fields };
    this.buf[this.next] = r;
    this.next = (this.next + 1) % this.size;
    this.total++;
    this.forward?.(r);
  }

  /** Records oldest first. */
  tail(): TraceRecord[] {
    const out: TraceRecord[] = [];
    for (let i = 0; i < this.size; i++) {
      const r = this.buf[(this.next + i) % this.size];
      if (r) out.push(r);
    }
    return out;
  }

  get count(): number {
    return this.total;
  }
}

/** One line per record: time in ms, point, fields. */
export function formatTrace(r: TraceRecord): string {
  return `${(r.time / 1e6).toFixed(3)}ms ${r.point} ${JSON.stringify(r.fields, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`;
}
